"""The server Ansible reaches over SSH as a sudo user: the converge hardened
SSH and turned the firewall on, and Ansible still gets in, with its own
strategy and with Mitogen's."""

import http.client
import os
import subprocess

import pytest

from app_changes import clone, commit
from conftest import INVENTORY_DIR, changed_counts, run_playbook, try_playbook

HOST = "superlists-ssh.localhost"
MITOGEN = {"ANSIBLE_STRATEGY": "mitogen_linear"}
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


def ssh(user, *command):
    return subprocess.run(
        ["ssh", "-p", "18422", "-i", f"{EPHEMERAL}/id_ed25519", "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={EPHEMERAL}/known_hosts", "-o", "StrictHostKeyChecking=yes",
         "-o", "ConnectTimeout=10", f"{user}@127.0.0.1", *command],
        capture_output=True, text=True, timeout=60,
    )


def test_the_login_user_gets_in_with_the_key_and_root_does_not():
    """Root holds the same key (prepare.yml): only the hardening refuses it."""
    assert ssh("ops", "sudo", "-n", "true").returncode == 0
    refused = ssh("root", "true")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr, refused.stderr


def test_tasks_run_inside_mitogens_interpreter_under_its_strategy():
    """ANSIBLE_STRATEGY=mitogen_linear (the README's) loads Mitogen's
    strategy from the project's strategy_plugins: a task's command is then
    started by Mitogen's interpreter on the server, which names itself
    `(mitogen:...)`; with Ansible's own strategy, by a plain python."""
    parents = {}
    for name, env in (("mitogen", MITOGEN), ("linear", {})):
        result = subprocess.run(
            ["ansible", "-i", str(INVENTORY_DIR), HOST, "-m", "ansible.builtin.shell",
             "-a", "tr '\\0' ' ' < /proc/$PPID/cmdline"],
            capture_output=True, text=True, timeout=120, env={**os.environ, **env},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No hosts matched" not in result.stderr
        parents[name] = result.stdout
    assert "(mitogen:" in parents["mitogen"], parents["mitogen"]
    assert "(mitogen:" not in parents["linear"], parents["linear"]


def test_site_yml_under_mitogen_installs_python3_apt_first_and_then_changes_nothing(staging_site):
    """Under Mitogen the apt module cannot install python3-apt for itself and
    start again (it fails on a server without it): python_git installs it
    first. A second run under Mitogen changes nothing, and Ansible warns that
    the strategy is not Ansible's own."""
    host = staging_site.host
    # Only python3-apt goes (unattended-upgrades, which needs it, stays).
    host.run_expect([0], "dpkg --remove --force-depends python3-apt")
    assert not host.package("python3-apt").is_installed
    output = run_playbook("site.yml", "-e", "deploy_target=staging", env=MITOGEN)
    assert "python_git : Install python3-apt for the apt module (Mitogen's strategy only)" in output
    assert host.package("python3-apt").is_installed
    assert changed_counts(output) == [1]
    again = run_playbook("site.yml", "-e", "deploy_target=staging", env=MITOGEN)
    assert changed_counts(again) == [0]
    assert "strategy plugins not included in ansible.builtin" in " ".join(again.split())


def test_a_first_deploy_that_fails_has_nothing_to_go_back_to(staging_site, tmp_path):
    """A second site's first deploy, of a version whose static files cannot
    be collected: nothing served it before, so the run says there is
    nothing to go back to (and no step of going back fails), and the server
    gives the new name no page at all, neither the package's welcome page
    nor an error of the site's."""
    domain = "superlists-first.localhost"
    repo = clone(tmp_path / "repo")
    settings = repo / "app/superlists/settings.py"
    broken = commit(repo, "static files nowhere", {
        "app/superlists/settings.py": settings.read_text() + '\nSTATIC_ROOT = "/proc/no-static-here"\n'})
    rc, output = try_playbook("site.yml", "-e", "deploy_target=staging", "-e", f"site_domain={domain}",
                              "-e", f"app_repo={repo}", "-e", f"app_version={broken}")
    text = " ".join(output.split())
    assert rc != 0
    assert 'failed at "Collect the release\'s static files"' in text
    assert f"Nothing served {domain} before this run, so there is nothing to go back to" in text
    assert "Going back failed too" not in text
    assert staging_site.host.file(f"/home/elspeth/sites/{domain}/releases/{broken}/FAILED").exists
    conn = http.client.HTTPConnection("127.0.0.1", staging_site.http_port, timeout=15)
    conn.request("GET", "/", headers={"Host": domain})
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
