"""Fixtures for the testinfra checks of every scenario.

Each site (an inventory host in the `staging` or `live` group) is checked on
the server it runs on, and over HTTP the way a browser reaches it: on the
loopback port the scenario publishes, by its domain name.
"""

import http.client
import importlib.util
import json
import os
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
import yaml

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[1]))
INVENTORY_DIR = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent if "MOLECULE_INVENTORY_FILE" in os.environ else None
SITE_USER = "elspeth"
SITE_GROUPS = ("staging", "live")


def _load_site_names():
    """The roles' naming rule (the site_short_name filter), imported from the
    filter plugin itself."""
    spec = importlib.util.spec_from_file_location(
        "site_names", PROJECT_DIR / "playbooks" / "filter_plugins" / "site_names.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


short_name = _load_site_names().short_name


def inventory():
    """The scenario's inventory as `ansible-inventory --list` prints it."""
    out = subprocess.run(
        ["ansible-inventory", "-i", str(INVENTORY_DIR), "--list"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def sites_in(inv):
    names = []
    for group in SITE_GROUPS:
        names += inv.get(group, {}).get("hosts", [])
    return names


@dataclass
class Site:
    """One deployed site: its domain, its server and where it answers."""

    domain: str
    group: str
    container: str
    host: object  # a testinfra Host on the site's server
    http_port: int
    https_port: int
    hostvars: dict

    def setting(self, name, default):
        """A variable the scenario's inventory sets for this site, or the
        project's default."""
        return self.hostvars.get(name, default)

    @property
    def root(self):
        return f"/home/{SITE_USER}/sites/{self.domain}"

    @property
    def service_user(self):
        """The user the site's gunicorn runs as, as the environment's
        group_vars name it."""
        settings = yaml.safe_load((PROJECT_DIR / "group_vars" / self.group / "site.yml").read_text())
        return settings["site_service_user"]

    @property
    def database_server(self):
        """The inventory name of the site's PostgreSQL server; "" for SQLite."""
        return self.hostvars.get("database_server", "")

    @property
    def data_dir(self):
        return f"{self.root}/shared/data"

    @property
    def file_name(self):
        """What the site's unit, vhost and certificate are named after: the
        domain, or a domain too long for a file name cut short and made
        unique with a hash (the webserver role's rule)."""
        return short_name(self.domain, 150)

    @property
    def unit(self):
        return f"gunicorn-{self.file_name}"

    @property
    def lock(self):
        """The site's deploy lock, in root's directory (the release role)."""
        return f"/run/superlists-deploy/deploy-{short_name(self.domain, 200)}.lock"

    @property
    def journal(self):
        """Where a deploy notes what it is changing until it is done."""
        return f"/var/lib/superlists-deploy/{short_name(self.domain, 200)}.journal"

    @property
    def url(self):
        return f"https://{self.domain}:{self.https_port}"

    def connect_tls(self, server_name=None, context=None):
        """A TLS connection to the site's published port, with the site's
        name (or another) as the TLS server name. The certificate is
        self-signed, so it is not verified."""
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        sock = socket.create_connection(("127.0.0.1", self.https_port), timeout=15)
        try:
            return context.wrap_socket(sock, server_hostname=server_name or self.domain)
        except Exception:
            sock.close()
            raise

    def request(self, method, path, host_header=None, body=None, headers=None, raw=False):
        """An HTTPS request to the site, the way a browser makes it; the
        body as text, or as bytes when raw."""
        site = self

        class Connection(http.client.HTTPSConnection):
            def connect(self):
                self.sock = site.connect_tls()

        return self._send(Connection(self.domain, self.https_port, timeout=15), method, path,
                          host_header or f"{self.domain}:{self.https_port}", body, headers, raw)

    def http_request(self, method, path, host_header=None, body=None, headers=None):
        """A plain HTTP request to the site's published port 80."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=15)
        return self._send(conn, method, path, host_header or f"{self.domain}:{self.http_port}", body, headers)

    @staticmethod
    def _send(conn, method, path, host_header, body, headers, raw=False):
        all_headers = {"Host": host_header}
        all_headers.update(headers or {})
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        content = resp.read()
        result = resp.status, resp.headers, content if raw else content.decode("utf-8", "replace")
        conn.close()
        return result

    def start_list(self, text):
        """Start a list through the home page's form, as a browser does
        (CSRF token and cookie included); return the new list's path."""
        _, headers, body = self.request("GET", "/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
        status, headers, _ = self.request(
            "POST", "/lists/new",
            body=f"item_text={text}&csrfmiddlewaretoken={token}",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}",
                     "Origin": self.url},
        )
        assert status == 302, status
        return headers["Location"]

    def main_pid(self):
        return self.host.check_output(f"systemctl show -p MainPID --value {self.unit}.service")

    def deployed_commit(self):
        return self.host.file(f"{self.root}/current/REVISION").content_string.strip()


def published_port(container, port):
    out = subprocess.run(["docker", "port", container, f"{port}/tcp"], check=True, capture_output=True, text=True).stdout
    return int(out.splitlines()[0].rsplit(":", 1)[1])


def make_site(name, inv):
    """A site of the inventory, checked on its container: the one Ansible
    reaches with docker exec, or, for a host Ansible logs in to over SSH,
    the one its `test_container` names (checked as root through docker
    exec, as the others)."""
    hostvars = inv["_meta"]["hostvars"].get(name, {})
    group = next(g for g in SITE_GROUPS if name in inv.get(g, {}).get("hosts", []))
    if "test_container" in hostvars:
        container = hostvars["test_container"]
        host = testinfra.get_host(f"docker://{container}")
    else:
        container = hostvars.get("ansible_host", name)
        host = testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY_DIR}")
    return Site(name, group, container, host, published_port(container, 80), published_port(container, 443), hostvars)


def pytest_generate_tests(metafunc):
    if "site" in metafunc.fixturenames:
        names = sites_in(inventory())
        assert names, "the scenario's inventory has no staging or live site"
        metafunc.parametrize("site", names, indirect=True, scope="module")
    if "staging_site" in metafunc.fixturenames:
        names = inventory().get("staging", {}).get("hosts", [])
        assert names, "the scenario's inventory has no staging site"
        metafunc.parametrize("staging_site", names[:1], indirect=True, scope="module")


@pytest.fixture(scope="module")
def site(request):
    return make_site(request.param, inventory())


@pytest.fixture(scope="module")
def staging_site(request):
    return make_site(request.param, inventory())


def try_playbook(*args, env=None, as_operator=False):
    """ansible-playbook on the scenario's inventory, from the project (which
    its ansible.cfg configures): its exit code and output. as_operator: with
    the project's ansible.cfg alone, none of Molecule's ANSIBLE_* settings,
    so the output is what an operator sees."""
    base = os.environ
    if as_operator:
        base = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
        base["ANSIBLE_CONFIG"] = str(PROJECT_DIR / "ansible.cfg")
    result = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY_DIR), *args],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=900, env={**base, **(env or {})},
    )
    print(result.stdout[-5000:], result.stderr[-2000:])
    return result.returncode, result.stdout + result.stderr


def run_playbook(*args, env=None, as_operator=False):
    """As try_playbook; fails the test on a failed run."""
    rc, output = try_playbook(*args, env=env, as_operator=as_operator)
    assert rc == 0, output[-3000:]
    return output


def changed_counts(output):
    return [int(n) for n in re.findall(r"changed=(\d+)", output)]


def rev_parse(version):
    return subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "--verify", f"{version}^{{commit}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def repo_head():
    return rev_parse("HEAD")
