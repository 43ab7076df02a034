"""Live's certificate comes from an ACME CA (Pebble, standing in for Let's
Encrypt), through certbot's webroot mode; a renewal reloads nginx and never
stops it."""

import re
import time

import pytest

from conftest import inventory, make_site

ROOT_CA = "/tmp/acme-root.pem"


@pytest.fixture(scope="module")
def acme_site():
    inv = inventory()
    names = [name for name in inv.get("live", {}).get("hosts", [])
             if inv["_meta"]["hostvars"][name].get("webserver_certificate") == "acme"]
    assert names, "no site in this scenario takes its certificate from an ACME CA"
    site = make_site(names[0], inv)
    # The CA's root is made afresh each time Pebble starts: ask it.
    site.host.check_output(
        "python3 -c 'import urllib.request, sys; "
        "sys.stdout.write(urllib.request.urlopen(\"https://127.0.0.1:15000/roots/0\").read().decode())' "
        f"> {ROOT_CA}"
    )
    return site


def served_certificate(site):
    """The certificate nginx serves for the site's name, checked against the
    CA's root: (verify result, serial)."""
    out = site.host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {site.domain} -CAfile {ROOT_CA} "
        f"-verify_hostname {site.domain} </dev/null 2>/dev/null | tee /tmp/acme-s-client.txt | "
        "openssl x509 -noout -serial -issuer"
    )
    verify = re.search(r"Verify return code: (\d+ \([^)]*\))", site.host.file("/tmp/acme-s-client.txt").content_string)
    serial = re.search(r"serial=(\w+)", out).group(1)
    return verify.group(1), serial, out


def test_the_certificate_is_issued_by_the_acme_ca(acme_site):
    verify, _, out = served_certificate(acme_site)
    assert verify == "0 (ok)"
    assert "Pebble" in out
    assert acme_site.host.file(f"/etc/nginx/tls/{acme_site.file_name}.crt").is_symlink


def test_the_http_challenge_is_served_from_the_webroot(acme_site):
    token = "probe-token"
    host = acme_site.host
    challenges = "/var/www/acme-challenge/.well-known/acme-challenge"
    host.check_output(f"mkdir -p {challenges} && echo probe-content > {challenges}/{token}")
    status, _, body = acme_site.http_request("GET", f"/.well-known/acme-challenge/{token}")
    host.check_output(f"rm {challenges}/{token}")
    assert (status, body.strip()) == (200, "probe-content")
    # Everything else on HTTP still goes to HTTPS.
    assert acme_site.http_request("GET", "/")[0] == 301


def test_a_renewal_reloads_nginx_without_stopping_it(acme_site):
    host = acme_site.host
    _, serial_before, _ = served_certificate(acme_site)
    nginx_pid = host.check_output("systemctl show -p MainPID --value nginx")
    assert host.service("certbot.timer").is_enabled

    host.check_output("certbot renew --force-renewal --no-random-sleep-on-renew --quiet")

    # The reload is graceful: old workers finish while new ones start.
    for _ in range(10):
        verify, serial_after, _ = served_certificate(acme_site)
        if serial_after != serial_before:
            break
        time.sleep(0.5)
    assert serial_after != serial_before, "nginx still serves the old certificate"
    assert verify == "0 (ok)"
    assert host.check_output("systemctl show -p MainPID --value nginx") == nginx_pid
    status, _, body = acme_site.request("GET", "/")
    assert status == 200 and "To-Do" in body
