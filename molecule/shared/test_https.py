"""HTTPS and the hardened web server, probed on loopback as a client would."""

import ssl

import pytest


CSS = "/static/bootstrap/css/bootstrap.min.css"
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def tls_context(version):
    """A client that offers exactly one TLS version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Let this client offer old versions at all, so that a refusal comes
    # from the server and not from the client's own policy.
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    return context


def test_http_redirects_to_https(site):
    status, headers, _ = site.http_request("GET", "/lists/1/?x=1")
    assert status == 301
    assert headers["Location"] == f"https://{site.domain}/lists/1/?x=1"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_modern_tls_accepted(site, version):
    with site.connect_tls(context=tls_context(version)) as conn:
        assert conn.version() == version.name.replace("_", ".").replace("TLSv1.", "TLSv1.")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_refused(site, version):
    with pytest.raises(ssl.SSLError) as refused:
        site.connect_tls(context=tls_context(version))
    # The handshake was attempted and the server said no.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    assert "alert" in str(refused.value).lower() or "unsupported protocol" in str(refused.value).lower()


def test_unknown_name_gets_no_certificate(site):
    with pytest.raises(ssl.SSLError):
        site.connect_tls(server_name="evil.example.com")


@pytest.mark.parametrize("path", ["/", CSS])
def test_security_headers_on_pages_and_static_files(site, path):
    status, headers, _ = site.request("GET", path)
    assert status == 200
    for name, value in SECURITY_HEADERS.items():
        assert headers.get_all(name) == [value], name
    # No version number for an attacker to look up.
    assert headers["Server"] == "nginx"


def test_cookies_are_secure(site):
    _, headers, _ = site.request("GET", "/")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("csrftoken=")
    assert "Secure" in cookie


def test_oversized_body_is_refused(site):
    status, _, _ = site.request("POST", "/lists/new", body=b"x" * (2 * 1024 * 1024),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413


def test_private_key_is_root_only(site):
    """The file nginx is pointed at (for an ACME certificate, a link into
    certbot's store) is root's alone; nginx's workers cannot read it."""
    link = f"/etc/nginx/tls/{site.file_name}.key"
    key = site.host.file(site.host.check_output(f"readlink -f {link}"))
    assert key.user == "root"
    assert key.mode == 0o600
    assert site.host.file("/etc/nginx/tls").mode == 0o700
    denied = site.host.run(f"sudo -u www-data cat {link}")
    assert denied.rc != 0 and "Permission denied" in denied.stderr


def test_django_check_deploy_is_clean(site):
    check = site.host.run(f"sudo -u {site.service_user} {site.root}/manage check --deploy --fail-level WARNING")
    assert check.rc == 0, check.stderr
    assert "no issues" in check.stdout
