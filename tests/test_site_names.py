"""The naming and topology rules of playbooks/filter_plugins/site_names.py."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "site_names", Path(__file__).resolve().parents[1] / "playbooks" / "filter_plugins" / "site_names.py")
site_names = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_names)


def test_an_inventory_without_db_or_lb_is_all_web_hosts():
    groups = {"all": ["a.example.com", "b.example.com"], "staging": ["a.example.com"], "live": ["b.example.com"]}
    assert site_names.web_hosts(groups) == ["a.example.com", "b.example.com"]


def test_database_and_load_balancer_hosts_serve_no_site_unless_also_in_web():
    groups = {"all": ["web1", "db1", "lb1", "both"], "db": ["db1", "both"], "lb": ["lb1"], "web": ["both"]}
    assert site_names.web_hosts(groups) == ["web1", "both"]


def test_a_deploy_target_keeps_only_its_web_hosts():
    groups = {"all": ["s-lb", "s-web1", "s-web2", "s-db", "live"], "staging": ["s-lb", "s-web1", "s-web2", "s-db"],
              "lb": ["s-lb"], "web": ["s-web1", "s-web2"], "db": ["s-db"], "live": ["live"]}
    assert site_names.web_hosts(groups, "staging") == ["s-web1", "s-web2"]
    assert site_names.web_hosts(groups, "live") == ["live"]
    assert site_names.web_hosts(groups, "s-web2, live") == ["s-web2", "live"]
    assert site_names.web_hosts(groups, "s-db") == []


def test_a_database_name_is_the_domain_with_underscores_and_fits_postgresql():
    assert site_names.database_name("superlists-staging.example.com") == "superlists_staging_example_com"
    # Longer than PostgreSQL's 63 characters: cut, and told apart by a hash.
    one, other = "a" * 70 + ".com", "a" * 70 + ".org"
    assert len(site_names.database_name(one)) <= 63
    assert site_names.database_name(one) != site_names.database_name(other)


def test_sites_whose_databases_would_be_one_are_found():
    hostvars = {
        "a-b.example": {"site_domain": "a-b.example", "database_name": "a_b_example", "database_server": "db1"},
        "a.b.example": {"site_domain": "a.b.example", "database_name": "a_b_example", "database_server": "db1"},
        # The same site on another web server: its own database.
        "web2": {"site_domain": "a-b.example", "database_name": "a_b_example", "database_server": "db1"},
        # The same name on another database server, or in SQLite.
        "other": {"site_domain": "a_b.example", "database_name": "a_b_example", "database_server": "db2"},
        "sqlite": {"site_domain": "a.b-example", "database_name": "a_b_example", "database_server": ""},
    }
    hosts = list(hostvars)
    assert site_names.database_sharers("a-b.example", hosts, hostvars) == ["a.b.example"]
    assert site_names.database_sharers("web2", hosts, hostvars) == ["a.b.example"]
    assert site_names.database_sharers("other", hosts, hostvars) == []
    assert site_names.database_sharers("sqlite", hosts, hostvars) == []


def test_sites_on_one_server_share_its_postgresql():
    local = {"database_engine": "postgresql", "database_name": "a_b_example", "ansible_host": "10.0.0.5"}
    hostvars = {"a-b.example": {"site_domain": "a-b.example", **local},
                "a.b.example": {"site_domain": "a.b.example", **local},
                "elsewhere": {"site_domain": "a.b-example", **local, "ansible_host": "10.0.0.6"},
                "other-port": {"site_domain": "a-b-example", **local, "ansible_port": 2222}}
    assert site_names.database_sharers("a-b.example", list(hostvars), hostvars) == ["a.b.example"]
    assert site_names.database_sharers("elsewhere", list(hostvars), hostvars) == []
