"""The load balancer's HAProxy configuration, rendered from the role's own
template (roles/loadbalancer/templates/haproxy.cfg.j2) and run by the
controller's HAProxy in front of two stand-in web servers on loopback: what
a visitor and a web server see of it, in a few seconds.

Only what ties it to a server is changed before it runs (the global
section's chroot, user and log, the web servers' port)."""

import http.client
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "site.example.com"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="HAProxy is not installed (scripts/bootstrap)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(tmp, **settings):
    """haproxy.cfg as the loadbalancer role writes it on lb1, in front of
    web1 and web2 serving DOMAIN."""
    (tmp / "hosts.yml").write_text(
        "all:\n  children:\n"
        "    web:\n      hosts:\n"
        f"        web1: {{site_domain: {DOMAIN}, fleet_address: 127.0.0.1, load_balancer: lb1}}\n"
        f"        web2: {{site_domain: {DOMAIN}, fleet_address: 127.0.0.2, load_balancer: lb1}}\n"
        "    lb:\n      hosts:\n        lb1:\n          ansible_connection: local\n"
        "          ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    role = REPO / "roles" / "loadbalancer"
    (tmp / "render.yml").write_text(
        "- name: Render HAProxy's configuration\n  hosts: lb1\n  gather_facts: false\n"
        f"  vars_files: [{role}/defaults/main.yml, {role}/vars/main.yml]\n"
        "  tasks:\n    - name: Render it\n      ansible.builtin.template:\n"
        f"        src: {role}/templates/haproxy.cfg.j2\n        dest: {tmp}/haproxy.cfg\n        mode: \"0644\"\n")
    extra = {"loadbalancer_socket": str(tmp / "admin.sock"), "__loadbalancer_tls_dir": str(tmp / "tls"),
             "__loadbalancer_backend_ca_dir": str(tmp / "ca"), **settings}
    args = [arg for name, value in extra.items() for arg in ("-e", f"{name}={value}")]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_FILTER_PLUGINS": str(REPO / "playbooks" / "filter_plugins")}
    result = subprocess.run(["ansible-playbook", "-i", str(tmp / "hosts.yml"), str(tmp / "render.yml"), *args],
                            cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return (tmp / "haproxy.cfg").read_text()


def make_certificate(tmp):
    """A self-signed certificate for DOMAIN: the load balancer's, and the
    stand-in web servers'."""
    (tmp / "tls").mkdir()
    (tmp / "ca").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={DOMAIN}",
                    "-addext", f"subjectAltName=DNS:{DOMAIN}", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    cert, key = (tmp / "cert.pem").read_text(), (tmp / "key.pem").read_text()
    (tmp / "tls" / f"{DOMAIN}.pem").write_text(cert + key)
    (tmp / "ca" / f"{DOMAIN}.pem").write_text(cert)


class WebServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A stand-in web server over TLS: /health/ answers 200; /drop reads
    the request and closes the connection without an answer, as a server
    that dies while it handles one. It counts the requests it was sent."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tmp):
        self.seen = []
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        super().__init__(("127.0.0.1", 0), Handler)

    def get_request(self):
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), address


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                data += chunk
        except (ssl.SSLError, OSError):
            return
        head, _, body = data.partition(b"\r\n\r\n")
        method, path = head.decode().split()[:2]
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)) if b"ontent-" in head else 0
        while len(body) < length:
            body += self.request.recv(65536)
        if path == "/drop":
            self.server.seen.append(method)
            return
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


@pytest.fixture(scope="module")
def balancer(tmp_path_factory):
    """HAProxy with the rendered configuration on free loopback ports, in
    front of one stand-in web server (both of the site's servers point at
    it, so every retry reaches it); its ports and the web server."""
    tmp = tmp_path_factory.mktemp("haproxy")
    make_certificate(tmp)
    web = WebServer(tmp)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    config = render(tmp, loadbalancer_http_port=http_port, loadbalancer_https_port=https_port,
                    loadbalancer_http_request_timeout="1s", loadbalancer_check_interval=200)
    # What ties it to a server: chroot, user, the system log.
    local = re.sub(r"(?m)^\s*(chroot|user|group|daemon|log /dev/log)\b.*$", "", config)
    local = re.sub(r"(?m)^(\s*server web\d 127\.0\.0\.\d):443$", rf"\1:{web.server_address[1]}", local)
    local = local.replace("127.0.0.2:", "127.0.0.1:")
    (tmp / "local.cfg").write_text(local)
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(tmp / "local.cfg")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if https_get(https_port, "/health/")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "HAProxy never served the site"
            time.sleep(0.2)
        yield {"config": config, "http": http_port, "https": https_port, "web": web}
    finally:
        process.terminate()
        process.wait(10)
        web.shutdown()


def client_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def https_get(port, path, method="GET", server_name=DOMAIN, host=DOMAIN, body=None):
    sock = client_context().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                        server_hostname=server_name)
    conn = http.client.HTTPSConnection(DOMAIN, port, timeout=10)
    conn.sock = sock
    try:
        if body is not None:
            # Headers and body in one piece, as a browser's small form often
            # arrives: HAProxy has the whole request before it sends it on,
            # and could send it again.
            conn.putrequest(method, path, skip_host=True)
            conn.putheader("Host", host)
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(message_body=body)
        else:
            conn.request(method, path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_configuration_is_valid(tmp_path):
    make_certificate(tmp_path)
    config = render(tmp_path)
    (tmp_path / "haproxy.cfg").write_text(config)
    result = subprocess.run([HAPROXY, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The defaults: ports 80 and 443, 10 s for a request's headers.
    assert re.search(r"(?m)^\s*bind :80$", config), config
    assert re.search(r"(?m)^\s*bind :443 ssl crt \S+ strict-sni$", config), config
    assert re.search(r"(?m)^\s*timeout http-request 10s$", config), config


def test_it_listens_on_the_ports_it_is_given(balancer):
    assert re.search(rf"(?m)^\s*bind :{balancer['http']}$", balancer["config"])
    assert re.search(rf"(?m)^\s*bind :{balancer['https']} ssl ", balancer["config"])
    conn = http.client.HTTPConnection("127.0.0.1", balancer["http"], timeout=10)
    conn.request("GET", "/", headers={"Host": DOMAIN})
    response = conn.getresponse()
    assert response.status == 301 and response.headers["Location"].startswith(f"https://{DOMAIN}")
    assert https_get(balancer["https"], "/")[0] == 200


def test_a_request_for_a_name_it_does_not_serve_gets_no_answer(balancer):
    for port, request in ((balancer["http"], None), (balancer["https"], https_get)):
        if request is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/", headers={"Host": "other.example.net"})
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
                conn.getresponse()
        else:
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
                request(port, "/", host="other.example.net")


def test_a_tls_handshake_for_a_name_it_does_not_serve_is_refused(balancer):
    with pytest.raises(ssl.SSLError):
        https_get(balancer["https"], "/", server_name="other.example.net", host=DOMAIN)
    assert https_get(balancer["https"], "/", server_name=DOMAIN)[0] == 200


def test_a_post_is_never_sent_twice(balancer):
    """A web server that closes the connection without answering: a GET is
    tried again (retries 3), a POST, which it may have acted on, is not."""
    seen = balancer["web"].seen
    seen.clear()
    assert https_get(balancer["https"], "/drop", method="POST", body=b"item_text=once")[0] == 502
    assert seen == ["POST"]
    seen.clear()
    assert https_get(balancer["https"], "/drop")[0] == 502
    assert seen == ["GET"] * 4


def test_a_client_that_does_not_finish_its_request_is_cut_off(balancer):
    with socket.create_connection(("127.0.0.1", balancer["http"]), timeout=10) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\n".encode())
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer
    assert waited < 5, waited
