"""The converged state of every site, as an operator would check it by hand."""

import gzip
import http.client
import re

import pytest

from conftest import SITE_USER, repo_head

CSS = "/static/bootstrap/css/bootstrap.min.css"


@pytest.mark.parametrize("package", ["python3", "python3-venv", "git", "nginx"])
def test_packages_installed(site, package):
    assert site.host.package(package).is_installed


def test_site_user_is_not_root(site):
    user = site.host.user(SITE_USER)
    assert user.exists
    assert user.uid >= 1000
    assert user.home == f"/home/{SITE_USER}"


def test_service_user_is_a_system_user_without_login(site):
    user = site.host.user(site.service_user)
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"
    assert not site.host.file(user.home).exists
    assert site.service_user != SITE_USER


@pytest.mark.parametrize(
    "path, owner, group, mode",
    [
        ("", SITE_USER, SITE_USER, 0o755),
        ("/releases", SITE_USER, SITE_USER, 0o755),
        ("/shared", SITE_USER, "{service}", 0o750),
        ("/shared/data", "{service}", "{service}", 0o700),
    ],
)
def test_site_directories(site, path, owner, group, mode):
    d = site.host.file(site.root + path)
    assert d.is_directory
    assert d.user == owner.format(service=site.service_user)
    assert d.group == group.format(service=site.service_user)
    assert d.mode == mode


def test_current_points_at_a_complete_release_of_the_deployed_commit(site):
    current = site.host.file(f"{site.root}/current")
    assert current.is_symlink
    commit = repo_head()
    assert current.linked_to == f"{site.root}/releases/{commit}"
    assert site.deployed_commit() == commit
    release = f"{site.root}/releases/{commit}"
    assert site.host.file(f"{release}/manage.py").is_file
    assert site.host.file(f"{release}/.venv/bin/gunicorn").is_file
    assert site.host.file(f"{release}{CSS}").is_file
    # The code ships without the repository's history.
    assert not site.host.file(f"{release}/.git").exists


def env_values(file):
    return dict(line.split("=", 1) for line in file.content_string.splitlines() if line and not line.startswith("#"))


def test_env_file_is_private_and_production(site):
    env = site.host.file(f"{site.root}/shared/env")
    assert (env.user, env.group, env.mode) == (SITE_USER, site.service_user, 0o640)
    values = env_values(env)
    assert values["DJANGO_DEBUG_FALSE"] == "1"
    assert values["DJANGO_ALLOWED_HOSTS"] == site.domain
    assert values["DJANGO_DB_PATH"] == f"{site.data_dir}/db.sqlite3"
    assert "DJANGO_SECRET_KEY" not in values


def test_secret_key_is_private_and_long(site):
    secret = site.host.file(f"{site.root}/shared/secret.env")
    assert (secret.user, secret.group, secret.mode) == (SITE_USER, site.service_user, 0o640)
    assert len(env_values(secret)["DJANGO_SECRET_KEY"]) >= 50


def test_secret_key_never_reaches_the_logs(site):
    """sudo logs every command Ansible runs as the site user; the key must
    not be on any of them (nor anywhere else in the journal)."""
    key = env_values(site.host.file(f"{site.root}/shared/secret.env"))["DJANGO_SECRET_KEY"]
    journal = site.host.run("journalctl --no-pager -q")
    assert journal.rc == 0
    assert "COMMAND=" in journal.stdout, "sudo's log lines are missing from the journal"
    assert key not in journal.stdout


def test_manage_command_runs_with_the_sites_settings(site):
    out = site.host.check_output(f"sudo -u {site.service_user} {site.root}/manage shell --no-imports -c "
                                 "'from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)'")
    assert out == f"False ['{site.domain}']"


def test_database_is_where_the_inventory_puts_it(site):
    """SQLite in the data directory; or, for a site whose database_server is
    set, PostgreSQL there, with no SQLite file made."""
    out = site.host.check_output(f"sudo -u {site.service_user} {site.root}/manage shell --no-imports -c "
                                 "'from django.db import connection as c; print(c.vendor, c.settings_dict[\"HOST\"])'")
    db = site.host.file(f"{site.data_dir}/db.sqlite3")
    if site.database_server:
        assert out == f"postgresql {site.database_server}"
        assert not db.exists
    else:
        assert out == "sqlite "
        assert db.is_file
        assert db.user == site.service_user
    assert not site.host.file(f"{site.root}/shared/db.sqlite3").exists


def test_gunicorn_units_active_and_enabled(site):
    for unit in (f"{site.unit}.socket", f"{site.unit}.service"):
        svc = site.host.service(unit)
        assert svc.is_running, unit
        assert svc.is_enabled, unit


def test_gunicorn_logs_no_error(site):
    """Not at start, not since: e.g. no control socket it may not create
    (gunicorn 25+ makes one by default, in a home the service user lacks)."""
    log = site.host.check_output(f"journalctl --no-pager -q -o cat -u {site.unit}.service")
    assert "Booting worker" in log, "gunicorn's own log lines are missing"
    assert "[ERROR]" not in log, [line for line in log.splitlines() if "[ERROR]" in line]


def test_gunicorn_runs_as_the_service_user(site):
    pid = site.main_pid()
    assert pid != "0"
    assert site.host.check_output(f"stat -c %U /proc/{pid}") == site.service_user
    children = site.host.check_output(f"cat /proc/{pid}/task/{pid}/children").split()
    assert children, "gunicorn has no workers"
    workers = {site.host.check_output(f"stat -c %U /proc/{child}") for child in children}
    assert workers == {site.service_user}


@pytest.mark.parametrize("path", ["{root}/current/manage.py", "{root}/current/.venv/bin/gunicorn",
                                  "{root}/shared/env", "{root}/manage"])
def test_service_user_may_not_change_code_or_settings(site, path):
    """By file permissions, outside any sandbox."""
    target = path.format(root=site.root)
    assert site.host.file(target).exists
    attempt = site.host.run(f"sudo -u {site.service_user} sh -c ': >> {target}'")
    assert attempt.rc != 0
    assert "Permission denied" in attempt.stderr, attempt.stderr


def test_socket_under_run_only_nginx_may_use(site):
    listen = site.host.check_output(f"systemctl show -p Listen --value {site.unit}.socket")
    path = listen.split(" ")[0]
    assert path.startswith("/run/")
    sock = site.host.file(path)
    assert sock.is_socket
    assert sock.user == "www-data"
    assert sock.mode == 0o600


def test_nginx_running_enabled_and_config_clean(site):
    nginx = site.host.service("nginx")
    assert nginx.is_running
    assert nginx.is_enabled
    assert site.host.run("nginx -t").rc == 0
    assert not site.host.file("/etc/nginx/sites-enabled/default").exists


def test_home_page_answers_by_domain(site):
    status, _, body = site.request("GET", "/")
    assert status == 200
    assert "To-Do" in body


def test_css_is_served_by_nginx(site):
    status, headers, body = site.request("GET", CSS)
    assert status == 200
    assert headers.get("Content-Type", "").startswith("text/css")
    assert len(body) > 100_000


def test_404_shows_no_debug_page(site):
    status, _, body = site.request("GET", "/lists/999999999/")
    assert status == 404
    assert "DEBUG = True" not in body
    assert "Traceback" not in body
    assert "URLconf" not in body


def test_foreign_host_is_refused(site):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        site.http_request("GET", "/", host_header="evil.example.com")


def test_list_can_be_created_over_https(site):
    assert re.fullmatch(r"/lists/\d+/", site.start_list("converge+check"))


@pytest.mark.parametrize(
    "path, writable",
    [
        ("{root}/shared/data/sandbox-probe", True),
        ("{root}/shared/sandbox-probe", False),
        ("{root}/current/sandbox-probe", False),
        ("{root}/sandbox-probe", False),
        ("/etc/sandbox-probe", False),
        ("/usr/local/sandbox-probe", False),
    ],
)
def test_gunicorn_may_write_only_the_data_directory(site, path, writable):
    """Tried inside the running gunicorn's own mount namespace, as its user."""
    pid = site.main_pid()
    target = path.format(root=site.root)
    user = site.service_user
    attempt = site.host.run(f"nsenter -t {pid} -m -- setpriv --reuid={user} --regid={user} --init-groups "
                            f"sh -c 'touch {target} && rm {target}'")
    assert (attempt.rc == 0) == writable, attempt.stderr
    if not writable:
        # Refused by the sandbox, not merely by file permissions.
        assert "Read-only file system" in attempt.stderr, attempt.stderr


def test_gunicorn_unit_is_sandboxed(site):
    props = dict(
        line.split("=", 1)
        for line in site.host.check_output(
            f"systemctl show -p NoNewPrivileges,ProtectSystem,ProtectHome,PrivateTmp,CapabilityBoundingSet {site.unit}.service"
        ).splitlines()
    )
    assert props == {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }


def test_text_static_files_are_sent_precompressed_to_browsers_that_accept_gzip(site):
    release = f"{site.root}/releases/{site.deployed_commit()}"
    packed_file = site.host.file(f"{release}{CSS}.gz")
    assert packed_file.is_file
    assert packed_file.user == SITE_USER
    _, plain_headers, plain = site.request("GET", CSS, raw=True)
    status, headers, packed = site.request("GET", CSS, headers={"Accept-Encoding": "gzip, deflate, br"}, raw=True)
    assert status == 200
    assert "Content-Encoding" not in plain_headers
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Content-Type"] == plain_headers["Content-Type"] == "text/css"
    # The same file, in a fraction of the bytes.
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 4
