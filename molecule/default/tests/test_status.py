"""playbooks/status.yml: what runs where, read without changing anything
or taking the lock."""

import re

from conftest import INVENTORY_DIR, changed_counts, run_playbook


def status(*args):
    """The status run's output, its line breaks and indents folded."""
    output = run_playbook("playbooks/status.yml", *args, as_operator=True)
    assert changed_counts(output) and set(changed_counts(output)) == {0}, output[-3000:]
    return " ".join(output.split())


def test_status_names_the_release_its_health_log_backups_and_lock(staging_site):
    site = staging_site
    commit = site.deployed_commit()
    previous = site.host.check_output(f"readlink {site.root}/previous || true").rsplit("/", 1)[-1]
    backups = site.host.check_output(f"ls {site.data_dir}/backups").split()
    lock = site.lock
    # A lock held by a deploy elsewhere: the status names it and does not wait for it.
    site.host.check_output(f"echo 'someone@elsewhere pid=1 since 2026-01-01T00:00:00Z' > {lock}")
    try:
        output = status("-e", "deploy_target=staging")
    finally:
        site.host.check_output(f"rm -f {lock}")
    assert f"{site.domain}: serves {commit[:12]}" in output
    assert re.search(r"deployed: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by \S+@\S+", output), output[-3000:]
    assert "health through nginx: ok" in output
    assert f"previous release: {previous[:12] or 'none'}" in output
    assert "lock: held by someone@elsewhere pid=1 since 2026-01-01T00:00:00Z" in output
    assert f"database: SQLite {site.data_dir}/db.sqlite3" in output
    newest = max(backups, key=lambda name: name.split("-before-")[0])
    assert f"backups kept: {len(backups)}, newest {newest}" in output
    last_log = site.host.check_output(f"tail -n 1 {site.root}/deploy.log")
    assert "'last deploys:'" in output and " ".join(last_log.split()) in output


def test_status_of_a_site_whose_gunicorn_stopped_and_log_went(staging_site):
    """The status asks through nginx, the way visitors come: with gunicorn
    gone, it says the site fails, and why. With no deploy log, it says the
    serving release is not in it, and lists no deploys."""
    site = staging_site
    log = f"{site.root}/deploy.log"
    # The socket too: systemd would start gunicorn again at the first request.
    site.host.check_output(f"systemctl stop {site.unit}.socket {site.unit}.service && mv {log} {log}.aside")
    try:
        output = status("-e", "deploy_target=staging")
    finally:
        site.host.check_output(f"mv {log}.aside {log} && systemctl start {site.unit}.socket {site.unit}.service")
    assert site.request("GET", "/")[0] == 200
    assert f"health through nginx: FAILING: {site.domain} does not serve its site" in output
    assert "deployed: not in the deploy log" in output
    assert re.search(r"'last deploys:' (ok|PLAY RECAP)", output), output[-3000:]


def test_status_of_a_site_not_deployed_yet(staging_site, tmp_path):
    """A site added to the inventory, on the same server, not deployed yet."""
    extra = tmp_path / "next.yml"
    extra.write_text(
        "staging:\n  hosts:\n    superlists-next.localhost:\n"
        "      ansible_connection: community.docker.docker\n      ansible_host: superlists-shared\n"
        "      site_service_user: next-web\n"
    )
    output = status("-i", str(extra), "--limit", "superlists-next.localhost")
    assert ("superlists-next.localhost: no site deployed yet "
            "(/home/elspeth/sites/superlists-next.localhost does not exist)") in output
    assert not staging_site.host.file("/home/elspeth/sites/superlists-next.localhost").exists
