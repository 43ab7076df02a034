"""Where a site's directories may be: playbooks/filter_plugins/site_paths.py."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "site_paths", Path(__file__).resolve().parents[1] / "playbooks" / "filter_plugins" / "site_paths.py")
site_paths = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_paths)


@pytest.mark.parametrize("path", [
    # The defaults (group_vars/all): site_root and site_data_dir.
    "/home/elspeth/sites/superlists.example.com",
    "/home/elspeth/sites/superlists.example.com/shared/data",
    "/srv/superlists", "/srv/sites/superlists-staging.example.com", "/var/www/superlists", "/opt/superlists/data",
])
def test_a_directory_below_the_places_sites_live_is_allowed(path):
    assert site_paths.site_dir_allowed(path, "elspeth")


@pytest.mark.parametrize("path", [
    # The system and its accounts.
    "/", "/root", "/root/sites/superlists", "/etc", "/etc/superlists", "/boot/superlists", "/bin/x", "/sbin/x",
    "/lib/x", "/lib64/x", "/usr/local/sbin", "/usr/share/superlists", "/proc/1", "/sys/x", "/dev/shm/x", "/run/x",
    "/var/lib/postgresql", "/var/lib/superlists", "/var/log/superlists", "/tmp/superlists", "/home/bob/sites/x",
    "/home/elspeth2/sites/x", "/nonexistent/x",
    # The places themselves, not below them.
    "/srv", "/var/www", "/opt", "/home", "/home/elspeth",
    # Not absolute, not normalised, or not plain names.
    "srv/superlists", "", "/srv/", "/srv//superlists", "/srv/./superlists", "/srv/superlists/..", "/srv/../etc",
    "/srv/a/../../etc", "/srv/my site", "/srv/site;reboot", "/srv/$(reboot)", "/srv/superlists\n",
])
def test_a_system_directory_or_another_accounts_is_refused(path):
    assert not site_paths.site_dir_allowed(path, "elspeth")


def test_directories_overlap_when_one_is_or_holds_the_other():
    assert site_paths.site_dirs_overlap("/srv/a", "/srv/a")
    assert site_paths.site_dirs_overlap("/srv/a/staging", "/srv/a")
    assert site_paths.site_dirs_overlap("/srv/a", "/srv/a/shared/data")
    assert not site_paths.site_dirs_overlap("/srv/a", "/srv/ab")
    assert not site_paths.site_dirs_overlap("/srv/ab/data", "/srv/a")


def test_the_overlapping_directories_are_named():
    dirs = [["the site_root of live", "/srv/live"], ["the site_data_dir of live", "/srv/data/live"],
            ["the site_root of demo", "/srv/demo"]]
    assert site_paths.site_dirs_overlapping("/srv/live/staging", dirs) == ["the site_root of live"]
    assert site_paths.site_dirs_overlapping("/srv/data", dirs) == ["the site_data_dir of live"]
    assert site_paths.site_dirs_overlapping("/srv/staging", dirs) == []
