"""Staging and live keep their data on one PostgreSQL server (the postgresql
role, on the inventory's group db): each in a database and a role of its
own, which only its own web server may log in as, with a password that was
made on the database server and is in no log, process list or
world-readable file; backups are pg_dumps taken there, and a rollback
restores one."""

import uuid

import pytest
import testinfra

from conftest import _load_site_names, inventory, run_playbook, sites_in, try_playbook
from app_changes import MODELS, add_field, clone, commit, migration
from test_vault_secrets import VAULT_ENV

DB_CONTAINER = "superlists-db"
database_name = _load_site_names().database_name
# Where the password and the backups are on the database server (the
# postgresql role's and the database role's defaults).
PASSWORDS = "/etc/postgresql-site-passwords"
BACKUPS = "/var/lib/postgresql/site-backups"


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host(f"docker://{DB_CONTAINER}")


@pytest.fixture(scope="module")
def databases():
    """Each site's domain and its database's (and role's) name."""
    return {domain: database_name(domain) for domain in sites_in(inventory())}


def psql(db, database, sql):
    """sql on database, as postgres over the server's local socket."""
    return db.check_output(f"runuser -u postgres -- psql -AtX -d {database} -c {quote(sql)}")


def quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def password(db, name):
    return db.file(f"{PASSWORDS}/{name}").content_string


def connect_as_the_site(site, database):
    """From the site's web server, as its service user with its own
    DATABASE_URL (read from its environment, never a command line), a login
    to database; PostgreSQL's answer: "ok", or the error."""
    script = ("import os, urllib.parse, psycopg\n"
              "url = urllib.parse.urlsplit(os.environ['DATABASE_URL'])\n"
              "try:\n"
              "    psycopg.connect(host=url.hostname, port=url.port, user=url.username,"
              " password=urllib.parse.unquote(url.password), dbname=os.environ['TARGET'], sslmode='require',"
              " connect_timeout=10).close()\n"
              "    print('ok')\n"
              "except psycopg.OperationalError as error:\n"
              "    print(error)\n")
    return site.host.check_output(
        f"sudo -u {site.service_user} TARGET={database} {site.root}/manage --exec .venv/bin/python -c {quote(script)}")


def test_each_sites_lists_are_in_its_own_database(site, db, databases):
    text = f"kept-apart-{uuid.uuid4().hex[:8]}"
    site.start_list(text)
    for domain, name in databases.items():
        count = psql(db, name, f"select count(*) from lists_item where text = '{text}'")
        assert count == ("1" if domain == site.domain else "0"), (domain, name)


def test_only_a_sites_own_role_may_connect_to_its_database(db, databases):
    names = list(databases.values())
    assert len(names) == 2
    for role in names:
        for database in names:
            allowed = psql(db, "postgres", f"select has_database_privilege('{role}', '{database}', 'CONNECT')")
            assert allowed == ("t" if role == database else "f"), (role, database)
        # Its role owns what the site made there.
        owners = psql(db, role, "select distinct tableowner from pg_tables where schemaname = 'public'")
        assert owners == role


def test_a_web_server_gets_into_its_own_database_only(site, databases):
    own = databases[site.domain]
    other = next(name for name in databases.values() if name != own)
    assert connect_as_the_site(site, own) == "ok"
    refused = connect_as_the_site(site, other)
    assert "no pg_hba.conf entry" in refused and f'database "{other}"' in refused


def test_the_database_server_listens_on_its_own_address_and_localhost_only(db):
    address = db.check_output(f"getent ahostsv4 {DB_CONTAINER}").split()[0]
    listening = db.check_output("ss -ltnH 'sport = :5432'").splitlines()
    assert sorted(line.split()[3] for line in listening) == sorted([f"{address}:5432", "127.0.0.1:5432"])


def test_the_database_password_is_nowhere_but_where_it_must_be(site, db, databases):
    """On the database server, only the root-only file it was made in; on
    the web server, only the site's vault.env; in no process's command
    line and no journal on either."""
    name = databases[site.domain]
    secret = password(db, name)
    assert len(secret) >= 40
    made = db.file(f"{PASSWORDS}/{name}")
    assert (made.user, made.group, made.mode) == ("root", "root", 0o600)
    assert db.file(PASSWORDS).mode == 0o700
    places = "/etc /home /root /srv /opt /tmp /run /var"
    for host, expected in ((db, {f"{PASSWORDS}/{name}"}), (site.host, {f"{site.root}/shared/vault.env"})):
        found = host.run(f"grep -rlsF -- {quote(secret)} {places}")
        assert set(found.stdout.split()) == expected
        assert secret not in host.check_output("cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
        assert secret not in host.check_output("journalctl --no-pager -q")
    vault_env = site.host.file(f"{site.root}/shared/vault.env")
    assert vault_env.mode == 0o640 and vault_env.group == site.service_user
    # PostgreSQL keeps a SCRAM verifier, not the password.
    stored = psql(db, "postgres", f"select rolpassword from pg_authid where rolname = '{name}'")
    assert stored.startswith("SCRAM-SHA-256$") and secret not in stored


def test_backups_are_pg_dumps_on_the_database_server(site, db, databases):
    folder = f"{BACKUPS}/{databases[site.domain]}"
    assert (db.file(folder).user, db.file(folder).mode) == ("postgres", 0o700)
    dumps = db.check_output(f"ls {folder}").split()
    assert dumps and all(dump.endswith(".pgdump") for dump in dumps)
    listing = db.check_output(f"runuser -u postgres -- pg_restore --list {folder}/{dumps[-1]}")
    assert "Format: CUSTOM" in listing
    assert not site.host.file(f"{site.data_dir}/backups").exists


def test_the_status_names_the_database_server_and_its_backups(site, db, databases):
    name = databases[site.domain]
    output = run_playbook("playbooks/status.yml", "-e", f"deploy_target={site.domain}", env=VAULT_ENV)
    assert f"database: PostgreSQL {name} on {DB_CONTAINER}" in output
    backups = db.check_output(f"ls -t {BACKUPS}/{name}").split()
    assert f"backups kept: {len(backups)}, newest {backups[0]}" in output


def test_a_deploy_that_cannot_read_its_database_password_fails_naming_it(staging_site, tmp_path):
    """It fails before the new release is built: the revert has nothing to
    mark or put back, says so plainly, and the site serves on."""
    site = staging_site
    serving = site.deployed_commit()
    repo = clone(tmp_path / "repo")
    new = commit(repo, "a new version", {"app/lists/new-version.txt": "new\n"})
    # For this site alone (an -e would give the other site the same
    # database, which the settings check refuses).
    elsewhere = tmp_path / "no-such-database.yml"
    elsewhere.write_text(f"all:\n  hosts:\n    {site.domain}:\n      database_name: no_such_site\n")
    rc, output = try_playbook("playbooks/deploy.yml", "-i", str(elsewhere), "-e", f"deploy_target={site.domain}",
                              "-e", f"app_repo={repo}", "-e", f"app_version={new}", env=VAULT_ENV)
    assert rc != 0
    assert "Read the site's database password on its database server" in output
    assert "Going back failed too" not in output
    assert site.deployed_commit() == serving
    assert not site.host.file(f"{site.root}/releases/{new}").exists
    assert site.request("GET", "/")[0] == 200


def test_a_rollback_restores_the_database_on_the_database_server(staging_site, db, databases, tmp_path):
    """v2 adds a column; a list made on it is gone after a rollback to v1
    with its backup restored, one made before is there, and the site's own
    role still owns and writes every table."""
    site = staging_site
    name = databases[site.domain]
    v1 = site.deployed_commit()
    repo = clone(tmp_path / "repo")
    v2 = commit(repo, "v2: a note on each item", {
        MODELS: add_field(repo, "note"),
        "app/lists/migrations/0002_item_note.py": migration("0001_initial", "note"),
    })
    before_v2 = site.start_list("made-before-v2")
    run_playbook("playbooks/deploy.yml", "-e", f"deploy_target={site.domain}", "-e", f"app_repo={repo}",
                 "-e", f"app_version={v2}", env=VAULT_ENV)
    columns = "select column_name from information_schema.columns where table_name = 'lists_item'"
    assert "note" in psql(db, name, columns).split()
    on_v2 = site.start_list("made-on-v2")

    output = run_playbook("playbooks/rollback.yml", "-e", f"deploy_target={site.domain}", "-e", f"rollback_to={v1}",
                          "-e", "rollback_restore_database=true", env=VAULT_ENV)
    assert f"-before-{v2[:12]}-from-{v1[:12]}.pgdump" in output
    assert site.deployed_commit() == v1
    assert "note" not in psql(db, name, columns).split()
    assert site.request("GET", before_v2)[0] == 200
    assert site.request("GET", on_v2)[0] == 404
    assert psql(db, name, "select distinct tableowner from pg_tables where schemaname = 'public'") == name
    site.start_list("made-after-the-rollback")
