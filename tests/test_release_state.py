"""roles/release/files/release-state: what root is told about a site, and
what it refuses to pass on from the deploy user's files."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "roles" / "release" / "files" / "release-state"
V1, V2, V3 = ("a1" * 20, "b2" * 20, "c3" * 20)


@pytest.fixture
def site(tmp_path):
    """A site root with releases v1 (complete) and v2 (complete, serving,
    v1 previous), and root's journal directory beside it."""
    root = tmp_path / "site"
    for name in (V1, V2):
        (root / "releases" / name).mkdir(parents=True)
        (root / "releases" / name / "REVISION").write_text(name + "\n")
    (root / "current").symlink_to(root / "releases" / V2)
    (root / "previous").symlink_to(root / "releases" / V1)
    journals = tmp_path / "journals"
    journals.mkdir(mode=0o755)
    return root, journals / "site.journal"


def state(root, journal, target, *extra):
    result = subprocess.run([str(TOOL), str(root), str(journal), target, *extra], capture_output=True, text=True)
    return result.returncode, (json.loads(result.stdout) if result.returncode == 0 else result.stderr)


def test_reports_the_serving_previous_and_target_releases(site):
    root, journal = site
    rc, found = state(root, journal, "previous")
    assert rc == 0, found
    assert found == {"serving": f"{root}/releases/{V2}", "previous": f"{root}/releases/{V1}",
                     "dir": f"{root}/releases/{V1}", "complete": True, "failed": False, "unfinished": None}
    (root / "releases" / V3).mkdir()
    (root / "releases" / V3 / "FAILED").write_text("failed\n")
    rc, found = state(root, journal, V3)
    assert (found["dir"], found["complete"], found["failed"]) == (f"{root}/releases/{V3}", False, True)


def test_a_first_deploy_has_no_serving_release(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    rc, found = state(root, tmp_path / "j", V1, "--begin")
    assert rc == 0, found
    assert (found["serving"], found["previous"], found["complete"]) == ("", "", False)
    assert json.loads((tmp_path / "j").read_text())["from"] == ""


def test_begin_writes_the_journal_once(site):
    root, journal = site
    rc, found = state(root, journal, V3, "--begin")
    assert rc == 0 and found["unfinished"] is None
    written = json.loads(journal.read_text())
    assert (written["from"], written["to"]) == (f"{root}/releases/{V2}", f"{root}/releases/{V3}")
    assert journal.stat().st_mode & 0o777 == 0o644
    rc, found = state(root, journal, V1, "--begin")
    assert found["unfinished"] == written
    assert json.loads(journal.read_text()) == written


def test_no_journal_for_a_run_that_stays_on_the_serving_release(site):
    root, journal = site
    rc, found = state(root, journal, V2, "--begin")
    assert rc == 0 and not journal.exists()


PLANTED = [
    # A quote and a space: a second unit name for systemctl.
    "{root}/releases/" + V1 + "' nginx.service '",
    "{root}/releases/x y",
    "/etc",
    "releases/" + V1,
    "{root}/releases/../../../etc/" + V1,
    "{root}/releases/" + V1.upper(),
    "{root}/releases/" + V1[:12],
    "{root}/shared/" + V1,
]


@pytest.mark.parametrize("link", ["current", "previous"])
@pytest.mark.parametrize("target", PLANTED)
def test_a_link_to_anything_but_a_release_is_refused(site, link, target):
    root, journal = site
    (root / link).unlink()
    (root / link).symlink_to(target.format(root=root))
    rc, message = state(root, journal, V3, "--begin")
    assert rc == 2
    assert f"{root}/{link} names" in message and "not a release of this site" in message
    assert "Nothing was changed" in message
    assert not journal.exists()


def test_a_link_that_is_a_file_is_refused(site):
    root, journal = site
    (root / "previous").unlink()
    (root / "previous").write_text(V1)
    rc, message = state(root, journal, "previous")
    assert rc == 2 and f"{root}/previous is not a link to a release" in message


@pytest.mark.parametrize("journal_entry", [
    {"from": "{root}/releases/" + V1, "to": "{root}/releases/" + V2 + "' ssh.service '"},
    {"from": "/etc/" + V1, "to": "{root}/releases/" + V2},
    {"from": "{root}/releases/" + V1, "to": ""},
    {"from": "{root}/releases/" + V1, "to": ["{root}/releases/" + V2]},
    {"from": "{root}/releases/" + V1},
    {"from": "{root}/releases/" + V1, "to": "{root}/releases/" + V2, "since": "yesterday; reboot"},
])
def test_a_journal_naming_anything_but_releases_is_refused(site, journal_entry):
    root, journal = site
    entry = {"since": "2026-01-01T00:00:00Z", **journal_entry}
    text = json.dumps(entry).replace("{root}", str(root))
    journal.write_text(text)
    rc, message = state(root, journal, V3, "--begin")
    assert rc == 2 and f"the journal {journal}" in message, message
    assert journal.read_text() == text


def test_a_journal_that_is_not_json_is_refused(site):
    root, journal = site
    journal.write_text("{from: ")
    rc, message = state(root, journal, "previous")
    assert rc == 2 and "is not JSON" in message


def test_a_journal_that_is_a_link_is_not_followed(site, tmp_path):
    root, journal = site
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(json.dumps({"from": "", "to": f"{root}/releases/{V1}", "since": "2026-01-01T00:00:00Z"}))
    journal.symlink_to(elsewhere)
    rc, message = state(root, journal, V3, "--begin")
    assert rc == 2 and "Refused" in message


def test_a_journal_directory_others_may_write_is_refused(site):
    root, journal = site
    journal.parent.chmod(0o777)
    rc, message = state(root, journal, V3, "--begin")
    assert rc == 2 and "only this user writes" in message
    assert not journal.exists()


@pytest.mark.parametrize("target", ["x' nginx.service '", "../../etc", V1[:12], "", "previous/"])
def test_a_target_that_is_not_a_commit_is_refused(site, target):
    root, journal = site
    rc, message = state(root, journal, target, "--begin")
    assert rc == 2 and "is not a commit" in message
    assert not journal.exists()


def test_a_link_on_the_way_to_the_site_root_that_another_user_owns_is_refused(site, tmp_path):
    root, journal = site
    planted = tmp_path / "planted"
    planted.symlink_to(root)
    os.lchown(planted, 65534, 65534)
    rc, message = state(planted, journal, V3, "--begin")
    assert rc == 2 and "a link that another user could change" in message
    assert not journal.exists()


def test_a_release_whose_revision_is_a_link_is_not_complete(site, tmp_path):
    root, journal = site
    (root / "releases" / V3).mkdir()
    (root / "releases" / V3 / "REVISION").symlink_to("/etc/hostname")
    rc, found = state(root, journal, V3)
    assert rc == 0 and found["complete"] is False


def test_a_releases_directory_that_is_a_link_is_refused(site, tmp_path):
    root, journal = site
    other = tmp_path / "other"
    (other / V3).mkdir(parents=True)
    (other / V3 / "REVISION").write_text(V3)
    (root / "releases").rename(tmp_path / "moved")
    (root / "releases").symlink_to(other)
    rc, message = state(root, journal, V3, "--begin")
    assert rc == 2 and "Refused" in message and f"{root}/releases" in message
    assert not journal.exists()
