"""Each hardening component can be run, or skipped, on its own by tag."""

import os
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
        ("firewall", "Write the firewall rules", "Install unattended-upgrades"),
        ("upgrades", "Install unattended-upgrades", "Write the firewall rules"),
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
                                       ("upgrades", "Install unattended-upgrades"),
                                       ("ssh", "Write the hardened SSH settings"),
                                       ("kernel", "Set the kernel parameters")])
def test_a_component_is_skipped_by_its_tag(tag, task):
    assert task in listed_tasks()
    assert task not in listed_tasks("--skip-tags", tag)
