"""The fleet: visitors reach the site through the load balancer (HAProxy on
fleet-lb, published on 127.0.0.1:18462 and :18463), which sends them to two
web servers that share one PostgreSQL database on fleet-db. A deploy builds
the release on both, migrates once, and switches them one at a time, each
out of the load balancer's rotation while it does.

The tests run in order: they share the site and each leaves it serving."""

import http.client
import json
import os
import re
import ssl
import subprocess
import time
import uuid
from shlex import quote

import pytest
import testinfra
from app_changes import MODELS, add_field, clone, commit, git, migration
from conftest import INVENTORY_DIR, PROJECT_DIR, Site, repo_head, run_playbook, try_playbook
from httpload import Load

DOMAIN = "superlists-fleet.localhost"
WEB_SERVERS = ["fleet-web1", "fleet-web2"]
BACKEND = DOMAIN  # the site's backend on the load balancer (its short name)
SITE_ROOT = f"/home/elspeth/sites/{DOMAIN}"
SERVICE_USER = "superlists-staging"

# v3 adds a column that v2 cannot save items without, and its home page
# fails on fleet-web2 only: the deploy fails there, after fleet-web1 switched.
MIGRATION_NOT_NULL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lists", "0002_item_note")]
    operations = [migrations.AddField("item", "code", models.IntegerField(default=0), preserve_default=False)]
'''

state = {}


def host(name):
    return testinfra.get_host(f"docker://{name}")


@pytest.fixture(scope="module")
def lb_site():
    """The site as visitors reach it: through the load balancer."""
    return Site(DOMAIN, "staging", "fleet-lb", host("fleet-lb"), 18462, 18463, {})


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    repo = clone(tmp_path_factory.mktemp("releases") / "repo")
    base = (repo / "app/lists/templates/base.html").read_text()
    v2 = commit(repo, "v2: a note on each item", {
        MODELS: add_field(repo, "note"),
        "app/lists/migrations/0002_item_note.py": migration("0001_initial", "note"),
        "app/lists/templates/base.html": base.replace("</body>", "<!-- release v2 -->\n</body>"),
    })
    views = (repo / "app/lists/views.py").read_text()
    v3 = commit(repo, "v3: a column v2 cannot save items with, and a home page that fails on fleet-web2", {
        MODELS: add_field(repo, "code", "models.IntegerField()"),
        "app/lists/migrations/0003_item_code.py": MIGRATION_NOT_NULL,
        "app/lists/views.py": "import socket\n" + views.replace(
            "def home_page(request):\n",
            "def home_page(request):\n    if socket.gethostname() == 'fleet-web2':\n"
            "        raise RuntimeError('v3 fails on fleet-web2')\n"),
    })
    # v4, from v2: a change of code only, deployed and then rolled back.
    git(repo, "checkout", "--quiet", "-b", "v4", v2)
    v4 = commit(repo, "v4: a new page title, no migration", {
        "app/lists/templates/base.html": base.replace("</body>", "<!-- release v4 -->\n</body>"),
    })
    return {"repo": repo, "v1": repo_head(), "v2": v2, "v3": v3, "v4": v4}


def deploy(releases, version):
    return try_playbook("playbooks/deploy.yml", "-e", f"app_repo={releases['repo']}", "-e",
                        f"app_version={releases[version]}")


def rollback(releases, *extra):
    return try_playbook("playbooks/rollback.yml", "-e", f"app_repo={releases['repo']}", *extra)


def under_load(label, run):
    """run() while clients load the site through the load balancer: its rc
    and output, and the load's summary. The time and the load are printed."""
    with Load(f"https://{DOMAIN}:18463/", connect_to=("127.0.0.1", 18463)) as load:
        started = time.monotonic()
        rc, output = run()
        seconds = time.monotonic() - started
    summary = load.summary()
    print(f"{label}: {seconds:.1f} s; load through the load balancer: {summary}")
    return rc, output, summary


def plain(output):
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def task_results(text, task):
    """(result, host) of each run of a task in a run's folded output, in
    order: the lines between its header and the next task's."""
    results = []
    for segment in re.findall(rf"TASK \[{re.escape(task)}\](.*?)(?=TASK \[|PLAY RECAP)", text):
        results += re.findall(r"(ok|changed|skipping|failed|fatal): \[([\w-]+)", segment)
    return results


def rotation_changes(text):
    """("out" or "back", host) for each web server a run took out of the
    load balancer's rotation or put back, in the order it did."""
    changes = []
    for task in re.finditer(r"TASK \[release : (?:Take the web server (out) of|Put the web server (back) into) the load "
                            r"balancer's rotation\](.*?)(?=TASK \[|PLAY RECAP)", text):
        what = task.group(1) or task.group(2)
        changes += [(what, name) for name in re.findall(r"changed: \[([\w-]+)", task.group(3))]
    return changes


def lb_states():
    """HAProxy's view of the site's web servers, from its runtime API."""
    reader = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); "
              "s.sendall(b'show stat\\n'); d = b''\n"
              "while (c := s.recv(65536)): d += c\n"
              "print(d.decode())")
    out = subprocess.run(["docker", "exec", "fleet-lb", "python3", "-c", reader], check=True, capture_output=True,
                         text=True).stdout
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    return {row[1]: row[17] for row in rows if row[0] == BACKEND and row[1] in WEB_SERVERS}


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def serving(name):
    return host(name).file(f"{SITE_ROOT}/current/REVISION").content_string.strip()


def database(sql):
    """A query on the site's database, as postgres on the database server."""
    out = host("fleet-db").check_output(
        "runuser -u postgres -- psql -At -d superlists_fleet_localhost -c %s", sql)
    return out.splitlines()


def test_the_site_answers_through_the_load_balancer(lb_site):
    status, _, body = lb_site.request("GET", "/health/")
    assert status == 200, body
    assert json.loads(body)["revision"] == repo_head()
    status, headers, _ = lb_site.http_request("GET", "/")
    assert status == 301 and headers["Location"].startswith(f"https://{DOMAIN}")
    assert lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}


def test_the_load_balancer_checks_each_web_server_by_its_health_page():
    config = host("fleet-lb").file("/etc/haproxy/haproxy.cfg").content_string
    assert f"http-check send meth GET uri /health/ ver HTTP/1.1 hdr Host {DOMAIN}" in config
    # Over HTTPS, against each web server's own certificate.
    assert "ssl verify required ca-file" in config
    for name in WEB_SERVERS:
        assert re.search(rf"^\s*server {name} {name}:443$", config, re.M), config


def test_the_load_balancer_listens_on_the_ports_it_is_given():
    """loadbalancer_https_port is 8443 here (published on 18463), and the
    firewall opens it; a client has 10 s to send a request's headers."""
    lb = host("fleet-lb")
    config = lb.file("/etc/haproxy/haproxy.cfg").content_string
    assert re.search(r"^\s*bind :8443 ssl .* strict-sni$", config, re.M), config
    assert re.search(r"^\s*timeout http-request 10s$", config, re.M), config
    assert lb.socket("tcp://0.0.0.0:8443").is_listening
    assert not lb.socket("tcp://0.0.0.0:443").is_listening
    assert re.search(r"tcp dport \{[^}]*\b8443\b", lb.check_output("nft list ruleset")), "8443 is not open"


def test_a_name_the_fleet_does_not_serve_gets_no_site(lb_site):
    """As nginx on a single server: no page and no certificate for a name
    that no site of the fleet has."""
    for request in (lb_site.request, lb_site.http_request):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            request("GET", "/", host_header="unknown.example.net")
    with pytest.raises(ssl.SSLError):
        lb_site.connect_tls(server_name="unknown.example.net").close()
    lb_site.connect_tls(server_name=DOMAIN).close()
    assert lb_site.request("GET", "/")[0] == 200


def secret_key_digests():
    """The sha256 of each web server's secret.env (never the key itself)."""
    return {name: host(name).check_output(f"sha256sum {SITE_ROOT}/shared/secret.env").split()[0]
            for name in WEB_SERVERS}


def manage_shell(name, code):
    """The last line Python code prints when the site's manage command runs
    it on a web server: with the site's settings (and secret key), as the
    site's service user."""
    out = host(name).check_output(f"runuser -u {SERVICE_USER} -- {SITE_ROOT}/manage shell -c %s", code)
    return out.splitlines()[-1]


def accepted_across_web_servers():
    """What each web server makes of a value signed, and a session (kept in
    the shared database) made, on the other one."""
    seen = {}
    for maker, reader in (WEB_SERVERS, WEB_SERVERS[::-1]):
        signed = manage_shell(maker, "from django.core import signing; print(signing.dumps('fleet-probe', salt='probe'))")
        session = manage_shell(maker, "from django.contrib.sessions.backends.db import SessionStore\n"
                                      "s = SessionStore(); s['probe'] = 'made elsewhere'; s.create(); print(s.session_key)")
        seen[reader] = (
            manage_shell(reader, "from django.core import signing\n"
                                 f"try: print(signing.loads({signed!r}, salt='probe'))\n"
                                 "except signing.BadSignature: print('bad signature')"),
            manage_shell(reader, "from django.contrib.sessions.backends.db import SessionStore\n"
                                 f"print(SessionStore(session_key={session!r}).get('probe', 'no session'))"))
    return seen


def test_the_site_has_one_secret_key_on_all_its_web_servers():
    """A value signed, or a session made, on one web server is good on the
    other: behind the load balancer, a visitor's next request may go there."""
    digests = secret_key_digests()
    assert len(set(digests.values())) == 1, digests
    for name in WEB_SERVERS:
        key = host(name).file(f"{SITE_ROOT}/shared/secret.env")
        assert (key.user, key.group, key.mode) == ("elspeth", SERVICE_USER, 0o640), name
        assert not host(name).file(f"{SITE_ROOT}/shared/.secret.env.previous").exists, name
    assert accepted_across_web_servers() == {name: ("fleet-probe", "made elsewhere") for name in WEB_SERVERS}


def test_a_web_server_without_the_key_is_given_the_sites_own():
    """fleet-web2 as a web server added to the site later (no key of its
    own yet) is provisioned alone: it gets fleet-web1's key, not a new one,
    and its gunicorn serves with it."""
    before = secret_key_digests()["fleet-web1"]
    host("fleet-web2").check_output(f"rm {SITE_ROOT}/shared/secret.env")
    output = run_playbook("playbooks/provision.yml", "--limit", "fleet-web2")
    assert secret_key_digests() == {name: before for name in WEB_SERVERS}
    assert "DJANGO_SECRET_KEY" not in output
    assert accepted_across_web_servers() == {name: ("fleet-probe", "made elsewhere") for name in WEB_SERVERS}
    assert wait_for(lambda: lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}, 15), lb_states()


def test_both_web_servers_serve_visitors(lb_site):
    probe = uuid.uuid4().hex
    for _ in range(20):
        assert lb_site.request("GET", f"/?probe={probe}")[0] == 200
    counts = {name: int(host(name).run(f"grep -c {probe} /var/log/nginx/access.log").stdout.strip() or 0)
              for name in WEB_SERVERS}
    assert all(count >= 5 for count in counts.values()), counts


PROBE = ("import socket, sys\n"
         "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close(); print('open')\n"
         "except OSError as e:\n    print(type(e).__name__)")


def reaches(source, target, port):
    return host(source).check_output("python3 -c %s %s %s", PROBE, target, str(port))


def test_web_servers_answer_only_the_load_balancer():
    for name in WEB_SERVERS:
        assert reaches("fleet-lb", name, 443) == "open"
        # The database server is on the same network, and is not let in.
        assert reaches("fleet-db", name, 443) in ("TimeoutError", "timeout")


def test_the_database_server_answers_only_the_web_servers():
    for name in WEB_SERVERS:
        assert reaches(name, "fleet-db", 5432) == "open"
    # The load balancer is on the same network, and is not let in.
    assert reaches("fleet-lb", "fleet-db", 5432) in ("TimeoutError", "timeout")
    assert reaches("fleet-lb", "fleet-db", 22) == "open"


PEBBLE_ROOT = "/tmp/pebble-root.pem"


def served_certificate():
    """The certificate the load balancer shows for the site, checked against
    the root of the ACME CA (Pebble, on fleet-lb; its root is made afresh
    each time it starts): (verify result, serial, subject and issuer)."""
    lb = host("fleet-lb")
    lb.check_output(
        "python3 -c 'import urllib.request, sys; "
        "sys.stdout.write(urllib.request.urlopen(\"https://127.0.0.1:15000/roots/0\").read().decode())' "
        f"> {PEBBLE_ROOT}")
    out = lb.check_output(
        f"openssl s_client -connect 127.0.0.1:8443 -servername {DOMAIN} -CAfile {PEBBLE_ROOT} "
        f"-verify_hostname {DOMAIN} </dev/null 2>/dev/null | tee /tmp/lb-s-client.txt | openssl x509 -noout -serial -issuer")
    verify = re.search(r"Verify return code: (\d+ \([^)]*\))", lb.file("/tmp/lb-s-client.txt").content_string)
    return verify.group(1), re.search(r"serial=(\w+)", out).group(1), out


def test_the_load_balancer_shows_the_certificate_the_acme_ca_issued(lb_site):
    verify, _, out = served_certificate()
    assert verify == "0 (ok)", out
    assert "Pebble" in out
    # The CA's challenges go to certbot (not running now: 503), over HTTP;
    # everything else is sent to HTTPS.
    assert lb_site.http_request("GET", "/.well-known/acme-challenge/probe-token")[0] == 503
    assert lb_site.http_request("GET", "/")[0] == 301


def test_a_renewed_certificate_is_served_after_a_reload():
    """certbot's deploy hook writes HAProxy's file and reloads it: the new
    certificate is served, and HAProxy's master process was not restarted."""
    lb = host("fleet-lb")
    _, serial_before, _ = served_certificate()
    master_before = lb.check_output("systemctl show --property MainPID --value haproxy")
    lb.check_output("certbot renew --force-renewal --no-random-sleep-on-renew --quiet")
    verify, serial_after, out = served_certificate()
    assert verify == "0 (ok)", out
    assert serial_after != serial_before
    assert lb.check_output("systemctl show --property MainPID --value haproxy") == master_before
    assert lb.file(f"/etc/haproxy/tls/{BACKEND}.pem").mode == 0o600


def test_the_database_password_is_in_no_log_process_list_or_world_readable_file():
    password = host("fleet-db").file("/etc/postgresql-site-passwords/superlists_fleet_localhost").content_string
    assert len(password) >= 40
    # The password reaches each server as a pattern file (0600, so not among
    # the world-readable files), not on a command line.
    find = ("find /etc /home /root /srv /opt /tmp /run /var -xdev -type f -perm -o=r -size -5M "
            "-exec grep -lF -f /root/.password-pattern {} + 2>/dev/null; true")
    for name in ["fleet-lb", "fleet-db", *WEB_SERVERS]:
        server = host(name)
        assert password not in server.check_output("ps -eo args"), name
        assert password not in server.run("journalctl --no-pager -q -o cat").stdout, name
        subprocess.run(["docker", "exec", "-i", name, "sh", "-c", "umask 077 && cat > /root/.password-pattern"],
                       input=password, text=True, check=True)
        try:
            assert server.run(find).stdout.strip() == "", name
        finally:
            server.run("rm -f /root/.password-pattern")
    for name in WEB_SERVERS:
        vault = host(name).file(f"{SITE_ROOT}/shared/vault.env")
        assert password in vault.content_string and vault.mode == 0o640


def test_a_list_is_the_same_on_both_web_servers(lb_site):
    path = lb_site.start_list("made-on-v1")
    state["list_on_v1"] = path
    for _ in range(6):
        status, _, body = lb_site.request("GET", path)
        assert status == 200 and "made-on-v1" in body


def test_a_rolling_deploy_with_a_migration_fails_no_request(lb_site, releases):
    rc, output, summary = under_load("rolling deploy v1 -> v2", lambda: deploy(releases, "v2"))
    assert rc == 0, output[-3000:]
    assert summary["requests"] >= 100
    assert summary["failed"] == 0, summary
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2
    text = plain(output)
    # Migrated once, on the first web server, before either switched.
    migrated = task_results(text, "database : Apply the release's database migrations")
    assert [result for result in migrated if result[0] != "skipping"] == [("changed", "fleet-web1")], migrated
    first_switch = text.find("TASK [release : Switch the site to release")
    assert -1 < text.find("TASK [database : Apply the release's database migrations]") < first_switch
    # One server at a time: fleet-web1 was back in rotation before fleet-web2 left it.
    assert rotation_changes(text) == [("out", "fleet-web1"), ("back", "fleet-web1"),
                                      ("out", "fleet-web2"), ("back", "fleet-web2")]
    # The operator's view: one line per server, and the time.
    for name in WEB_SERVERS:
        assert f"{name} ({DOMAIN}): serves {releases['v2'][:12]}, health ok, load balancer fleet-lb: UP" in text
    assert re.search(r"deploy took \d+ s in all", text)
    status, _, body = lb_site.request("GET", state["list_on_v1"])
    assert status == 200 and "made-on-v1" in body
    assert "release v2" in lb_site.request("GET", "/")[2]
    assert wait_for(lambda: lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}, 10), lb_states()


def test_a_release_failing_on_the_second_web_server_puts_the_first_back(lb_site, releases):
    state["list_on_v2"] = lb_site.start_list("made-on-v2")
    migrations_before = database("select name from django_migrations order by id")
    rc, output = deploy(releases, "v3")
    text = plain(output)
    assert rc != 0
    assert f"The deploy of {releases['v3'][:12]} to {DOMAIN} failed on fleet-web2 at" in text, text[-3000:]
    assert f"Reverted: the site serves {releases['v2'][:12]} again" in text
    # fleet-web1 had switched; both serve v2 again, on the database as it was.
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2
    assert database("select name from django_migrations order by id") == migrations_before
    assert "code" not in database("select column_name from information_schema.columns where table_name = 'lists_item'")
    for path, text_on_it in ((state["list_on_v1"], "made-on-v1"), (state["list_on_v2"], "made-on-v2")):
        status, _, body = lb_site.request("GET", path)
        assert status == 200 and text_on_it in body
    assert wait_for(lambda: lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}, 15), lb_states()
    # fleet-web1 left the rotation to switch, fleet-web2 to switch (and fail),
    # then fleet-web1 again to go back; both were put back.
    changes = rotation_changes(text)
    assert [name for what, name in changes if what == "out"] == ["fleet-web1", "fleet-web2", "fleet-web1"], changes
    assert [what for what, name in changes if name == "fleet-web1"] == ["out", "back"] * 2, changes
    assert [what for what, name in changes if name == "fleet-web2"] == ["out", "back"], changes
    # And the site saves lists again, on either server.
    lb_site.start_list("made-after-the-revert")


def test_a_rollback_behind_the_schema_is_refused_on_every_web_server(releases):
    """previous is v1, which does not know v2's migration; the database is
    shared, so it cannot be restored either. Nothing changes."""
    rc, output = rollback(releases)
    text = plain(output)
    assert rc != 0
    for name in WEB_SERVERS:
        assert f"The rollback of {releases['v1'][:12]} to {DOMAIN} failed on {name} at" in text, text[-3000:]
    assert "Refuse to run code behind the database's schema" in text
    assert f"{releases['v1'][:12]} is behind the database of {DOMAIN}" in text, text[-3000:]
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2
    rc, output = rollback(releases, "-e", f"rollback_to={releases['v1']}", "-e", "rollback_restore_database=true")
    assert rc != 0
    assert f"rollback_restore_database is not supported for {DOMAIN}, which 2 web servers serve" in plain(output)
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2


def test_a_rolling_rollback_fails_no_request(lb_site, releases):
    """v4 (code only) rolled out, then rolled back to v2 under load: one
    server at a time, each out of rotation while it switches."""
    rc, output = deploy(releases, "v4")
    assert rc == 0, output[-3000:]
    assert [serving(name) for name in WEB_SERVERS] == [releases["v4"]] * 2
    rc, output, summary = under_load("rolling rollback v4 -> v2", lambda: rollback(releases))
    assert rc == 0, output[-3000:]
    assert summary["requests"] >= 100
    assert summary["failed"] == 0, summary
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2
    text = plain(output)
    assert rotation_changes(text) == [("out", "fleet-web1"), ("back", "fleet-web1"),
                                      ("out", "fleet-web2"), ("back", "fleet-web2")]
    for name in WEB_SERVERS:
        assert f"{name} ({DOMAIN}): serves {releases['v2'][:12]}, health ok, load balancer fleet-lb: UP" in text
        log = host(name).file(f"{SITE_ROOT}/deploy.log").content_string.splitlines()
        assert log[-1].split()[2:] == ["rollback", releases["v4"][:12], "->", releases["v2"][:12], "ok"]
    assert re.search(r"rollback took \d+ s in all", text)
    assert "release v4" not in lb_site.request("GET", "/")[2]
    assert wait_for(lambda: lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}, 10), lb_states()


def promote(tmp_path, releases, version):
    staging_file = tmp_path / "staging-release.yml"
    live_file = tmp_path / "live-release.yml"
    staging_file.write_text(f"---\napp_version: {releases[version]}\n")
    live_file.write_text("---\napp_version: HEAD\n")
    rc, output = try_playbook("playbooks/promote.yml", "-e", f"app_repo={releases['repo']}",
                              "-e", f"promote_from={staging_file}", "-e", f"promote_to={live_file}")
    return rc, output, live_file.read_text()


def test_promotion_asks_every_web_server_of_staging(releases, tmp_path):
    """Promoted only when both web servers serve the version, healthy."""
    rc, output, live = promote(tmp_path, releases, "v2")
    assert rc == 0, output[-3000:]
    assert f"app_version: {releases['v2']}" in live
    asked = task_results(plain(output), "webserver : Ask each staging site's home page and /health/ what it serves")
    assert sorted(asked) == [("ok", "fleet-web1"), ("ok", "fleet-web2")], asked
    # fleet-web2 on v4 by hand (its link switched, gunicorn restarted): not promoted.
    web2 = host("fleet-web2")
    v4_dir = f"{SITE_ROOT}/releases/{releases['v4']}"
    switch = (f"runuser -u elspeth -- ln -sfn {v4_dir} {SITE_ROOT}/current && "
              f"systemctl restart gunicorn-{DOMAIN}.service")
    back = (f"runuser -u elspeth -- ln -sfn {SITE_ROOT}/releases/{releases['v2']} {SITE_ROOT}/current && "
            f"systemctl restart gunicorn-{DOMAIN}.service")
    web2.check_output(switch)
    try:
        rc, output, live = promote(tmp_path, releases, "v2")
    finally:
        web2.check_output(back)
    assert rc != 0
    assert f"it serves {releases['v4'][:12]}" in plain(output), plain(output)[-3000:]
    assert live == "---\napp_version: HEAD\n"


def container_address(name):
    return subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
                          check=True, capture_output=True, text=True).stdout.strip()


def out_and_back(label, stop, start, back_within):
    """Under load through the load balancer: stop() fleet-web2, wait until
    the load balancer takes it out of rotation, start() it, and wait until
    the load balancer puts it back. Checks and prints what the visitors saw:
    only requests sent to fleet-web2 before it was taken out may fail (each
    client waits for one until its timeout); none after."""
    with Load(f"https://{DOMAIN}:18463/", connect_to=("127.0.0.1", 18463)) as load:
        time.sleep(3)
        stopped = time.monotonic()
        stop()
        try:
            assert wait_for(lambda: lb_states()["fleet-web2"].startswith("DOWN"), 15), lb_states()
            down = time.monotonic()
            time.sleep(4)
        finally:
            start()
        started = time.monotonic()
        assert wait_for(lambda: lb_states()["fleet-web2"] == "UP", back_within), lb_states()
        back = time.monotonic()
        time.sleep(3)
    summary = load.summary()
    after_down = load.summary(since=down)
    print(f"{label}: out of rotation after {down - stopped:.1f} s, back {back - started:.1f} s after it was started "
          f"again; load: {summary}; failures: {[(round(o.started - stopped, 1), o.error) for o in load.failures()]}")
    assert after_down["failed"] == 0, after_down
    assert summary["failed"] <= load.concurrency, summary
    assert summary["requests"] - summary["failed"] >= 50


def test_a_web_server_that_stops_answering_is_taken_out_and_put_back():
    """Every process on fleet-web2 stops at once, as on a server that hangs."""
    out_and_back("web server frozen", lambda: subprocess.run(["docker", "pause", "fleet-web2"], check=True),
                 lambda: subprocess.run(["docker", "unpause", "fleet-web2"], check=True), 15)


def test_a_web_server_killed_outright_is_taken_out_and_put_back_once_it_boots():
    """fleet-web2 dies at once (its container killed, as a machine that loses
    power) and boots again: its site comes back by itself (systemd), and the
    load balancer sends it visitors again once its health checks pass."""
    address = container_address("fleet-web2")

    def boot():
        subprocess.run(["docker", "start", "fleet-web2"], check=True, capture_output=True)
        # The load balancer found the server by its name when it started; a
        # real server keeps its address across a reboot, and so must this one.
        assert container_address("fleet-web2") == address, "Docker gave fleet-web2 another address"

    out_and_back("web server killed", lambda: subprocess.run(["docker", "kill", "fleet-web2"], check=True,
                                                             capture_output=True), boot, 90)
    assert serving("fleet-web2") == serving("fleet-web1")


def write_journal(name, origin, target):
    """What a run cut short leaves on a web server: its journal, in root's
    directory, naming the release it came from and the one it went to."""
    journal = json.dumps({"from": origin, "to": target, "since": "2026-01-01T00:00:00Z"})
    host(name).check_output(f"printf %s {quote(journal)} > /var/lib/superlists-deploy/{DOMAIN}.journal")


def journal_left(name):
    return host(name).file(f"/var/lib/superlists-deploy/{DOMAIN}.journal").exists


def changed_hosts(text, task_prefix):
    """The hosts a task whose name begins with task_prefix changed."""
    hosts = []
    for segment in re.findall(rf"TASK \[{re.escape(task_prefix)}[^\]]*\](.*?)(?=TASK \[|PLAY RECAP)", text):
        hosts += re.findall(r"changed: \[([\w-]+)", segment)
    return hosts


def back_up_database(before, origin):
    """The database role's backup, as a deploy of release `before` from
    release `origin` takes it (on fleet-web1, for the site): rc, output."""
    return try_playbook(str(PROJECT_DIR / "molecule/release/database-hook.yml"), "-l", "fleet-web1",
                        "-e", "database_action=backup", "-e", "database_name=superlists_fleet_localhost",
                        "-e", f"site_service_user={SERVICE_USER}", "-e", f"release_commit={before}",
                        "-e", f"release_from_dir={SITE_ROOT}/releases/{origin}")


def test_a_run_cut_short_after_its_migration_is_undone_once_for_the_site(releases):
    """As a run killed after it migrated the shared database (to a schema
    the serving release cannot write: its table gone), before either web
    server switched, leaves the site: a journal on each. Both find the
    serving release cannot save a list; the database is put back once, by
    one of them, not once by each over the other's result."""
    never_deployed = "c0ffee" * 6 + "c0ff"
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2
    rc, output = back_up_database(never_deployed, releases["v2"])
    assert rc == 0, output[-3000:]
    before = database("select id, text from lists_item order by id")
    for name in WEB_SERVERS:
        write_journal(name, f"{SITE_ROOT}/releases/{releases['v2']}", f"{SITE_ROOT}/releases/{never_deployed}")
    database("drop table lists_item")
    rc, output = deploy(releases, "v2")
    text = plain(output)
    assert rc == 0, output[-3000:]
    assert text.count("had not switched: going back to the release that served") == 2, text[-3000:]
    assert changed_hosts(text, "database : Restore the database from") == ["fleet-web1"], text[-3000:]
    assert database("select id, text from lists_item order by id") == before
    for name in WEB_SERVERS:
        assert not journal_left(name)
        log = host(name).file(f"{SITE_ROOT}/deploy.log").content_string.splitlines()
        assert log[-1].split()[2:] == ["recover", releases["v2"][:12], "->", never_deployed[:12], "undone"]
    assert [serving(name) for name in WEB_SERVERS] == [releases["v2"]] * 2


def test_a_web_server_that_dies_mid_roll_is_left_out_and_the_next_run_converges_it(releases):
    """fleet-web2 dies (its container killed) right after the load balancer
    took it out to switch it, fleet-web1 having switched: the run finishes on
    fleet-web1 (it serves, in rotation, its lock released and journal
    closed), names fleet-web2, and fails. fleet-web2 boots; the next run
    brings it to the same release, back in rotation."""
    address = container_address("fleet-web2")
    current_task = ""
    killed = False
    lines = []
    run = subprocess.Popen(
        ["ansible-playbook", "-i", str(INVENTORY_DIR), "playbooks/deploy.yml", "-e", f"app_repo={releases['repo']}",
         "-e", f"app_version={releases['v4']}"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in run.stdout:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            lines.append(line)
            if line.startswith("TASK ["):
                current_task = line
            elif (not killed and "release : Take the web server out of the load balancer's rotation]" in current_task
                  and line.startswith("changed: [fleet-web2")):
                subprocess.run(["docker", "kill", "fleet-web2"], check=True, capture_output=True)
                killed = True
        run.wait(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    text = plain("".join(lines))
    assert killed, text[-3000:]
    assert run.returncode != 0
    assert "fleet-web2 could not be reached during the deploy, and was left as it was; the other web servers " \
           "finished it" in text, text[-3000:]
    assert f"fleet-web1 ({DOMAIN}): serves {releases['v4'][:12]}, health ok, load balancer fleet-lb: UP" in text
    assert f"fleet-web2 ({DOMAIN}): could not be reached, left as it was" in text
    web1 = host("fleet-web1")
    assert serving("fleet-web1") == releases["v4"]
    assert not journal_left("fleet-web1")
    assert not web1.file(f"/run/superlists-deploy/deploy-{DOMAIN}.lock").exists
    assert web1.file(f"{SITE_ROOT}/deploy.log").content_string.splitlines()[-1].split()[2:] == \
        ["deploy", releases["v2"][:12], "->", releases["v4"][:12], "ok"]
    assert wait_for(lambda: lb_states()["fleet-web1"] == "UP", 10), lb_states()

    subprocess.run(["docker", "start", "fleet-web2"], check=True, capture_output=True)
    assert container_address("fleet-web2") == address, "Docker gave fleet-web2 another address"
    subprocess.run(["docker", "exec", "fleet-web2", "systemctl", "is-system-running", "--wait"], capture_output=True)
    rc, output = deploy(releases, "v4")
    assert rc == 0, output[-3000:]
    assert [serving(name) for name in WEB_SERVERS] == [releases["v4"]] * 2
    assert not journal_left("fleet-web2")
    assert wait_for(lambda: lb_states() == {"fleet-web1": "UP", "fleet-web2": "UP"}, 30), lb_states()


def hba_rules():
    """pg_hba.conf's rules on the database server, each as its words."""
    text = host("fleet-db").check_output("cat /etc/postgresql/*/main/pg_hba.conf")
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_a_web_server_that_left_the_inventory_loses_its_database_access(lb_site):
    """A rule for a web server the inventory no longer has (planted: an
    address none of ours has) goes at the next provisioning of the database
    server; the web servers' rules and the local logins stay."""
    stale = "hostssl superlists_fleet_localhost superlists_fleet_localhost 10.99.99.99/32 scram-sha-256"
    # On a line of its own: the file need not end with one.
    append = f"printf '\\n%s\\n' '{stale}' >> \"$(echo /etc/postgresql/*/main/pg_hba.conf)\""
    host("fleet-db").check_output(f"runuser -u postgres -- sh -c {quote(append)}")
    assert stale.split() in hba_rules()
    run_playbook("playbooks/provision.yml", "--limit", "fleet-db")
    rules = hba_rules()
    assert stale.split() not in rules, rules
    for name in WEB_SERVERS:
        assert ["hostssl", "superlists_fleet_localhost", "superlists_fleet_localhost",
                f"{container_address(name)}/32", "scram-sha-256"] in rules, rules
    assert ["local", "all", "postgres", "peer"] in rules, rules
    # The site still reads and writes its database.
    lb_site.start_list("made-after-pg_hba-was-rewritten")


def test_the_database_is_backed_up_as_the_sites_own_role(releases):
    """pg_dump runs as the site's role (SET ROLE), not as the superuser it
    logs in as: a table in the site's database that only the superuser may
    read stops the backup."""
    database("create table superuser_only (secret text)")
    try:
        rc, output = back_up_database(releases["v4"], releases["v4"])
    finally:
        database("drop table superuser_only")
    assert rc != 0
    assert "permission denied for table superuser_only" in output, output[-3000:]


def site_connects_to_its_database(name):
    """Whether the site on a web server, with its own settings, as the user
    it runs as, connects to its database: (rc == 0, stderr)."""
    result = host(name).run(f"runuser -u {SERVICE_USER} -- {SITE_ROOT}/manage shell -c %s",
                            "from django.db import connection; connection.ensure_connection()")
    return result.rc == 0, result.stderr


def test_a_database_server_showing_another_certificate_is_refused():
    """The web servers check the database server against its own
    certificate (sslmode=verify-full): a certificate made elsewhere for the
    same name, as a server standing in for it would show, is refused (with
    sslmode=require it would be taken)."""
    db = host("fleet-db")
    ok, errors = site_connects_to_its_database("fleet-web1")
    assert ok, errors
    db.check_output("cp -a /etc/postgresql-certificate /root/certificate-saved && cd /etc/postgresql-certificate && "
                    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=fleet-db "
                    "-addext subjectAltName=DNS:fleet-db -keyout fleet-db.key -out fleet-db.crt 2>&1 && "
                    "chgrp postgres fleet-db.key && chmod 0640 fleet-db.key && systemctl reload postgresql")
    try:
        ok, errors = site_connects_to_its_database("fleet-web1")
        assert not ok
        assert "certificate verify failed" in errors, errors
    finally:
        db.check_output("rm -rf /etc/postgresql-certificate && mv /root/certificate-saved /etc/postgresql-certificate && "
                        "systemctl reload postgresql")
    ok, errors = site_connects_to_its_database("fleet-web1")
    assert ok, errors
