"""The server Ansible reaches over SSH as a sudo user, under Mitogen's
strategy: the converge hardened SSH and turned the firewall on, and Ansible
still gets in, with Mitogen's strategy and with Ansible's own."""

import os
import subprocess
from pathlib import Path

from conftest import INVENTORY_DIR, changed_counts, run_playbook

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
HOST = "superlists-ssh.localhost"


def ssh(user, *command):
    return subprocess.run(
        ["ssh", "-p", "18422", "-i", str(EPHEMERAL / "id_ed25519"), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={EPHEMERAL / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "ConnectTimeout=10", f"{user}@127.0.0.1", *command],
        capture_output=True, text=True, timeout=60,
    )


def test_the_scenario_runs_under_mitogens_strategy():
    """Ansible here loads Mitogen's strategy by the name the README gives,
    from the project's strategy_plugins, and a task's commands are started
    by Mitogen's interpreter on the server (it names itself `mitogen:...`),
    not by a python started for the task."""
    assert os.environ["ANSIBLE_STRATEGY"] == "mitogen_linear"
    result = subprocess.run(
        ["ansible", "-i", str(INVENTORY_DIR), HOST, "-m", "ansible.builtin.shell",
         "-a", "tr '\\0' ' ' < /proc/$PPID/cmdline"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No hosts matched" not in result.stderr
    # Ansible warns that a strategy outside ansible.builtin is in use.
    assert "strategy plugins not included in ansible.builtin" in " ".join(result.stderr.split())
    assert "(mitogen:" in result.stdout, result.stdout


def test_a_rerun_with_ansibles_own_strategy_gets_in_and_changes_nothing():
    output = run_playbook("site.yml", "-e", "deploy_target=staging", env={"ANSIBLE_STRATEGY": "linear"})
    assert "strategy plugins not included" not in " ".join(output.split())
    assert changed_counts(output) == [0]


def test_the_login_user_gets_in_with_the_key_and_root_does_not():
    assert ssh("ops", "sudo", "-n", "true").returncode == 0
    refused = ssh("root", "true")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr, refused.stderr
