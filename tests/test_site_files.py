"""roles/app/files/site-files: root writes inside a directory a less
privileged user owns, and never follows a link that user planted there.

Run as root (as CI and scripts/test are): the "deploy user" here is
`nobody`, who owns the site's directory, plants links, and must not get root
to change what they point to."""

import os
import pwd
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "roles" / "app" / "files" / "site-files"
USER = "nobody"
GROUP = "nogroup"


def test_runs_as_root():
    # The tool is root's, and these tests play the deploy user against it.
    assert os.geteuid() == 0, "tests/ must run as root (scripts/test runs them so)"


@pytest.fixture
def tree():
    """base/ (root's) holds site/ (nobody's, as a site's directory is its
    deploy user's), and sentinel/ with a file (root's: what a planted link
    points at). Under /tmp, which the deploy user may traverse (pytest's own
    temporary directories are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="site-files-") as scratch:
        tmp_path = Path(scratch)
        os.chmod(tmp_path, 0o755)
        yield make_tree(tmp_path)


def make_tree(tmp_path):
    base = tmp_path / "base"
    site = base / "site"
    sentinel = tmp_path / "sentinel"
    site.mkdir(parents=True)
    sentinel.mkdir()
    (sentinel / "file").write_text("root's own\n")
    os.chmod(sentinel, 0o700)
    os.chmod(sentinel / "file", 0o600)
    uid = pwd.getpwnam(USER).pw_uid
    os.chown(site, uid, -1)
    return tmp_path, base, site, sentinel


def site_files(root, action, path, mode, content=None, owner=USER, group=GROUP):
    return subprocess.run([str(TOOL), str(root), action, path, owner, group, mode],
                          input=content, capture_output=True, text=True, timeout=30)


def sentinel_state(sentinel):
    return [(p.name, p.stat().st_uid, p.stat().st_gid, stat.S_IMODE(p.stat().st_mode),
             p.read_text() if p.is_file() else None) for p in [sentinel, *sorted(sentinel.iterdir())]]


def plant(link, target):
    """A link, made by the deploy user (as they would plant it)."""
    subprocess.run(["runuser", "-u", USER, "--", "ln", "-sfn", str(target), str(link)], check=True)


def test_makes_directories_files_and_a_secret_key_with_their_owners_and_modes(tree):
    _, base, site, _ = tree
    assert site_files(base, "mkdir", "site/shared/data", "0700").stdout == "changed\n"
    assert site_files(base, "write", "site/shared/env", "0640", "A=1\n").stdout == "changed\n"
    assert site_files(base, "secret", "site/shared/secret.env", "0640").stdout == "changed\n"
    env = site / "shared" / "env"
    assert env.read_text() == "A=1\n"
    assert (env.owner(), stat.S_IMODE(env.stat().st_mode)) == (USER, 0o640)
    data = site / "shared" / "data"
    assert (data.owner(), stat.S_IMODE(data.stat().st_mode)) == (USER, 0o700)
    key = (site / "shared" / "secret.env").read_text()
    assert key.startswith("DJANGO_SECRET_KEY=") and len(key) > 60
    # Again: nothing to change, and the key is kept.
    assert site_files(base, "mkdir", "site/shared/data", "0700").stdout == ""
    assert site_files(base, "write", "site/shared/env", "0640", "A=1\n").stdout == ""
    assert site_files(base, "secret", "site/shared/secret.env", "0640").stdout == ""
    assert (site / "shared" / "secret.env").read_text() == key
    assert site_files(base, "write", "site/shared/env", "0640", "A=2\n").stdout == "changed\n"
    assert env.read_text() == "A=2\n"


@pytest.mark.parametrize("action, path, planted", [
    # A directory of the site swapped for a link to root's directory.
    ("mkdir", "site/shared", "site/shared"),
    ("mkdir", "site/shared/data", "site/shared"),
    ("write", "site/shared/env", "site/shared"),
    # A file swapped for a link to root's file.
    ("write", "site/shared/env", "site/shared/env"),
    ("secret", "site/shared/secret.env", "site/shared/secret.env"),
])
def test_refuses_a_link_the_deploy_user_planted_and_changes_nothing(tree, action, path, planted):
    _, base, site, sentinel = tree
    (site / "shared").mkdir()
    os.chown(site / "shared", pwd.getpwnam(USER).pw_uid, -1)
    target = sentinel if planted == "site/shared" else sentinel / "file"
    if planted == "site/shared":
        os.rmdir(site / "shared")
    plant(base / planted, target)
    before = sentinel_state(sentinel)
    result = site_files(base, action, path, "0777", "written through a link\n")
    assert result.returncode != 0
    assert f"refused: {base / planted} is a link" in result.stderr
    assert sentinel_state(sentinel) == before
    assert (base / planted).is_symlink()


def test_follows_a_link_only_root_could_have_made(tree):
    """A link of root's in a directory of root's (say /home to another disk)
    is followed; the same link in a directory someone else owns is not."""
    tmp, base, site, _ = tree
    os.symlink(site, tmp / "home")
    assert site_files(tmp / "home", "mkdir", "releases", "0755").stdout == "changed\n"
    assert (site / "releases").is_dir()
    os.chown(tmp, pwd.getpwnam(USER).pw_uid, -1)
    result = site_files(tmp / "home", "mkdir", "shared", "0755")
    assert result.returncode != 0 and f"refused: {tmp / 'home'} is a link" in result.stderr
    assert not (site / "shared").exists()


def test_keeps_what_it_replaced_for_a_revert_to_put_back(tree):
    _, base, site, _ = tree
    env = site / "env"
    site_files(base, "write", "site/env", "0640", "A=1\n")
    assert not (site / ".env.previous").exists()
    assert site_files(base, "write", "site/env", "0640", "A=2\n").stdout == "changed\n"
    assert (site / ".env.previous").read_text() == "A=1\n"
    assert subprocess.run([str(TOOL), str(base), "restore", "site/env"], capture_output=True,
                          text=True).stdout == "changed\n"
    assert env.read_text() == "A=1\n"
    assert (env.owner(), stat.S_IMODE(env.stat().st_mode)) == (USER, 0o640)
    # Nothing replaced since: nothing to put back, and no stale copy.
    assert subprocess.run([str(TOOL), str(base), "restore", "site/env"], capture_output=True, text=True).stdout == ""
    site_files(base, "write", "site/env", "0640", "A=3\n")
    site_files(base, "write", "site/env", "0640", "A=3\n")
    assert not (site / ".env.previous").exists()
    site_files(base, "write", "site/env", "0640", "A=4\n")
    assert subprocess.run([str(TOOL), str(base), "forget", "site/env"], capture_output=True,
                          text=True).stdout == "changed\n"
    assert not (site / ".env.previous").exists()
