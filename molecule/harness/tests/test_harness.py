"""The test host is a real systemd machine that Ansible converged."""

import os
import re
import subprocess
from pathlib import Path


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_finished_booting(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_no_unit_failed(host):
    failed = host.run("systemctl list-units --state=failed --plain --no-legend")
    assert failed.stdout.strip() == ""


def test_converge_wrote_its_marker(host):
    marker = host.file("/etc/harness-marker")
    assert marker.content_string == "converged by molecule\n"
    assert marker.mode == 0o644


def test_unit_started_by_converge_is_active_and_enabled(host):
    unit = host.service("harness-marker.service")
    assert unit.is_running
    assert unit.is_enabled



def test_status_of_a_server_with_no_site_yet(host):
    """playbooks/status.yml on a bare server, run as an operator runs it (the
    project's ansible.cfg, none of Molecule's settings): it says no site is
    deployed, and changes nothing (the deploy user is not even created)."""
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    result = subprocess.run(
        ["ansible-playbook", "-i", str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent), "playbooks/status.yml"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env={**env, "ANSIBLE_CONFIG": str(project / "ansible.cfg")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    output = " ".join(result.stdout.split())
    assert "harness-host: no site deployed yet (/home/elspeth/sites/harness-host does not exist)" in output
    assert re.findall(r"changed=(\d+)", output) == ["0"]
    assert not host.file("/home/elspeth").exists
