"""The lockout checks see the login Ansible will really make: its user and
port from the command line, ansible.cfg or ~/.ssh/config, not only from
ansible_user and ansible_port. Each run stops in the settings check, which
makes no connection."""

import importlib.util
import json
from pathlib import Path

import pytest

from test_preflight import assert_refused_before_any_change, connect_over_ssh_as, project, run_site  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def load_plugin():
    spec = importlib.util.spec_from_file_location(
        "ssh_login", REPO / "roles" / "host_hardening" / "action_plugins" / "ssh_login.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plugin = load_plugin()


def test_reads_user_and_port_from_what_ssh_prints():
    assert plugin.ssh_config_login("host web1\nuser bob\nport 2200\nuser ignored\n") == {"user": "bob", "port": "2200"}
    assert plugin.ssh_config_login("hostname web1\n") == {}


def test_asks_ssh_with_the_connection_arguments():
    argv = plugin.ssh_g_argv(None, ["-C -o ControlMaster=auto", None, "-F '/my dir/config'"], "web1", "ops", 2200)
    assert argv == ["ssh", "-G", "-C", "-o", "ControlMaster=auto", "-F", "/my dir/config",
                    "-p", "2200", "-l", "ops", "web1"]


def ssh_config(project, text):
    """An ssh client configuration, handed to ssh as ~/.ssh/config would be."""
    config = project / "ssh_config"
    config.write_text(text)
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text() + f"      ansible_ssh_common_args: -F {config}\n")


@pytest.fixture(autouse=True)
def not_root(monkeypatch):
    """The controller's user is not the one under test: the check must
    find the login from Ansible's and ssh's settings."""
    monkeypatch.setenv("USER", "admin")


def over_ssh(project):
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace(
        "ansible_connection: community.docker.docker", "ansible_connection: ssh"))


def test_a_root_login_from_ssh_config_is_refused(project):
    over_ssh(project)
    ssh_config(project, "Host no-such-server\n  User root\n")
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "ansible_user")
    assert "Ansible logs in as root over SSH" in output


def test_a_port_from_ssh_config_the_firewall_does_not_open_is_refused(project):
    over_ssh(project)
    ssh_config(project, "Host no-such-server\n  User admin\n  Port 2200\n")
    rc, output = run_site(project)
    assert_refused_before_any_change(rc, output, "host_hardening")
    assert "leaves out port 2200, the one SSH listens on or Ansible's logins arrive at" in output


def test_a_user_given_with_dash_u_is_checked(project):
    over_ssh(project)
    rc, output = run_site(project, "-u", "root")
    assert_refused_before_any_change(rc, output, "ansible_user")
    assert "Ansible logs in as root over SSH" in output


def test_remote_port_in_ansible_cfg_is_checked(project):
    over_ssh(project)
    cfg = project / "ansible.cfg"
    cfg.write_text(cfg.read_text().replace("[defaults]\n", "[defaults]\nremote_port = 2200\n", 1))
    rc, output = run_site(project, "-u", "admin")
    assert_refused_before_any_change(rc, output, "host_hardening")
    assert "leaves out port 2200, the one SSH listens on or Ansible's logins arrive at" in output


def test_the_login_from_ssh_config_passes_when_it_fits(project):
    """The control case: the user and port from ssh's configuration fit the
    hardening (AllowUsers defaults to that user), so the run gets past the
    check and fails only on connecting."""
    over_ssh(project)
    hosts = project / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("      host_hardening_ssh_allow_users: [admin]\n", ""))
    ssh_config(project, "Host no-such-server\n  User deployer\n  Port 22\n")
    rc, output = run_site(project, "-e", json.dumps({"host_hardening_ssh_login_port": 22}))
    assert rc != 0
    assert "Provision the web servers" in output, output[-3000:]
