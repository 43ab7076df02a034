"""Safe releases, in the order an operator lives them: v1 is deployed by
converge; then v2 with a migration under load, a broken v3 (stopped before
the switch, and once more with that check off, reverted after it), a v3
whose migration fails (reverted), a concurrent deploy, a rollback to v1 with
the database restored, pruning, and the backup hook on PostgreSQL. The tests run in this order
and each leaves the site as the next expects."""

import json
import re
import subprocess
import time

import pytest

from app_changes import MODELS, add_field, clone, commit, git, migration
from conftest import INVENTORY_DIR, PROJECT_DIR, repo_head, run_playbook, try_playbook
from httpload import Load

MIGRATION_V3_ADD = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lists", "0002_item_note")]
    operations = [migrations.AddField("item", "priority", models.IntegerField(blank=True, null=True))]
'''
MIGRATION_V3_FAIL = '''from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this data migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("lists", "0003_item_priority")]
    operations = [migrations.RunPython(fail)]
'''

# A column without a default that the database requires: code that does not
# know of it cannot save an item any more.
MIGRATION_V3_NOT_NULL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lists", "0002_item_note")]
    operations = [migrations.AddField("item", "code", models.IntegerField(default=0), preserve_default=False)]
'''

state = {}


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """v1 is this repository's HEAD. v2 adds a field (a migration) and shows
    a marker; v3-broken's home page raises; v3-migration has a migration
    that succeeds and one after it that fails."""
    repo = clone(tmp_path_factory.mktemp("releases") / "repo")
    base = (repo / "app/lists/templates/base.html").read_text()
    v2 = commit(repo, "v2: a note on each item", {
        MODELS: add_field(repo, "note"),
        "app/lists/migrations/0002_item_note.py": migration("0001_initial", "note"),
        "app/lists/templates/base.html": base.replace("</body>", "<!-- release v2 -->\n</body>"),
    })
    views = (repo / "app/lists/views.py").read_text()
    v3_broken = commit(repo, "v3: a home page that fails", {
        "app/lists/views.py": views.replace("def home_page(request):\n",
                                            "def home_page(request):\n    raise RuntimeError('v3 is broken')\n"),
    })
    git(repo, "checkout", "--quiet", "-b", "broken-again", v2)
    v3_broken_late = commit(repo, "v3: a home page that fails, again", {
        "app/lists/views.py": views.replace("def home_page(request):\n",
                                            "def home_page(request):\n    raise RuntimeError('v3 is broken again')\n"),
    })
    git(repo, "checkout", "--quiet", "-b", "migration-fails", v2)
    v3_migration = commit(repo, "v3: a migration that fails", {
        MODELS: add_field(repo, "priority", "models.IntegerField(blank=True, null=True)"),
        "app/lists/migrations/0003_item_priority.py": MIGRATION_V3_ADD,
        "app/lists/migrations/0004_fails.py": MIGRATION_V3_FAIL,
    })
    broken_home = views.replace("def home_page(request):\n",
                                "def home_page(request):\n    raise RuntimeError('v3 is broken, after its migration')\n")
    git(repo, "checkout", "--quiet", "-b", "keeps-the-database", v2)
    v3_nullable = commit(repo, "v3: a column v2 can live with, and a home page that fails", {
        MODELS: add_field(repo, "late"),
        "app/lists/migrations/0003_item_late.py": migration("0002_item_note", "late"),
        "app/lists/views.py": broken_home,
    })
    git(repo, "checkout", "--quiet", "-b", "restores-the-database", v2)
    v3_not_null = commit(repo, "v3: a column v2 cannot save items with, and a home page that fails", {
        MODELS: add_field(repo, "code", "models.IntegerField()"),
        "app/lists/migrations/0003_item_code.py": MIGRATION_V3_NOT_NULL,
        "app/lists/views.py": broken_home,
    })
    return {"repo": repo, "v1": repo_head(), "v2": v2, "v3-broken": v3_broken, "v3-broken-late": v3_broken_late,
            "v3-migration": v3_migration, "v3-nullable": v3_nullable, "v3-not-null": v3_not_null}


def deploy(releases, version, *extra):
    """A new version as an operator deploys one: the deploy playbook alone (the
    servers were provisioned by the scenario's converge)."""
    return try_playbook("playbooks/deploy.yml", "-e", "deploy_target=staging", "-e", f"app_repo={releases['repo']}",
                        "-e", f"app_version={releases[version]}", *extra)


def plain(output):
    """A run's output as one line of text: without the colours Ansible adds
    under Molecule, and with the line breaks and indents of a wrapped message
    folded."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def health(site):
    status, _, body = site.request("GET", "/health/")
    return status, json.loads(body)


def query(site, sql):
    """A read-only query on the site's database, on the server."""
    script = ("import json, sqlite3, sys; db = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True); "
              "print(json.dumps(db.execute(sys.argv[2]).fetchall()))")
    out = site.host.check_output(f"python3 -c {quote(script)} {site.data_dir}/db.sqlite3 {quote(sql)}")
    return json.loads(out)


def quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def database_state(site):
    return {
        "migrations": query(site, "select app, name from django_migrations order by id"),
        "item_columns": [row[1] for row in query(site, "pragma table_info(lists_item)")],
        "items": query(site, "select id, text, list_id from lists_item order by id"),
    }


def assert_serves(site, releases, version):
    status, report = health(site)
    assert (status, report["revision"], report["database"]) == (200, releases[version], "ok")
    assert site.host.file(f"{site.root}/current").linked_to == f"{site.root}/releases/{releases[version]}"


def test_v1_serves_and_is_healthy(staging_site, releases):
    assert_serves(staging_site, releases, "v1")
    state["list_before_v2"] = staging_site.start_list("made-on-v1")


def test_v2_with_a_migration_deploys_under_load_without_a_failed_request(staging_site, releases):
    site = staging_site
    # What a backup interrupted before it was renamed into place leaves.
    site.host.check_output(f"runuser -u {site.service_user} -- sh -c "
                           f"'mkdir -p {site.data_dir}/backups && echo half > {site.data_dir}/backups/interrupted.sqlite3.partial'")
    with Load(f"https://{site.domain}:{site.https_port}/", connect_to=("127.0.0.1", site.https_port)) as load:
        started = time.monotonic()
        rc, output = deploy(releases, "v2")
        seconds = time.monotonic() - started
    summary = load.summary()
    print(f"deploy v1 -> v2: {seconds:.1f} s; load: {summary}")
    assert rc == 0, output[-3000:]
    # Every operation of the plan was shown before the migrations ran.
    text = plain(output)
    shown = text.find("Show the database operations of release")
    operation = text.find("Add field note to item", shown)
    applied = text.find("Apply the release's database migrations", shown)
    assert -1 < shown < operation < applied, text[shown:shown + 500]
    assert summary["requests"] >= 100
    assert summary["failed"] == 0, summary
    assert_serves(site, releases, "v2")
    assert "release v2" in site.request("GET", "/")[2]
    assert ["lists", "0002_item_note"] in database_state(site)["migrations"]
    status, _, body = site.request("GET", state["list_before_v2"])
    assert status == 200 and "made-on-v1" in body
    backups = site.host.check_output(f"ls {site.data_dir}/backups").split()
    assert any(name.endswith(f"-before-{releases['v2'][:12]}-from-{releases['v1'][:12]}.sqlite3") for name in backups)
    assert not any(name.endswith(".partial") for name in backups), backups
    # v2's requirements are v1's: it uses v1's virtualenv, installed once.
    venv = {version: site.host.check_output(f"readlink -e {site.root}/releases/{releases[version]}/.venv")
            for version in ("v1", "v2")}
    assert venv["v1"] == venv["v2"] and venv["v1"].startswith(f"{site.root}/venvs/"), venv
    assert site.host.file(f"{venv['v2']}/.complete").exists
    state["list_on_v2"] = site.start_list("made-on-v2")


def test_a_broken_release_is_stopped_before_the_switch(staging_site, releases):
    """v3's home page fails: tried on its own socket, it never serves a
    visitor. Under a load on the home page, not one request fails."""
    site = staging_site
    before = database_state(site)
    with Load(f"https://{site.domain}:{site.https_port}/", connect_to=("127.0.0.1", site.https_port)) as load:
        rc, output = deploy(releases, "v3-broken")
    summary = load.summary()
    print("home page requests during the broken deploy:", summary)
    assert rc != 0
    assert f"The deploy of {releases['v3-broken'][:12]}" in output
    # The cause, in the run's output and in the deploy log.
    cause = (f'failed at "Ask the new release for its home page and /health/: {releases["v3-broken"][:12]}": '
             f"non-zero return code ({site.domain} does not serve its site: status 500")
    assert cause in site.host.file(f"{site.root}/deploy.log").content_string.splitlines()[-1]
    assert f"{site.domain} does not serve its site: status 500" in output
    # The run's last word: one line for the site (which the output may wrap).
    assert re.search(rf"{site.domain}: deploy {releases['v2'][:12]} -> {releases['v3-broken'][:12]}: "
                     rf"FAILED, {releases['v2'][:12]} serves in \d+ s \(https://{site.domain}/\)",
                     plain(output)), output[-3000:]
    assert summary["requests"] >= 100
    assert summary["failed"] == 0, summary
    assert_serves(site, releases, "v2")
    assert database_state(site) == before
    assert site.host.file(f"{site.root}/releases/{releases['v3-broken']}/FAILED").exists
    # Its own gunicorn did run, and is gone again.
    candidate = f"{site.unit}-candidate@{releases['v3-broken']}.service"
    assert "Booting worker" in site.host.check_output(f"journalctl --no-pager -q -o cat -u {candidate}")
    assert site.host.run(f"systemctl is-active {candidate}").stdout.strip() == "inactive"


def test_a_release_failing_after_the_switch_is_reverted(staging_site, releases):
    """The same fault with the check before the switch off: the check through
    nginx after the switch catches it, and the revert puts v2 back."""
    site = staging_site
    before = database_state(site)
    with Load(f"https://{site.domain}:{site.https_port}/health/",
              connect_to=("127.0.0.1", site.https_port)) as load:
        rc, output = deploy(releases, "v3-broken-late", "-e", "webserver_check_before_switch=false")
    print("health requests during the late-failing deploy and its revert:", load.summary())
    assert rc != 0
    # Its own gunicorn never ran: the check after the switch caught it.
    candidate = f"{site.unit}-candidate@{releases['v3-broken-late']}.service"
    assert site.host.check_output(f"journalctl --no-pager -q -o cat -u {candidate}") == ""
    assert f"The deploy of {releases['v3-broken-late'][:12]}" in output
    assert f"Reverted: the site serves {releases['v2'][:12]} again" in output
    assert_serves(site, releases, "v2")
    assert database_state(site) == before
    assert site.host.file(f"{site.root}/releases/{releases['v3-broken-late']}/FAILED").exists


def test_a_failing_migration_leaves_the_database_untouched(staging_site, releases):
    site = staging_site
    before = database_state(site)
    rc, output = deploy(releases, "v3-migration")
    assert rc != 0
    assert "Apply the release's database migrations" in output
    assert "this data migration fails on purpose" in output
    assert "the database was restored from" in output
    # 0003 succeeded before 0004 failed: the restore undid it.
    assert database_state(site) == before
    assert "priority" not in before["item_columns"]
    assert_serves(site, releases, "v2")
    assert site.host.file(f"{site.root}/releases/{releases['v3-migration']}/FAILED").exists


def deploy_that_holds_the_lock(site, releases):
    """A site.yml run of v2, started in the background and waited for until
    it holds the site's lock: the process, and the lock's content."""
    first = subprocess.Popen(
        ["ansible-playbook", "-i", str(INVENTORY_DIR), "site.yml", "-e", "deploy_target=staging",
         "-e", f"app_repo={releases['repo']}", "-e", f"app_version={releases['v2']}"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # A bound on waiting, not a timing: provisioning comes first.
    deadline = time.monotonic() + 600
    while not site.host.file(site.lock).exists:
        assert first.poll() is None, "the first deploy ended before it took the lock"
        assert time.monotonic() < deadline, "the first deploy never took the lock"
        time.sleep(0.2)
    return first, site.host.file(site.lock).content_string.strip()


def test_a_concurrent_deploy_is_refused_by_the_lock(staging_site, releases):
    """The first run (site.yml) takes the lock after provisioning; the second
    (deploy.yml alone) reaches it while the first still deploys."""
    site = staging_site
    first, holder = deploy_that_holds_the_lock(site, releases)

    rc, output = try_playbook("playbooks/deploy.yml", "-e", "deploy_target=staging",
                              "-e", f"app_repo={releases['repo']}", "-e", f"app_version={releases['v2']}")
    first_output, _ = first.communicate(timeout=600)
    assert rc != 0
    assert f"is being deployed by {holder}" in output
    assert "since 20" in holder
    assert first.returncode == 0, first_output[-3000:]
    assert not site.host.file(site.lock).exists


def test_a_stale_lock_is_cleared_only_when_asked(staging_site, releases):
    site = staging_site
    site.host.check_output(f"echo 'someone@elsewhere since 2026-01-01T00:00:00Z' > {site.lock}")
    rc, output = deploy(releases, "v2")
    assert rc != 0
    assert "is being deployed by someone@elsewhere since 2026-01-01T00:00:00Z" in output
    output = run_playbook("site.yml", "-e", "deploy_target=staging", "-e", f"app_repo={releases['repo']}",
                          "-e", f"app_version={releases['v2']}", "-e", "release_break_lock=true")
    assert not site.host.file(site.lock).exists
    # The summary times this run, not the cleared lock's months-old holder.
    seconds = re.search(rf"{re.escape(site.domain)}: deploy \S+ -> \S+: \S+ in (\d+) s", plain(output))
    assert seconds and int(seconds.group(1)) < 900, output[-3000:]
    assert_serves(site, releases, "v2")


def test_the_deploy_log_records_each_deploy(staging_site, releases):
    log = staging_site.host.file(f"{staging_site.root}/deploy.log").content_string.splitlines()
    short = {name: sha[:12] for name, sha in releases.items() if name != "repo"}
    expected = [
        ("none", short["v1"], "ok"),
        (short["v1"], short["v2"], "ok"),
        (short["v2"], short["v3-broken"], "failed"),
        (short["v2"], short["v3-broken-late"], "failed"),
        (short["v2"], short["v3-migration"], "failed"),
    ]
    entries = [line.split() for line in log]
    assert [(e[3], e[5], e[6]) for e in entries] == expected, log
    assert all(e[2] == "deploy" and "@" in e[1] and e[0].startswith("20") for e in entries)
    # Not for the world to read: a failure's cause is in it.
    log_file = staging_site.host.file(f"{staging_site.root}/deploy.log")
    assert (log_file.user, log_file.mode) == ("elspeth", 0o640)


def test_a_missing_database_is_not_replaced_by_an_empty_one(staging_site, releases):
    """With a release serving, a database that is not where it should be (a
    moved data directory, a disk not mounted) stops the deploy; nothing
    makes an empty one in its place."""
    site = staging_site
    db = f"{site.data_dir}/db.sqlite3"
    site.host.check_output(f"mv {db} {db}.moved")
    try:
        rc, output = deploy(releases, "v2")
        assert rc != 0
        assert f"the database {db} is missing, but a release serves the site" in output
        assert not site.host.file(db).exists
    finally:
        site.host.check_output(f"mv {db}.moved {db}")
    assert_serves(site, releases, "v2")


def test_a_reverted_release_leaves_a_database_the_previous_one_can_use(staging_site, releases):
    """v3 adds a column v2 can live with, then fails: v2 serves again on the
    migrated database, reading and writing it, and what visitors saved is
    not lost to a restore."""
    site = staging_site
    rc, output = deploy(releases, "v3-nullable")
    assert rc != 0
    assert f"the database keeps the migrations of {releases['v3-nullable'][:12]}" in output
    after = database_state(site)
    assert ["lists", "0003_item_late"] in after["migrations"]
    assert "late" in after["item_columns"]
    assert_serves(site, releases, "v2")
    status, _, body = site.request("GET", state["list_on_v2"])
    assert status == 200 and "made-on-v2" in body
    site.start_list("made-on-v2-after-v3-failed")


def test_a_reverted_release_restores_a_database_the_previous_one_cannot_write(staging_site, releases):
    """v3 adds a column v2 cannot save an item without, then fails: the
    database is restored from the backup taken before the migration."""
    site = staging_site
    before = database_state(site)
    rc, output = deploy(releases, "v3-not-null")
    assert rc != 0
    assert "the database was restored from" in output
    assert database_state(site) == before
    assert_serves(site, releases, "v2")


def test_a_revert_puts_the_configuration_back(staging_site, releases):
    """A deploy that also changed the site's settings (its env file) and its
    unit (gunicorn's workers), reverted: the release that serves again runs
    with the settings it ran with before, and nothing of the failed run's is
    left behind."""
    site = staging_site
    unit = f"/etc/systemd/system/{site.unit}.service"
    env = f"{site.root}/shared/env"
    before = {path: site.host.file(path).content_string for path in (unit, env)}
    rc, output = deploy(releases, "v3-broken-late", "-e", "webserver_check_before_switch=false",
                        "-e", "webserver_gunicorn_workers=3", "-e", "site_hsts_seconds=600")
    assert rc != 0
    assert "changed: [superlists-release.localhost] => (item=shared/env)" in output.split(
        "Put the site's settings files back as they were before this run")[1]
    assert "Put the site's units and nginx site back as they were before this run" in output
    assert {path: site.host.file(path).content_string for path in (unit, env)} == before
    pid = site.main_pid()
    environ = site.host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    assert "DJANGO_HSTS_SECONDS=31536000" in environ.splitlines()
    assert int(site.host.check_output(f"pgrep -c -P {pid}")) == 2
    assert site.host.run(f"ls {site.root}/shared/.env.previous").rc != 0
    assert "~" not in site.host.check_output("ls /etc/systemd/system /etc/nginx/conf.d")
    assert_serves(site, releases, "v2")


def test_a_failed_log_write_still_releases_the_lock_and_is_named(staging_site, releases):
    site = staging_site
    log = f"{site.root}/deploy.log"
    site.host.check_output(f"mv {log} {log}.kept && runuser -u elspeth -- mkdir {log}")
    try:
        rc, output = deploy(releases, "v3-broken")
    finally:
        site.host.check_output(f"rmdir {log} && mv {log}.kept {log}")
    assert rc != 0
    assert 'failed at its end, at "Record the run in the deploy log' in output
    assert "The deploy lock is released" in output
    assert not site.host.file(site.lock).exists
    assert_serves(site, releases, "v2")


def test_a_lock_whose_holder_still_runs_is_not_cleared(staging_site, releases):
    """Breaking the lock is for a run that died: while the run that holds it
    still runs on this controller, it is refused."""
    site = staging_site
    first, holder = deploy_that_holds_the_lock(site, releases)
    rc, output = try_playbook("playbooks/deploy.yml", "-e", "deploy_target=staging", "-e", f"app_repo={releases['repo']}",
                              "-e", f"app_version={releases['v2']}", "-e", "release_break_lock=true")
    first_output, _ = first.communicate(timeout=600)
    assert f" pid={first.pid} since 20" in holder
    assert rc != 0
    assert "That run is still going on this controller: the lock is not cleared" in output
    assert first.returncode == 0, first_output[-3000:]


def write_journal(site, origin, target):
    journal = json.dumps({"from": origin, "to": target, "since": "2026-01-01T00:00:00Z"})
    site.host.check_output(f"printf %s {quote(journal)} > {site.journal}")


def test_a_run_cut_short_after_the_switch_is_finished_by_the_next(staging_site, releases):
    """As a run killed right after it switched `current` (before gunicorn's
    restart) leaves the site: its journal, `current` on the new release,
    gunicorn on the old code, the new release on its own socket. The next
    run restarts gunicorn onto it, checks it, finishes the run (previous,
    the log) and goes on with its own deploy."""
    site = staging_site
    v1, v2 = (f"{site.root}/releases/{releases[name]}" for name in ("v1", "v2"))
    candidate = f"{site.unit}-candidate@{releases['v1']}.service"
    write_journal(site, v2, v1)
    site.host.check_output(f"runuser -u elspeth -- sh -c 'ln -sfn {v1} {site.root}/current.new && "
                           f"mv -T {site.root}/current.new {site.root}/current'")
    site.host.check_output(f"systemctl start {candidate}")
    assert health(site)[1]["revision"] == releases["v2"]
    rc, output = deploy(releases, "v2")
    assert rc == 0, output[-3000:]
    assert "did not finish was going from" in output
    # Nothing was restored: no error text from the skipped restore.
    assert "is undefined" not in output
    log = site.host.file(f"{site.root}/deploy.log").content_string.splitlines()
    assert log[-2].split()[2:] == ["recover", releases["v2"][:12], "->", releases["v1"][:12], "finished"]
    assert log[-1].split()[2:] == ["deploy", releases["v1"][:12], "->", releases["v2"][:12], "ok"]
    assert site.host.run(f"systemctl is-active {candidate}").stdout.strip() == "inactive"
    assert not site.host.file(site.journal).exists
    assert_serves(site, releases, "v2")
    assert site.host.file(f"{site.root}/previous").linked_to == v1


def test_a_run_cut_short_after_its_migration_is_undone_by_the_next(staging_site, releases):
    """As a run killed after it migrated the database (to a schema the
    serving release cannot write: its table gone), before it switched,
    leaves the site: the next run finds the serving release cannot save a
    list, and restores the backup the cut-short run took."""
    site = staging_site
    never_deployed = "c0ffee" * 6 + "c0ff"
    before = database_state(site)
    run_playbook(str(PROJECT_DIR / "molecule/release/database-hook.yml"), "-e", "database_action=backup",
                 "-e", f"site_service_user={site.service_user}", "-e", f"database_path={site.data_dir}/db.sqlite3",
                 "-e", f"database_backup_dir={site.data_dir}/backups",
                 "-e", f"release_commit={never_deployed}", "-e", f"release_from_dir={site.root}/releases/{releases['v2']}")
    write_journal(site, f"{site.root}/releases/{releases['v2']}", f"{site.root}/releases/{never_deployed}")
    site.host.check_output(f"runuser -u {site.service_user} -- python3 -c \"import sqlite3; "
                           f"sqlite3.connect('{site.data_dir}/db.sqlite3').execute('drop table lists_item')\"")
    rc, output = deploy(releases, "v2")
    assert rc == 0, output[-3000:]
    assert "had not switched: going back to the release that served" in output
    assert f"-before-{never_deployed[:12]}-from-{releases['v2'][:12]}.sqlite3" in output
    log = site.host.file(f"{site.root}/deploy.log").content_string.splitlines()
    assert log[-1].split()[2:] == ["recover", releases["v2"][:12], "->", never_deployed[:12], "undone"]
    assert database_state(site) == before
    assert not site.host.file(site.journal).exists
    assert_serves(site, releases, "v2")


def test_a_recovery_that_fails_keeps_the_journal_for_the_next_run(staging_site, releases):
    """A cut-short run is found, but its recovery cannot finish (nginx is
    down, so the release it goes back to cannot be checked): the journal
    stays, and the next run, with nginx back, undoes the cut-short run."""
    site = staging_site
    never_deployed = "dead" * 10
    write_journal(site, f"{site.root}/releases/{releases['v2']}", f"{site.root}/releases/{never_deployed}")
    site.host.check_output("systemctl stop nginx")
    try:
        rc, output = deploy(releases, "v2", "-e", "release_health_tries=2")
        assert rc != 0
        assert "had not switched: going back to the release that served" in output
        assert site.host.file(site.journal).exists
        assert "recover" not in site.host.file(f"{site.root}/deploy.log").content_string.splitlines()[-1]
    finally:
        site.host.check_output("systemctl start nginx")
    rc, output = deploy(releases, "v2")
    assert rc == 0, output[-3000:]
    assert "is undefined" not in output
    log = site.host.file(f"{site.root}/deploy.log").content_string.splitlines()
    assert log[-1].split()[2:] == ["recover", releases["v2"][:12], "->", never_deployed[:12], "undone"]
    assert not site.host.file(site.journal).exists
    assert_serves(site, releases, "v2")


def test_names_the_deploy_user_writes_never_reach_roots_commands(staging_site, releases):
    """The deploy user owns the site's directory: a `previous` link, or a
    journal where older versions kept it, naming a release with a quote and
    a space in it would make root act on a second unit (nginx here). The
    link is refused, naming it; the journal there is not read at all."""
    site = staging_site
    nginx_pid = site.host.check_output("systemctl show -P MainPID nginx")
    planted = f"{site.root}/releases/{releases['v1']}' nginx.service '"
    journal = json.dumps({"from": f"{site.root}/releases/{releases['v2']}", "to": planted,
                          "since": "2026-01-01T00:00:00Z"})
    site.host.check_output(f"runuser -u elspeth -- sh -c {quote('printf %s ' + quote(journal) + ' > ' + site.root + '/.deploy-journal')}")
    previous = site.host.file(f"{site.root}/previous").linked_to
    try:
        rc, output = deploy(releases, "v2")
        assert rc == 0, output[-3000:]
        assert "did not finish" not in output
        site.host.check_output(f"runuser -u elspeth -- ln -sfn {quote(planted)} {site.root}/previous")
        rc, output = rollback()
        assert rc != 0
        assert f"{site.root}/previous names" in plain(output) and "not a release of this site" in output
    finally:
        site.host.check_output(f"runuser -u elspeth -- sh -c 'ln -sfn {previous} {site.root}/previous"
                               f" && rm -f {site.root}/.deploy-journal'")
    assert site.host.check_output("systemctl is-active nginx") == "active"
    assert site.host.check_output("systemctl show -P MainPID nginx") == nginx_pid
    assert not site.host.file(site.lock).exists
    assert_serves(site, releases, "v2")


@pytest.mark.parametrize("planted", ["releases", "shared", "shared/env", "shared/secret.env"])
def test_root_never_follows_a_link_the_deploy_user_planted(staging_site, releases, planted):
    """The deploy user swaps a directory or file of the site for a link to
    root's own (/etc, say): the next run refuses, naming the path, and what
    the link points to is left as it was."""
    site = staging_site
    path = f"{site.root}/{planted}"
    sentinel = "/root/sentinel"
    site.host.check_output(f"mkdir -p {sentinel} && echo roots-own > {sentinel}/file && chmod 0700 {sentinel} "
                           f"&& chmod 0600 {sentinel}/file")
    target = sentinel if planted in ("releases", "shared") else f"{sentinel}/file"
    before = site.host.check_output(f"stat -c '%U %G %a %s' {sentinel} {sentinel}/file")
    site.host.check_output(f"mv {path} {path}.real && runuser -u elspeth -- ln -s {target} {path}")
    try:
        # site.yml: the site's directories are laid out by its provisioning.
        rc, output = try_playbook("site.yml", "-e", "deploy_target=staging", "-e", f"app_repo={releases['repo']}",
                                  "-e", f"app_version={releases['v2']}")
    finally:
        site.host.check_output(f"rm {path} && mv {path}.real {path}")
    assert rc != 0
    assert f"refused: {path} is a link" in output
    assert site.host.check_output(f"stat -c '%U %G %a %s' {sentinel} {sentinel}/file") == before
    assert site.host.file(f"{sentinel}/file").content_string == "roots-own\n"
    run_playbook("playbooks/deploy.yml", "-e", "deploy_target=staging", "-e", f"app_repo={releases['repo']}",
                 "-e", f"app_version={releases['v2']}")
    assert_serves(site, releases, "v2")


def rollback(*extra):
    return try_playbook("playbooks/rollback.yml", "-e", "deploy_target=staging", *extra)


def test_a_failed_rollback_puts_the_newer_database_back(staging_site, releases):
    """A rollback to v1 that restores v1's database and then fails (its health
    check is pointed at a closed port): the revert restores the backup the
    rollback took first, so v2 is back with v2's schema and data."""
    site = staging_site
    before = database_state(site)
    # (The settings check takes port 9 only if the firewall would let
    # visitors in on it; the rollback does not rewrite the firewall.)
    rc, output = rollback("-e", f"rollback_to={releases['v1']}", "-e", "rollback_restore_database=true",
                          "-e", "webserver_https_port=9", "-e", "release_health_tries=2",
                          "-e", '{"host_hardening_firewall_tcp_ports": [22, 80, 443, 9]}')
    assert rc != 0
    short = {name: sha[:12] for name, sha in releases.items() if name != "repo"}
    # Restored first: the backup taken when v2 was deployed from v1; then,
    # by the revert: the one the rollback took of v2's database.
    assert "Restore the database from" in output
    assert f"-before-{short['v2']}-from-{short['v1']}.sqlite3" in output
    assert f"-before-{short['v1']}-from-{short['v2']}.sqlite3" in output
    assert database_state(site) == before
    assert site.host.file(f"{site.root}/current").linked_to == f"{site.root}/releases/{releases['v2']}"
    assert_serves(site, releases, "v2")
    assert not site.host.file(site.lock).exists


def test_a_rollback_behind_the_schema_is_refused_unless_the_backup_is_restored(staging_site, releases):
    """To the previous release (refused), then to a named one with the
    backup taken before v2 restored."""
    site = staging_site
    # The release before v2 is v1: "previous" finds it, and the database is
    # ahead of it.
    rc, output = rollback()
    assert rc != 0
    assert f"{releases['v1'][:12]} is behind the database" in output
    assert "lists.0002_item_note" in output
    assert "-e rollback_restore_database=true" in output
    assert_serves(site, releases, "v2")

    # Keeping one backup only: the one taken of the database as it is first
    # must not prune away the one the rollback restores.
    rc, output = rollback("-e", f"rollback_to={releases['v1']}", "-e", "rollback_restore_database=true",
                          "-e", "database_keep_backups=1")
    assert rc == 0, output[-3000:]
    assert_serves(site, releases, "v1")
    after = database_state(site)
    assert ["lists", "0002_item_note"] not in after["migrations"]
    assert "note" not in after["item_columns"]
    # The backup was taken when v2 was deployed: what v1 wrote is there,
    # what was written on v2 is gone, as the operator was told.
    status, _, body = site.request("GET", state["list_before_v2"])
    assert status == 200 and "made-on-v1" in body
    assert site.request("GET", state["list_on_v2"])[0] == 404
    log = site.host.file(f"{site.root}/deploy.log").content_string.splitlines()
    assert log[-1].split()[2:] == ["rollback", releases["v2"][:12], "->", releases["v1"][:12], "ok"]


def test_old_and_failed_releases_are_pruned(staging_site, releases):
    """release_keep is 2 here: v1 (current) and v2 (previous) stay; the
    three failed v3 releases went when the rollback succeeded."""
    site = staging_site
    kept = site.host.check_output(f"ls {site.root}/releases").split()
    assert sorted(kept) == sorted([releases["v1"], releases["v2"]])
    assert site.host.file(f"{site.root}/previous").linked_to == f"{site.root}/releases/{releases['v2']}"
    # Only the virtualenvs the kept releases use.
    used = {site.host.check_output(f"readlink -e {site.root}/releases/{name}/.venv") for name in kept}
    left = {f"{site.root}/venvs/{name}" for name in site.host.check_output(f"ls {site.root}/venvs").split()}
    assert left == used, (left, used)


def test_a_rollback_to_a_release_ahead_of_the_schema_is_refused(staging_site, releases):
    """Now v2 is "previous", but the database is v1's: going to v2 needs its
    migration, which is a deploy's job (with a backup), not a rollback's."""
    rc, output = rollback()
    assert rc != 0
    assert "needs migrations the database does not have" in output
    assert "lists.0002_item_note" in output
    assert_serves(staging_site, releases, "v1")


def backup_hook(site, action, *extra):
    """The database role's backup or restore tasks, as a deploy and a revert
    run them, for a PostgreSQL database."""
    return run_playbook(
        str(PROJECT_DIR / "molecule/release/database-hook.yml"), "-e", f"database_action={action}",
        "-e", f"site_service_user={site.service_user}", "-e", "database_engine=postgresql",
        "-e", "database_name=superlists",
        "-e", f"database_backup_dir={site.data_dir}/pg-backups", "-e", "database_keep_backups=2", *extra)


def psql(site, sql):
    return site.host.check_output(
        f"runuser -u {site.service_user} -- psql --no-psqlrc --tuples-only --no-align superlists -c {quote(sql)}")


def test_the_backup_hook_backs_up_and_restores_postgresql(staging_site, releases):
    """The site runs on SQLite; the same hook, with database_engine:
    postgresql, on a real PostgreSQL server: a backup named after the
    releases, an all-or-nothing restore, and only the newest kept."""
    site = staging_site
    site.host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null")
    site.host.check_output(f"runuser -u postgres -- createuser {site.service_user}")
    site.host.check_output(f"runuser -u postgres -- createdb --owner={site.service_user} superlists")
    psql(site, "create table item (id serial primary key, text text); insert into item (text) values ('kept')")
    short = {name: sha[:12] for name, sha in releases.items() if name != "repo"}

    backup_hook(site, "backup", "-e", f"release_commit={releases['v2']}",
                "-e", f"release_from_dir={site.root}/releases/{releases['v1']}")
    dumps = site.host.check_output(f"ls {site.data_dir}/pg-backups").split()
    assert len(dumps) == 1 and dumps[0].endswith(f"-before-{short['v2']}-from-{short['v1']}.pgdump"), dumps
    first = f"{site.data_dir}/pg-backups/{dumps[0]}"
    assert site.host.file(first).user == site.service_user

    psql(site, "insert into item (text) values ('lost'); alter table item add column note text")
    backup_hook(site, "restore", "-e", f"database_restore_from={first}")
    assert psql(site, "select text from item order by id").split() == ["kept"]
    assert "note" not in psql(site, "select column_name from information_schema.columns where table_name = 'item'")

    for version in ("v3-broken", "v3-migration"):
        time.sleep(1)  # backups are named to the second
        backup_hook(site, "backup", "-e", f"release_commit={releases[version]}",
                    "-e", f"release_from_dir={site.root}/releases/{releases['v2']}")
    dumps = sorted(site.host.check_output(f"ls {site.data_dir}/pg-backups").split())
    assert [name.split("-before-")[1] for name in dumps] == [
        f"{short['v3-broken']}-from-{short['v2']}.pgdump", f"{short['v3-migration']}-from-{short['v2']}.pgdump"]
