"""roles/release/files/prune-releases: which releases go and which stay."""

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRUNE = REPO / "roles" / "release" / "files" / "prune-releases"


def make_release(root, name, age, complete=True, failed=False):
    path = root / "releases" / name
    path.mkdir(parents=True)
    if complete:
        revision = path / "REVISION"
        revision.write_text(name + "\n")
        then = time.time() - age
        os.utime(revision, (then, then))
    if failed:
        (path / "FAILED").write_text("failed at the health check\n")
    return path


def prune(root, keep):
    result = subprocess.run([str(PRUNE), str(root), f"--keep={keep}"], check=True, capture_output=True, text=True)
    return sorted(Path(line).name for line in result.stdout.splitlines())


def remaining(root):
    return sorted(p.name for p in (root / "releases").iterdir())


def test_keeps_the_newest_complete_releases(tmp_path):
    for n, age in enumerate([50, 40, 30, 20, 10]):
        make_release(tmp_path, f"r{n}", age)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "r4")
    assert prune(tmp_path, keep=3) == ["r0", "r1"]
    assert remaining(tmp_path) == ["r2", "r3", "r4"]
    assert prune(tmp_path, keep=3) == []


def test_never_removes_current_or_previous(tmp_path):
    for n, age in enumerate([50, 40, 30, 20, 10]):
        make_release(tmp_path, f"r{n}", age)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "r0")
    (tmp_path / "previous").symlink_to(tmp_path / "releases" / "r1")
    assert prune(tmp_path, keep=1) == ["r2", "r3"]
    assert remaining(tmp_path) == ["r0", "r1", "r4"]


def test_failed_and_incomplete_releases_go_and_do_not_count(tmp_path):
    make_release(tmp_path, "good-old", 40)
    make_release(tmp_path, "good-new", 30)
    make_release(tmp_path, "failed", 20, failed=True)
    make_release(tmp_path, "half-built", 10, complete=False)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "good-new")
    assert prune(tmp_path, keep=2) == ["failed", "half-built"]
    assert remaining(tmp_path) == ["good-new", "good-old"]


def test_removes_the_virtualenvs_no_kept_release_uses(tmp_path):
    """Releases share virtualenvs (venvs/<hash>, .venv a link): one stays as
    long as a kept release links to it, and goes with the last of them; a
    half-built one no release links to goes too."""
    venvs = tmp_path / "venvs"
    for name in ("old", "shared", "half-built"):
        (venvs / name / "bin").mkdir(parents=True)
    for n, (age, venv) in enumerate([(40, "old"), (30, "shared"), (20, "shared"), (10, "shared")]):
        release = make_release(tmp_path, f"r{n}", age)
        (release / ".venv").symlink_to(f"../../venvs/{venv}")
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "r3")
    assert prune(tmp_path, keep=2) == ["half-built", "old", "r0", "r1"]
    assert sorted(p.name for p in venvs.iterdir()) == ["shared"]
    assert (tmp_path / "releases" / "r3" / ".venv" / "bin").is_dir()
