"""The fleet: visitors reach the site through the load balancer (HAProxy on
fleet-lb, published on 127.0.0.1:18462 and :18463), which sends them to two
web servers that share one PostgreSQL database on fleet-db. A deploy builds
the release on both, migrates once, and switches them one at a time, each
out of the load balancer's rotation while it does.

The tests run in order: they share the site and each leaves it serving."""

import json
import re
import subprocess
import time
import uuid

import pytest
import testinfra
from app_changes import MODELS, add_field, clone, commit, git, migration
from conftest import Site, repo_head, try_playbook
from httpload import Load

DOMAIN = "superlists-fleet.localhost"
WEB_SERVERS = ["fleet-web1", "fleet-web2"]
BACKEND = DOMAIN  # the site's backend on the load balancer (its short name)
SITE_ROOT = f"/home/elspeth/sites/{DOMAIN}"

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
    return {"repo": repo, "v1": repo_head(), "v2": v2, "v3": v3}


def deploy(releases, version):
    return try_playbook("playbooks/deploy.yml", "-e", f"app_repo={releases['repo']}", "-e",
                        f"app_version={releases[version]}")


def plain(output):
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def task_results(text, task):
    """(result, host) of each run of a task in a run's folded output, in
    order: the lines between its header and the next task's."""
    results = []
    for segment in re.findall(rf"TASK \[{re.escape(task)}\](.*?)(?=TASK \[|PLAY RECAP)", text):
        results += re.findall(r"(ok|changed|skipping|failed|fatal): \[([\w-]+)", segment)
    return results


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


def test_both_web_servers_serve_visitors(lb_site):
    probe = uuid.uuid4().hex
    for _ in range(20):
        assert lb_site.request("GET", f"/?probe={probe}")[0] == 200
    counts = {name: int(host(name).run(f"grep -c {probe} /var/log/nginx/access.log").stdout.strip() or 0)
              for name in WEB_SERVERS}
    assert all(count >= 5 for count in counts.values()), counts


def test_web_servers_answer_only_the_load_balancer():
    probe = ("import socket, sys\n"
             "try:\n    socket.create_connection((sys.argv[1], 443), timeout=3).close(); print('open')\n"
             "except OSError as e:\n    print(type(e).__name__)")
    for name in WEB_SERVERS:
        assert host("fleet-lb").check_output("python3 -c %s %s", probe, name) == "open"
        # The database server is on the same network, and is not let in.
        assert host("fleet-db").check_output("python3 -c %s %s", probe, name) in ("TimeoutError", "timeout")


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
    with Load(f"https://{DOMAIN}:18463/", connect_to=("127.0.0.1", 18463)) as load:
        started = time.monotonic()
        rc, output = deploy(releases, "v2")
        seconds = time.monotonic() - started
    summary = load.summary()
    print(f"rolling deploy v1 -> v2: {seconds:.1f} s; load through the load balancer: {summary}")
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
    drained = task_results(text, "release : Take the web server out of the load balancer's rotation")
    put_back = task_results(text, "release : Put the web server back into the load balancer's rotation")
    assert [result for result in drained + put_back if result[0] == "changed"] == [
        ("changed", "fleet-web1"), ("changed", "fleet-web2"), ("changed", "fleet-web1"), ("changed", "fleet-web2")]
    assert text.find("changed: [fleet-web1 -> fleet-lb") < text.find("changed: [fleet-web2 -> fleet-lb")
    order = [m.group(1) for m in re.finditer(r"TASK \[release : (Take the web server out|Put the web server back)", text)]
    assert order[:4] == ["Take the web server out", "Put the web server back"] * 2, order
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
    # And the site saves lists again, on either server.
    lb_site.start_list("made-after-the-revert")


def test_a_web_server_that_stops_answering_is_taken_out_and_put_back(lb_site):
    with Load(f"https://{DOMAIN}:18463/", connect_to=("127.0.0.1", 18463)) as load:
        time.sleep(3)
        frozen = time.monotonic()
        # Every process on fleet-web2 stops at once, as on a server that hangs.
        subprocess.run(["docker", "pause", "fleet-web2"], check=True)
        try:
            assert wait_for(lambda: lb_states()["fleet-web2"].startswith("DOWN"), 15), lb_states()
            down = time.monotonic()
            time.sleep(5)
        finally:
            subprocess.run(["docker", "unpause", "fleet-web2"], check=True)
        thawed = time.monotonic()
        assert wait_for(lambda: lb_states()["fleet-web2"] == "UP", 15), lb_states()
        back = time.monotonic()
        time.sleep(3)
    summary = load.summary()
    after_down = load.summary(since=down)
    print(f"web server frozen: out of rotation after {down - frozen:.1f} s, back {back - thawed:.1f} s after it "
          f"answered again; load: {summary}; failures: {[(round(o.started - frozen, 1), o.error) for o in load.failures()]}")
    # Only requests sent to fleet-web2 before it was taken out may fail (each
    # client waits for one until its timeout); none after.
    assert after_down["failed"] == 0, after_down
    assert summary["failed"] <= load.concurrency, summary
    assert summary["requests"] - summary["failed"] >= 50
