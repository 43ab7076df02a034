"""The host lets in only SSH, HTTP and HTTPS, hardens SSH, and updates
itself; each part is left alone where the scenario switches it off."""

import re
import socket

import pytest

from conftest import SITE_USER, published_port


def firewall_on(site):
    return site.setting("host_hardening_firewall", True)


def dropped_packets(host):
    table = host.check_output("nft list table inet host_firewall")
    return int(re.search(r"counter packets (\d+) bytes \d+ drop", table).group(1))


def test_firewall_drops_by_default_and_opens_only_ssh_http_https(site):
    table = site.host.run("nft list table inet host_firewall")
    if not firewall_on(site):
        assert table.rc != 0
        assert not site.host.package("nftables").is_installed
        return
    assert "policy drop" in table.stdout
    assert "tcp dport { 22, 80, 443 } accept" in table.stdout
    assert site.host.service("nftables").is_enabled
    assert site.host.run("nft --check --file /etc/nftables.conf").rc == 0
    assert "host_firewall" in site.host.file("/etc/nftables.conf").content_string


@pytest.fixture
def listener_on_8000(site):
    unit = "firewall-probe-listener"
    site.host.run(f"systemctl stop {unit}")
    site.host.check_output(f"systemd-run --unit={unit} python3 -m http.server 8000 --bind 0.0.0.0")
    site.host.check_output(
        "for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000), 1)' "
        "2>/dev/null && exit 0; sleep 0.1; done; exit 1"
    )
    yield
    site.host.run(f"systemctl stop {unit}")


def test_a_port_not_opened_stays_shut(site, listener_on_8000):
    """Something listens on 8000 (it answers on the server itself). From
    outside, the firewall drops the connection; with the firewall switched
    off, it answers."""
    port = published_port(site.container, 8000)
    before = dropped_packets(site.host) if firewall_on(site) else None
    answered = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answered = bool(sock.recv(100))
    except OSError:
        pass
    assert answered == (not firewall_on(site))
    if firewall_on(site):
        assert dropped_packets(site.host) > before


def test_security_updates_install_automatically(site):
    installed = site.host.package("unattended-upgrades").is_installed
    if not site.setting("host_hardening_unattended_upgrades", True):
        assert not installed
        assert not site.host.file("/etc/apt/apt.conf.d/20auto-upgrades").exists
        return
    assert installed
    config = site.host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config


def sshd_effective(site):
    """sshd -T: the settings the SSH server actually runs with."""
    settings = {}
    for line in site.host.check_output("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, []).append(value)
    return settings


def test_ssh_is_hardened(site):
    dropin = site.host.file("/etc/ssh/sshd_config.d/00-host-hardening.conf")
    if not site.setting("host_hardening_ssh", True):
        assert not dropin.exists
        return
    assert (dropin.user, dropin.mode) == ("root", 0o644)
    assert site.host.service("ssh").is_running
    assert site.host.service("ssh").is_enabled
    effective = sshd_effective(site)
    expected = {
        "permitrootlogin": ["no"],
        "passwordauthentication": ["no"],
        "kbdinteractiveauthentication": ["no"],
        "permitemptypasswords": ["no"],
        "pubkeyauthentication": ["yes"],
        "authenticationmethods": ["publickey"],
        "allowusers": site.setting("host_hardening_ssh_allow_users", [SITE_USER]),
        "x11forwarding": ["no"],
        "allowtcpforwarding": ["no"],
        "allowagentforwarding": ["no"],
        "maxauthtries": ["3"],
    }
    assert {key: effective.get(key) for key in expected} == expected


def test_ssh_refuses_root_and_passwords_on_the_wire(site):
    """What a client is offered: a root login attempt is turned away and no
    password method is on offer."""
    if not site.setting("host_hardening_ssh", True):
        # Switched off: the role installs no SSH server at all.
        assert site.host.run("ss -Hltn 'sport = :22'").stdout.strip() == ""
        return
    probe = site.host.run(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o PreferredAuthentications=password,keyboard-interactive -o ConnectTimeout=5 root@127.0.0.1 true"
    )
    assert probe.rc == 255
    assert "Permission denied (publickey)" in probe.stderr, probe.stderr


def test_kernel_settings_are_skipped_on_a_container(site):
    assert site.host.run("systemd-detect-virt --container").rc == 0
    assert not site.host.file("/etc/sysctl.d/90-host-hardening.conf").exists
