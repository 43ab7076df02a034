"""Live cloned its code itself (git mode), at a pinned version that is not
the branch tip; staging got the tip pushed (push mode)."""

from conftest import SITE_USER, repo_head

LIVE = "superlists.localhost"
STAGING = "superlists-staging.localhost"


def test_live_cloned_the_repository_itself(site):
    clone = site.host.file(f"{site.root}/repo.git")
    if site.domain == LIVE:
        assert clone.is_directory
        assert clone.user == SITE_USER
        remote = site.host.check_output(f"git --git-dir={site.root}/repo.git config remote.origin.url")
        assert remote == "git://127.0.0.1/superlists.git"
        # The server's branch tip is a newer commit (prepare.yml made it);
        # live is pinned to the one before it: this repository's HEAD.
        tip = site.host.check_output(f"git --git-dir={site.root}/repo.git rev-parse HEAD")
        assert site.deployed_commit() == repo_head() != tip
    else:
        assert site.domain == STAGING
        assert not clone.exists, "staging is in push mode and must not clone"


def test_each_server_hosts_only_its_own_site(site):
    sites = site.host.check_output(f"ls /home/{SITE_USER}/sites").split()
    assert sites == [site.domain]
