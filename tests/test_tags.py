"""Each hardening component can be run, or skipped, on its own by tag."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def listed_tasks(*args):
    result = subprocess.run(
        ["ansible-playbook", "-i", "inventory/staging", "site.yml", "--list-tasks", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "tag, wanted, unwanted",
    [
        ("firewall", "Write the firewall rules", "Switch on the daily update run"),
        ("upgrades", "Switch on the daily update run", "Write the firewall rules"),
        ("ssh", "Write the hardened SSH settings", "Write the firewall rules"),
        ("kernel", "Set the kernel parameters", "Write the hardened SSH settings"),
    ],
)
def test_a_component_runs_alone_by_its_tag(tag, wanted, unwanted):
    tasks = listed_tasks("--tags", tag)
    assert wanted in tasks
    assert unwanted not in tasks
    assert "Apply the release's database migrations" not in tasks


@pytest.mark.parametrize("tag, task", [("firewall", "Write the firewall rules"),
                                       ("upgrades", "Switch on the daily update run"),
                                       ("ssh", "Write the hardened SSH settings"),
                                       ("kernel", "Set the kernel parameters")])
def test_a_component_is_skipped_by_its_tag(tag, task):
    assert task in listed_tasks()
    assert task not in listed_tasks("--skip-tags", tag)


def hardening_packages(tmp_path, *args):
    """The packages host_hardening's one apt run installs, for a run with
    these arguments: its own defaults and vars, evaluated by Ansible."""
    playbook = tmp_path / "packages.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: {REPO}/roles/host_hardening/defaults/main.yml
      tags: [always]
    - ansible.builtin.include_vars: {REPO}/roles/host_hardening/vars/main.yml
      tags: [always]
    - ansible.builtin.debug:
        msg: "PACKAGES={{{{ __host_hardening_packages | join(',') }}}}"
      tags: [always]
""")
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return re.search(r"PACKAGES=([a-z0-9,.+-]*)", result.stdout).group(1).split(",")


@pytest.mark.parametrize(
    "args, packages",
    [
        ([], ["nftables", "unattended-upgrades", "openssh-server"]),
        (["--tags", "firewall"], ["nftables"]),
        (["--tags", "ssh,upgrades"], ["unattended-upgrades", "openssh-server"]),
        (["--skip-tags", "ssh"], ["nftables", "unattended-upgrades"]),
        (["-e", "host_hardening_firewall=false"], ["unattended-upgrades", "openssh-server"]),
        (["--tags", "kernel"], [""]),
    ],
)
def test_only_the_packages_of_the_components_that_run_are_installed(tmp_path, args, packages):
    assert hardening_packages(tmp_path, *args) == packages
