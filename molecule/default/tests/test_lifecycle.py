"""What a site must survive: a reboot, a rerun, and a redeploy of a new
commit. These run after the state checks (molecule sorts the test files),
and leave the sites as converge did."""

import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import PROJECT_DIR, changed_counts, repo_head, run_playbook, try_playbook

SCENARIO_DIR = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", str(PROJECT_DIR / "molecule" / "default"))


def wait_for_home_page(site, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            status, _, body = site.request("GET", "/")
            if status == 200 and "To-Do" in body:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(1)
    pytest.fail(f"{site.domain} did not answer within {seconds} s (last: {last})")


def test_restarted_server_serves_again_without_ansible(staging_site):
    site = staging_site
    subprocess.run(["docker", "restart", "--time", "5", site.container], check=True, capture_output=True)
    wait_for_home_page(site)
    status, _, _ = site.request("GET", "/static/bootstrap/css/bootstrap.min.css")
    assert status == 200


def test_rerun_changes_nothing_keeps_the_key_and_restarts_nothing(staging_site):
    site = staging_site
    key_before = site.host.file(f"{site.root}/shared/secret.env").content_string
    pid_before = site.main_pid()
    output = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"))
    assert changed_counts(output) and set(changed_counts(output)) == {0}
    assert site.host.file(f"{site.root}/shared/secret.env").content_string == key_before
    assert site.main_pid() == pid_before


@pytest.fixture
def new_commit(tmp_path):
    """A clone of this repository with one more commit that changes a page."""
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_DIR), str(clone)], check=True)
    base = clone / "app" / "lists" / "templates" / "base.html"
    base.write_text(base.read_text().replace("</body>", "<!-- redeploy marker -->\n</body>"))
    subprocess.run(
        ["git", "-C", str(clone), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
         "commit", "--quiet", "-am", "Change a page"], check=True,
    )
    sha = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return clone, sha


def test_lists_survive_a_redeploy_of_a_new_commit(staging_site, new_commit):
    site = staging_site
    clone, sha = new_commit
    item = f"survives-redeploy-{uuid.uuid4().hex[:8]}"
    list_url = site.start_list(item)
    key_before = site.host.file(f"{site.root}/shared/secret.env").content_string
    pid_before = site.main_pid()

    before = site.deployed_commit()
    output = run_playbook("site.yml", "-e", "deploy_target=staging", "-e", f"app_repo={clone}",
                          "-e", f"app_version={sha}", as_operator=True)
    assert site.deployed_commit() == sha
    # What the operator sees: one summary line for the site at the end, and
    # no timing line per task (profile_tasks is there to turn on, not on).
    assert re.search(rf"{site.domain}: deploy {before[:12]} -> {sha[:12]}: done in \d+ s "
                     rf"\(https://{site.domain}/\)", " ".join(output.split())), output[-3000:]
    assert not re.search(r"\(\d+:\d\d:\d\d\.\d+\) +\d+:\d\d:\d\d\.\d+", output)
    assert re.search(r"\(\d+:\d\d:\d\d\.\d+\) +\d+:\d\d:\d\d\.\d+", run_playbook(
        "playbooks/deploy.yml", "-e", "deploy_target=staging", "-e", f"app_repo={clone}", "-e", f"app_version={sha}",
        as_operator=True, env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})), "no per-task timing when asked"
    status, _, body = site.request("GET", "/")
    assert "redeploy marker" in body
    status, _, body = site.request("GET", list_url)
    assert status == 200 and f"1: {item}" in body
    assert site.main_pid() != pid_before, "gunicorn was not restarted onto the new release"
    assert site.host.file(f"{site.root}/shared/secret.env").content_string == key_before

    # Back to the commit under test: the old release is reused, the data kept.
    run_playbook("site.yml", "-e", "deploy_target=staging")
    assert site.deployed_commit() == repo_head()
    status, _, body = site.request("GET", list_url)
    assert status == 200 and f"1: {item}" in body
    assert "redeploy marker" not in site.request("GET", "/")[2]


def test_a_bad_ssh_setting_is_refused_before_it_is_written(staging_site):
    """sshd -t checks the new settings before they replace the old: the run
    fails, and the SSH server keeps running, unreloaded, on the old ones."""
    host = staging_site.host
    dropin = "/etc/ssh/sshd_config.d/00-host-hardening.conf"
    before = host.file(dropin).content_string
    pid_before = host.check_output("systemctl show -p MainPID --value ssh")

    rc, output = try_playbook("site.yml", "-e", "deploy_target=staging", "--tags", "ssh",
                              "-e", '{"host_hardening_ssh_extra_settings": {"NoSuchOption": "yes"}}')
    assert rc != 0
    assert "Write the hardened SSH settings" in output
    assert "NoSuchOption" in output
    assert host.file(dropin).content_string == before
    assert host.run("sshd -t").rc == 0
    assert host.service("ssh").is_running
    assert host.check_output("systemctl show -p MainPID --value ssh") == pid_before


def test_hardening_undone_by_a_match_block_for_a_user_is_caught(staging_site):
    """A Match block elsewhere in sshd_config that lets one user log in with a
    password: sshd's global settings still look hardened, but the check asks
    sshd what it applies to each user who may log in, and fails naming
    them."""
    host = staging_site.host
    config = "/etc/ssh/sshd_config"
    before = host.file(config).content_string
    host.check_output(f"cp -p {config} {config}.before-test")
    host.check_output(f"printf 'Match User elspeth\\n    PasswordAuthentication yes\\n' >> {config}")
    try:
        assert "passwordauthentication no" in host.check_output("sshd -T").splitlines()
        rc, output = try_playbook("site.yml", "-e", "deploy_target=staging", "--tags", "ssh")
    finally:
        host.check_output(f"mv {config}.before-test {config}")
    assert rc != 0
    assert "does not apply /etc/ssh/sshd_config.d/00-host-hardening.conf to elspeth" in output
    assert host.run("sshd -t").rc == 0
    assert host.file(config).content_string == before
