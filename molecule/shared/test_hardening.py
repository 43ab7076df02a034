"""The host lets in only SSH, HTTP and HTTPS, and updates itself."""

import re
import socket

import pytest

from conftest import published_port


def dropped_packets(host):
    table = host.check_output("nft list table inet host_firewall")
    return int(re.search(r"counter packets (\d+) bytes \d+ drop", table).group(1))


def test_firewall_drops_by_default_and_opens_only_ssh_http_https(site):
    table = site.host.check_output("nft list table inet host_firewall")
    assert "policy drop" in table
    assert "tcp dport { 22, 80, 443 } accept" in table
    assert site.host.service("nftables").is_enabled


def test_firewall_rules_are_those_loaded_at_boot(site):
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
    """Something listens on 8000 (it answers on the server itself), but a
    connection from outside is dropped by the firewall."""
    port = published_port(site.container, 8000)
    before = dropped_packets(site.host)
    answered = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answered = bool(sock.recv(100))
    except OSError:
        pass
    assert not answered
    assert dropped_packets(site.host) > before


def test_security_updates_install_automatically(site):
    assert site.host.package("unattended-upgrades").is_installed
    config = site.host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
