"""Bad input is refused before anything changes, naming the variable.

Each case runs site.yml against a server that does not exist: the run must
stop in the settings check, which makes no connection, so it cannot have
changed anything."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    """A copy of the playbooks, roles and group_vars that a case may edit."""
    for name in ("site.yml", "ansible.cfg"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("playbooks", "roles", "group_vars"):
        shutil.copytree(REPO / name, tmp_path / name, symlinks=True)
    # The copy has no git history: deploy this repository's commits.
    settings = tmp_path / "group_vars" / "all" / "main.yml"
    settings.write_text(re.sub(r"(?m)^app_repo:.*$", f'app_repo: "{REPO}"', settings.read_text()))
    (tmp_path / "hosts.yml").write_text(
        "staging:\n"
        "  hosts:\n"
        "    superlists-staging.example.com:\n"
        "      ansible_connection: community.docker.docker\n"
        "      ansible_host: no-such-server\n"
        "      host_hardening_ssh_allow_users: [admin]\n"
    )
    return tmp_path


def remove_setting(project, relpath, name):
    path = project / relpath
    text = path.read_text()
    new = re.sub(rf"(?m)^{name}:.*\n", "", text)
    assert new != text, f"{name} is not set in {relpath}"
    path.write_text(new)


def run_site(project, *extra, playbook="site.yml"):
    result = subprocess.run(
        ["ansible-playbook", "-i", "hosts.yml", playbook, *extra],
        cwd=project, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "ANSIBLE_CONFIG": str(project / "ansible.cfg"), "NO_COLOR": "1"},
    )
    return result.returncode, result.stdout + result.stderr


def assert_refused_before_any_change(rc, output, name):
    assert rc != 0, output
    assert name in output, output
    recap = re.search(r"superlists-staging\.example\.com\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert recap, output
    changed, unreachable, failed = map(int, recap.groups())
    assert (changed, unreachable, failed) == (0, 0, 1), output
    assert "Provision the web servers" not in output


@pytest.mark.parametrize(
    "relpath, name",
    [
        ("group_vars/all/main.yml", "site_domain"),
        ("group_vars/all/main.yml", "site_user"),
        ("group_vars/all/main.yml", "app_repo"),
        ("group_vars/staging/release.yml", "app_version"),
    ],
)
def test_missing_required_setting_is_refused(project, relpath, name):
    remove_setting(project, relpath, name)
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, name)
    # The spec check names it; a setting others are built from (site_root
    # from site_domain) is named by Ansible as undefined.
    assert f"missing required arguments: {name}" in output or f"'{name}' is undefined" in output


@pytest.mark.parametrize(
    "name, value",
    [
        ("site_domain", "Not A Domain!"),
        ("site_domain", "a" * 64 + ".example.com"),
        ("site_domain", "superlists.example.com\n"),
        ("site_user", "root"),
        ("site_user", "Bad User"),
        ("site_user", "elspeth\n"),
        ("site_user", "www-data"),
        ("site_user", "sshd"),
        ("site_service_user", "elspeth"),
        ("site_service_user", "www-data"),
        ("site_service_user", "nobody"),
        ("site_service_user", "postgres"),
        ("site_root", "sites/superlists"),
        ("site_root", "/"),
        ("site_root", "/etc"),
        ("site_root", "/srv/my site"),
        ("site_root", "/srv/site;reboot"),
        ("site_root", "/srv/../etc"),
        ("site_data_dir", "data"),
        ("site_data_dir", "/var/lib"),
        ("site_data_dir", "/srv/$(reboot)"),
        ("app_repo", ""),
        ("app_repo", "--upload-pack=touch /tmp/x"),
        ("app_version", "--upload-pack=evil"),
        ("app_version", "main\n"),
        ("app_source", "rsync"),
        ("database_engine", "mysql"),
        ("database_keep_backups", 0),
        # -1 was taken as 0: every release but current and previous pruned.
        ("release_keep", 0),
        ("release_keep", -1),
        ("webserver_http_port", 0),
        ("webserver_https_port", 70000),
        ("webserver_https_port", 80),
        ("webserver_gunicorn_workers", 0),
        ("webserver_client_max_body_size", "lots"),
        ("site_hsts_seconds", -1),
    ],
)
def test_invalid_setting_is_refused(project, name, value):
    rc, output = run_site(project, "-e", json.dumps({name: value}))
    assert_refused_before_any_change(rc, output, name)
    assert f"{name} = " in output or f"value of {name} must be one of" in output


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-e", "app_version=no-such-branch"], 'app_version = "no-such-branch" is not a commit of app_repo'),
        (["-e", "app_repo=/nonexistent/repo"], 'is not a commit of app_repo = "/nonexistent/repo"'),
    ],
)
def test_version_that_does_not_exist_is_refused(project, extra, message):
    rc, output = run_site(project, *extra)
    assert_refused_before_any_change(rc, output, "app_version")
    assert message in output


@pytest.mark.parametrize(
    "secrets, name",
    [
        ('{"app_secrets": {"email password": "s3cr3t-value"}}', "app_secrets.email password"),
        ('{"app_secrets": {"DJANGO_SECRET_KEY": "s3cr3t-value"}}', "app_secrets.DJANGO_SECRET_KEY"),
        ('{"app_secrets": {"EMAIL_PASSWORD": "s3cr3t\'value"}}', "app_secrets.EMAIL_PASSWORD"),
        ('{"app_secrets": {"DJANGO_DEBUG_FALSE": "s3cr3t-value"}}', "app_secrets.DJANGO_DEBUG_FALSE"),
        ('{"app_secrets": {"PATH": "s3cr3t-value"}}', "app_secrets.PATH"),
        ('{"app_secrets": {"LD_PRELOAD": "s3cr3t-value"}}', "app_secrets.LD_PRELOAD"),
        ('{"app_secrets": {"PYTHONPATH": "s3cr3t-value"}}', "app_secrets.PYTHONPATH"),
        ('{"app_secrets": {"DATABASE_URL": "postgres://u:s3cr3t-value@db/x"}}', "app_secrets.DATABASE_URL"),
    ],
)
def test_invalid_secret_is_refused_without_showing_it(project, secrets, name):
    rc, output = run_site(project, "-e", secrets)
    assert_refused_before_any_change(rc, output, name)
    assert "s3cr3t" not in output


@pytest.mark.parametrize("extra", [["-e", "webserver_certificate=acme"],
                                   ["-e", "webserver_certificate=acme", "-e", "webserver_acme_email=not-an-address"]])
def test_acme_without_an_account_email_is_refused(project, extra):
    rc, output = run_site(project, *extra)
    assert_refused_before_any_change(rc, output, "webserver_acme_email")


@pytest.mark.parametrize("extra", [["-e", "database_engine=postgresql", "-e", '{"database_name": ""}'],
                                   ["-e", "database_engine=postgresql", "-e", '{"database_name": "bad name;"}']])
def test_postgresql_without_a_database_name_is_refused(project, extra):
    rc, output = run_site(project, *extra)
    assert_refused_before_any_change(rc, output, "database_name")


def test_a_database_server_outside_group_db_is_refused(project):
    rc, output = run_site(project, "-e", "database_server=superlists-staging.example.com")
    assert_refused_before_any_change(rc, output, "database_server")
    assert "a host of the inventory's group db" in output


def connect_over_ssh_as(project, user):
    """Make the inventory's host an SSH server that Ansible logs in to as `user`."""
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace(
        "ansible_connection: community.docker.docker", f"ansible_connection: ssh\n      ansible_user: {user}"))


@pytest.mark.parametrize(
    "ssh_user, extra, message",
    [
        (None, ["-e", '{"host_hardening_ssh_allow_users": []}'], "host_hardening_ssh_allow_users is empty"),
        ("root", [], "as root over SSH, but host_hardening_ssh forbids"),
        ("bob", [], "as bob, who is not in host_hardening_ssh_allow_users"),
    ],
)
def test_ssh_hardening_that_would_lock_ansible_out_is_refused(project, ssh_user, extra, message):
    if ssh_user:
        connect_over_ssh_as(project, ssh_user)
    rc, output = run_site(project, *extra)
    assert_refused_before_any_change(rc, output, "host_hardening_ssh")
    assert message in output


def test_ssh_login_is_not_checked_when_ssh_hardening_is_off(project):
    connect_over_ssh_as(project, "root")
    rc, output = run_site(project, "-e", "host_hardening_ssh=false")
    assert rc != 0
    assert "Provision the web servers" in output


@pytest.mark.parametrize("extra", [
    [],
    # The places a site may live besides the site user's home; a site of
    # one web server switches it alone.
    ["-e", json.dumps({"site_root": "/srv/superlists", "site_data_dir": "/var/www/superlists-data", "release_serial": 1})],
    ["-e", json.dumps({"site_root": "/opt/sites/superlists", "release_serial": "100%"})],
])
def test_valid_settings_pass_the_check(project, extra):
    """The control case: with every setting valid, the run gets past the
    check and only then fails, on connecting to the missing server."""
    rc, output = run_site(project, *extra)
    assert rc != 0
    assert "Provision the web servers" in output
    assert "unreachable=1" in output or "failed=1" in output


@pytest.mark.parametrize(
    "extra, name",
    [
        # Preload lists take only a domain with its subdomains.
        ({"site_hsts_preload": True, "site_hsts_include_subdomains": False}, "site_hsts_preload"),
        # The ACME CA asks for its challenge on port 80.
        ({"webserver_certificate": "acme", "webserver_acme_email": "ops@example.com", "webserver_http_port": 8080},
         "webserver_http_port"),
        # A site on the port SSH listens on.
        ({"webserver_http_port": 22}, "webserver_http_port"),
        ({"host_hardening_ssh_extra_settings": {"Port": 2222}, "webserver_https_port": 2222}, "webserver_http_port"),
        # The firewall would not let visitors in.
        ({"host_hardening_firewall_tcp_ports": [22, 443]}, "host_hardening_firewall_tcp_ports"),
        ({"host_hardening_firewall_tcp_ports": [22, 80, 443, 70000]}, "host_hardening_firewall_tcp_ports"),
        # AllowUsers takes user names: a line break would start a Match block.
        ({"host_hardening_ssh_allow_users": ["admin\nMatch all"]}, "host_hardening_ssh_allow_users"),
    ],
)
def test_settings_that_do_not_fit_together_are_refused(project, extra, name):
    rc, output = run_site(project, "-e", json.dumps(extra))
    assert_refused_before_any_change(rc, output, name)
    assert f"{name} " in output


@pytest.mark.parametrize(
    "extra, message",
    [
        # The firewall would shut the port Ansible logs in on.
        ({"host_hardening_firewall_tcp_ports": [80, 443]}, "leaves out port 22"),
        ({"ansible_port": 2200}, "leaves out port 2200"),
        # sshd would move to another port than the one Ansible logs in on.
        ({"host_hardening_ssh_extra_settings": {"Port": 2222}, "host_hardening_firewall_tcp_ports": [22, 80, 443, 2222]},
         "sshd would listen on port 2222, but Ansible connects on port 22"),
        # Hardened SSH takes keys only.
        ({"ansible_password": "s3cr3t-value"}, "Ansible logs in with a password"),
    ],
)
def test_ssh_and_firewall_settings_that_would_lock_ansible_out_are_refused(project, extra, message):
    connect_over_ssh_as(project, "admin")
    rc, output = run_site(project, "-e", json.dumps(extra))
    assert_refused_before_any_change(rc, output, "host_hardening")
    assert message in output
    assert "s3cr3t" not in output


def test_a_port_forward_to_the_servers_ssh_port_passes_the_check(project):
    """Ansible connects to 2222, which a NAT forwards to the server's 22:
    with host_hardening_ssh_login_port saying so, the default firewall and
    sshd fit, and the run gets past the check (to the missing server)."""
    connect_over_ssh_as(project, "admin")
    rc, output = run_site(project, "-e", json.dumps({"ansible_port": 2222}))
    assert_refused_before_any_change(rc, output, "host_hardening")
    assert "leaves out port 2222" in output
    rc, output = run_site(project, "-e", json.dumps({"ansible_port": 2222, "host_hardening_ssh_login_port": 22}))
    assert rc != 0
    assert "Provision the web servers" in output


def test_the_login_user_cannot_be_the_service_user(project):
    """The book's own setup, where the sudo user also owns the site, stays
    valid; running the site as that user does not."""
    connect_over_ssh_as(project, "admin")
    rc, output = run_site(project, "-e", "site_user=admin")
    assert rc != 0 and "Provision the web servers" in output
    rc, output = run_site(project, "-e", "site_service_user=admin")
    assert_refused_before_any_change(rc, output, "site_service_user")
    assert "the user Ansible logs in as" in output


@pytest.mark.parametrize(
    "staging, live, name",
    [
        ({"site_service_user": "superlists-web"}, {"site_service_user": "superlists-web"}, "site_service_user"),
        ({"site_data_dir": "/srv/superlists-data"}, {"site_data_dir": "/srv/superlists-data"}, "site_data_dir"),
        # One site's directory inside, or equal to, the other's: a deploy or
        # a prune of one would change the other's files.
        ({"site_root": "/srv/superlists"}, {"site_root": "/srv/superlists"}, "site_root"),
        ({"site_root": "/srv/superlists/staging"}, {"site_root": "/srv/superlists"}, "site_root"),
        ({"site_data_dir": "/home/elspeth/sites/superlists.example.com/shared/staging-data"}, {}, "site_data_dir"),
    ],
)
def test_two_sites_on_one_server_cannot_share_a_service_user_or_directories(project, staging, live, name):
    hosts = project / "hosts.yml"
    text = hosts.read_text().replace(
        "host_hardening_ssh_allow_users: [admin]\n",
        "host_hardening_ssh_allow_users: [admin]\n" + "".join(f"      {k}: {v}\n" for k, v in staging.items()))
    hosts.write_text(text + (
        "live:\n"
        "  hosts:\n"
        "    superlists.example.com:\n"
        "      ansible_connection: community.docker.docker\n"
        "      ansible_host: no-such-server\n"
        "      host_hardening_ssh_allow_users: [admin]\n"
        + "".join(f"      {k}: {v}\n" for k, v in live.items())))
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, name)
    output = " ".join(output.split())
    assert f"{name} = " in output, output
    assert "superlists.example.com on the same server (no-such-server)" in output, output


def a_fleet(project, **web_settings):
    """The staging site on two web servers, with a database server and a
    load balancer. The site's domain is set where an operator sets it, in
    group_vars/staging/site.yml (an inventory file's group vars rank below
    group_vars/all); web_settings on each web server."""
    site = project / "group_vars" / "staging" / "site.yml"
    site.write_text(site.read_text() + "site_domain: superlists-staging.example.com\n")

    def server(name, address, settings=None):
        return (f"        {name}:\n"
                "          ansible_connection: community.docker.docker\n"
                f"          ansible_host: {address}\n"
                "          host_hardening_ssh_allow_users: [admin]\n"
                + "".join(f"          {key}: {value}\n" for key, value in (settings or {}).items()))

    (project / "hosts.yml").write_text(
        "staging:\n"
        "  children:\n"
        "    web:\n"
        "      hosts:\n" + server("superlists-staging.example.com", "no-such-web1", web_settings)
        + server("web2.example.com", "no-such-web2", web_settings)
        + "    db:\n      hosts:\n" + server("db1.example.com", "no-such-db")
        + "    lb:\n      hosts:\n" + server("lb1.example.com", "no-such-lb"))


def test_a_site_on_several_web_servers_needs_a_database_server(project):
    a_fleet(project)
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "database_server")
    assert "since superlists-staging.example.com is served by 2 web servers" in output
    # With one, the check passes (the run goes on to the missing servers).
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_site(project)
    assert rc != 0 and "Provision the database servers" in output, output


def test_a_load_balancer_outside_group_lb_is_refused(project):
    a_fleet(project, database_server="db1.example.com", load_balancer="db1.example.com")
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "load_balancer")
    assert "or a host of the inventory's group lb" in output


def test_acme_on_a_web_server_behind_a_load_balancer_is_refused(project):
    """Visitors see the load balancer's certificate: an ACME one is asked
    for there (loadbalancer_certificate), not on the web servers."""
    a_fleet(project, database_server="db1.example.com", webserver_certificate="acme",
            webserver_acme_email="ops@example.com")
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "webserver_certificate")
    assert 'set loadbalancer_certificate "acme" on it' in output


def test_acme_at_the_load_balancer_without_an_email_stops_the_run_before_any_server(project):
    a_fleet(project, database_server="db1.example.com")
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("ansible_host: no-such-lb\n", "ansible_host: no-such-lb\n"
                                               "          loadbalancer_certificate: acme\n"))
    rc, output = run_site(project)
    assert rc != 0
    assert 'loadbalancer_acme_email = "" is invalid for lb1.example.com' in output, output
    # The web servers' checks passed, and no server is provisioned.
    assert "Provision the database servers" not in output, output
    assert "Provision the web servers" not in output


def test_a_web_server_behind_a_load_balancer_is_open_to_it_alone(project):
    """group_vars/all gives a web server behind a load balancer its firewall
    sources: ports 80 and 443 for the load balancer's fleet_address."""
    a_fleet(project, database_server="db1.example.com")
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("ansible_host: no-such-lb\n", "ansible_host: no-such-lb\n"
                                               "          fleet_address: 10.0.0.30\n"))
    (project / "playbooks" / "show.yml").write_text(
        "- hosts: web2.example.com:db1.example.com\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: \"{{ host_hardening_firewall_tcp_sources | to_json }}\"\n")
    rc, output = run_site(project, playbook="playbooks/show.yml")
    assert rc == 0, output
    assert re.search(r"""ok: \[web2\.example\.com\] =>\s*msg: '\{"80": \["10\.0\.0\.30"\], "443": \["10\.0\.0\.30"\]\}'""",
                     output), output
    assert re.search(r"""ok: \[db1\.example\.com\] =>\s*msg: '\{\}'""", output), output


def test_a_database_server_opens_postgresql_to_its_web_servers_alone(project):
    """A database server whose firewall opens 5432 opens it to the web
    servers whose database_server it is, at the address each connects from
    (database_client_address, else fleet_address), and to no other host."""
    a_fleet(project, database_server="db1.example.com")
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace(
        "ansible_host: no-such-db\n", "ansible_host: no-such-db\n          host_hardening_firewall_tcp_ports: [22, 5432]\n")
        .replace("ansible_host: no-such-web2\n", "ansible_host: no-such-web2\n          database_client_address: 10.0.0.22\n"))
    (project / "playbooks" / "show.yml").write_text(
        "- hosts: db1.example.com\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: \"{{ host_hardening_firewall_tcp_sources | to_json }}\"\n")
    rc, output = run_site(project, playbook="playbooks/show.yml")
    assert rc == 0, output
    assert re.search(r"""ok: \[db1\.example\.com\] =>\s*msg: '\{"5432": \["10\.0\.0\.22", "no-such-web1"\]\}'""",
                     output), output


def test_restricting_the_ssh_port_to_some_hosts_is_refused(project):
    connect_over_ssh_as(project, "admin")
    rc, output = run_site(project, "-e", json.dumps({"host_hardening_firewall_tcp_sources": {"22": ["10.0.0.5"]}}))
    assert_refused_before_any_change(rc, output, "host_hardening_firewall_tcp_sources")
    assert "the firewall would lock Ansible out of this host from anywhere else" in output
    rc, output = run_site(project, "-e", json.dumps({"host_hardening_firewall_tcp_sources": {"8080": ["10.0.0.5"]}}))
    assert_refused_before_any_change(rc, output, "host_hardening_firewall_tcp_sources")
    assert "restricts port(s) 8080, which" in output


@pytest.mark.parametrize("tags", ["ssh", "firewall", "upgrades,kernel"])
def test_the_settings_are_checked_whatever_tags_are_given(project, tags):
    """--tags ssh on a server reached as root would write PermitRootLogin no
    and lock the operator out."""
    connect_over_ssh_as(project, "root")
    rc, output = run_site(project, "--tags", tags)
    assert_refused_before_any_change(rc, output, "host_hardening_ssh")
    assert "as root over SSH, but host_hardening_ssh forbids" in output


def run_rollback(project, *extra):
    return run_site(project, *extra, playbook="playbooks/rollback.yml")


@pytest.mark.parametrize("target", ["--upload-pack=evil", "../../../etc", "abc/def", "a1b2c3d4e5f6", "v1.0",
                                    "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2' nginx.service '"])
def test_a_rollback_target_that_is_not_a_release_name_is_refused(project, target):
    rc, output = run_rollback(project, "-e", json.dumps({"rollback_to": target}))
    assert_refused_before_any_change(rc, output, "rollback_to")
    assert "Take the deploy lock" not in output


def test_a_rollback_that_would_restore_a_shared_database_once_per_web_server_is_refused(project):
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_rollback(project, "-e", "rollback_restore_database=true")
    assert_refused_before_any_change(rc, output, "rollback_restore_database")
    assert "which 2 web servers serve (superlists-staging.example.com, web2.example.com)" in " ".join(output.split())
    assert "Take the deploy lock" not in output


@pytest.mark.parametrize("serial", ["100%", "2", "5"])
def test_a_batch_that_would_empty_a_sites_rotation_is_refused(project, serial):
    """Both of the site's web servers out of the load balancer at once: the
    site would answer nobody while they switch."""
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_site(project, "-e", f"release_serial={serial}")
    assert_refused_before_any_change(rc, output, "release_serial")
    output = " ".join(output.split())
    assert "superlists-staging.example.com, web2.example.com" in output, output
    assert "out of the rotation of lb1.example.com at once" in output, output


def test_a_batch_smaller_than_a_sites_web_servers_passes_the_check(project):
    a_fleet(project, database_server="db1.example.com")
    # 50% of 2 web servers: one at a time.
    for serial in ["1", "50%"]:
        rc, output = run_site(project, "-e", f"release_serial={serial}")
        assert rc != 0 and "Provision the database servers" in output, output


def test_a_limit_that_leaves_out_some_of_a_sites_web_servers_is_refused(project):
    """--limit on one of a site's two web servers would migrate the shared
    database under the other, left on its release."""
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_site(project, "--limit", "superlists-staging.example.com")
    assert_refused_before_any_change(rc, output, "release_allow_split")
    output = " ".join(output.split())
    assert "this run's limit leaves out web2.example.com" in output, output


def test_a_limit_on_some_of_a_sites_web_servers_passes_when_asked_for(project):
    a_fleet(project, database_server="db1.example.com")
    for limit in (["--limit", "superlists-staging.example.com", "-e", "release_allow_split=true"],
                  ["--limit", "superlists-staging.example.com,web2.example.com"]):
        rc, output = run_site(project, *limit)
        assert rc != 0 and "Provision the database servers" in output, output
        assert "release_allow_split = " not in output, output


@pytest.mark.parametrize("playbook", ["playbooks/deploy.yml", "playbooks/rollback.yml"])
def test_a_deploy_or_rollback_limited_to_some_of_a_sites_web_servers_is_refused(project, playbook):
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_site(project, "--limit", "superlists-staging.example.com", playbook=playbook)
    assert_refused_before_any_change(rc, output, "release_allow_split")


def test_provisioning_some_of_a_sites_web_servers_is_not_refused(project):
    """provision.yml changes no release: a limit splits nothing."""
    a_fleet(project, database_server="db1.example.com")
    rc, output = run_site(project, "--limit", "superlists-staging.example.com", playbook="playbooks/provision.yml")
    assert rc != 0 and "Provision the database servers" in output, output
    assert "release_allow_split = " not in output, output


def several_sites(project, sites, groups=""):
    """One staging site per host (its domain the host's name), each on a
    server of its own unless its settings say otherwise; `groups`, more of
    the inventory's staging children."""
    def server(index, name, settings):
        settings = {"ansible_connection": "community.docker.docker", "ansible_host": f"no-such-server{index}",
                    "host_hardening_ssh_allow_users": ["admin"], **settings}
        return f"    {name}:\n" + "".join(f"      {key}: {json.dumps(value)}\n" for key, value in settings.items())

    (project / "hosts.yml").write_text(
        "staging:\n  hosts:\n" + "".join(server(index, name, settings) for index, (name, settings) in enumerate(sites.items()))
        + groups)


def assert_each_refused_before_any_change(rc, output, refusals):
    """Each host's run stopped in the settings check with its message."""
    assert rc != 0, output
    assert "Provision the web servers" not in output
    flat = " ".join(output.split())
    for host, message in refusals.items():
        recap = re.search(rf"{re.escape(host)}\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
        assert recap, output
        assert tuple(map(int, recap.groups())) == (0, 0, 1), (host, output)
        assert message in flat, (message, output)


def test_a_site_directory_outside_the_places_sites_live_is_refused(project):
    """A site's root or data directory must lie below the site user's home,
    /srv, /var/www or /opt: the deploy would otherwise chown and fill a
    system directory or another account's."""
    bad = {
        "root.example.com": {"site_root": "/root/sites/superlists"},
        "sbin.example.com": {"site_root": "/usr/local/sbin"},
        "bob.example.com": {"site_root": "/home/bob/sites/superlists"},
        "srv.example.com": {"site_root": "/srv"},
        "pg.example.com": {"site_data_dir": "/var/lib/postgresql"},
        "varlib.example.com": {"site_data_dir": "/var/lib/superlists"},
        "boot.example.com": {"site_data_dir": "/boot/superlists"},
        # Inside the site's releases: gone with the release.
        "release.example.com": {"site_data_dir": "/home/elspeth/sites/release.example.com/current/data"},
    }
    several_sites(project, bad)
    rc, output = run_site(project)
    assert_each_refused_before_any_change(rc, output, {
        host: f"{name} = {json.dumps(value)} is invalid for {host}"
        for host, settings in bad.items() for name, value in settings.items()})


def test_a_host_that_is_both_a_web_server_and_a_load_balancer_is_refused(project):
    """HAProxy and nginx would both take ports 80 and 443 on it."""
    a_fleet(project, database_server="db1.example.com")
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text() + "        superlists-staging.example.com: {}\n")
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "lb")
    assert "superlists-staging.example.com is in group web too" in " ".join(output.split()), output


@pytest.mark.parametrize("place", [
    # On one database server.
    ({"database_server": "db1.example.com"}, "    db:\n      hosts:\n        db1.example.com:\n"
     "          ansible_connection: community.docker.docker\n          ansible_host: no-such-db\n"
     "          host_hardening_ssh_allow_users: [admin]\n"),
    # In the PostgreSQL of the one server both sites run on.
    ({"database_engine": "postgresql", "ansible_host": "no-such-server"}, ""),
], ids=["database-server", "same-host"])
def test_two_sites_whose_databases_would_be_one_are_refused(project, place):
    settings, db_group = place
    several_sites(project, {
        "a-b.example": {"site_service_user": "ab-web", **settings},
        "a.b.example": {"site_service_user": "a-b-web", **settings},
    }, groups="  children:\n" + db_group if db_group else "")
    rc, output = run_site(project)
    message = 'database_name = "a_b_example" is invalid for {}: the database of {} too'
    assert_each_refused_before_any_change(rc, output, {
        "a-b.example": message.format("a-b.example", "a.b.example"),
        "a.b.example": message.format("a.b.example", "a-b.example")})


def test_a_database_name_postgresql_reserves_is_refused(project):
    """pg_hba.conf reads all, sameuser, samerole and replication as
    keywords, not names; postgres and the templates are the server's own;
    pg_ starts the server's own roles."""
    names = ["all", "sameuser", "samerole", "replication", "postgres", "template0", "template1", "ALL"]
    sites = {f"site{index}.example.com": {"database_engine": "postgresql", "database_name": name}
             for index, name in enumerate(names)}
    # A domain whose database name is one of them.
    sites["postgres"] = {"database_engine": "postgresql"}
    sites["pg.example.com"] = {"database_engine": "postgresql"}
    several_sites(project, sites)
    rc, output = run_site(project)
    assert_each_refused_before_any_change(rc, output, {
        host: f"database_name = {json.dumps(settings.get('database_name', host.replace('.', '_')))} is invalid for {host}"
        for host, settings in sites.items()})
