"""Two sites on one server: each site's service user is kept out of the
other's data and settings."""

import itertools

import pytest

from conftest import inventory, make_site, sites_in


def sites_on_this_server():
    inv = inventory()
    return [make_site(name, inv) for name in sites_in(inv)]


@pytest.mark.parametrize("which", ["data/db.sqlite3", "secret.env", "env"])
def test_a_site_cannot_read_another_sites_data_or_settings(which):
    sites = sites_on_this_server()
    assert len(sites) == 2
    assert sites[0].service_user != sites[1].service_user
    for this, other in itertools.permutations(sites):
        target = f"{other.root}/shared/{which}"
        assert other.host.file(target).exists
        attempt = this.host.run(f"sudo -u {this.service_user} cat {target}")
        assert attempt.rc != 0
        assert "Permission denied" in attempt.stderr, attempt.stderr
