"""Helpers for bench/benchmark: throwaway servers, deploys (Ansible and the
shell floor), the visitor's view of a site, loads, and the profile_tasks
recap. Everything here talks to containers named bench-* that it created,
publishes only 127.0.0.1 ports, and sends traffic only to loopback."""

import http.client
import json
import os
import re
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
VENV_BIN = Path(os.environ.get("SUPERLISTS_VENV", REPO / ".venv")) / "bin"
IMAGE = os.environ.get("TESTHOST_IMAGE", "superlists-testhost:bookworm")
DOMAIN = "superlists-staging.localhost"
SITE_USER = "elspeth"
SERVICE_USER = "superlists-staging"
CSS = "/static/bootstrap/css/bootstrap.min.css"

# The scratch commits the tests deploy as new versions (molecule/app_changes.py).
sys.path.insert(0, str(REPO / "molecule"))
from app_changes import MODELS, add_field, clone, commit, git, migration  # noqa: E402


def use_venv(script):
    """Run script with the project's toolchain (.venv: Ansible, and
    matplotlib for the plot): re-execute it with .venv's python unless it
    already runs there."""
    venv_python = REPO / ".venv/bin/python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parents[1].resolve() \
            and not os.environ.get("BENCH_NO_REEXEC"):
        os.environ["BENCH_NO_REEXEC"] = "1"
        os.execv(str(venv_python), [str(venv_python), str(script), *sys.argv[1:]])


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_image_ready():
    """scripts/base-image: builds IMAGE unless cached; False when it cannot."""
    if subprocess.run([str(REPO / "scripts/base-image")]).returncode == 0:
        return True
    print(f"BROKEN: scripts/base-image could not provide {IMAGE}", file=sys.stderr)
    return False


# The Ansible side: the checkout whose site.yml, roles, group_vars and
# ansible.cfg are run (bench/benchmark --tree; this one by default), and
# environment added to every ansible-playbook run (--ansible-env).
ANSIBLE_TREE = REPO
ANSIBLE_EXTRA_ENV = {}
# How the Ansible side reaches its servers (configure_ansible): "docker" or
# "ssh". Over SSH: the login user, the run's key and known_hosts files, and
# each container's published SSH port.
CONNECTION = "docker"
SSH_USER = "ops"
SSH_DIR = None
SSH_PORTS = {}


class Broken(Exception):
    """Something the benchmark needs did not work: a deploy failed, a site
    does not serve what it should, a container did not start."""


def site_root(domain=DOMAIN):
    return f"/home/{SITE_USER}/sites/{domain}"


# --- processes -------------------------------------------------------------

@dataclass
class Timed:
    seconds: float
    output: str


def run_timed(cmd, log, what, env=None, cwd=REPO, timeout=1800, note=""):
    """Run cmd, time it, keep its output in the file log (after the command,
    note and the time); Broken if it fails."""
    started = time.monotonic()
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        Path(log).write_text(exc.output or "")
        raise Broken(f"{what} took longer than {timeout} s (log: {log})") from None
    seconds = time.monotonic() - started
    head = f"$ {' '.join(map(str, cmd))}\n" + (f"# {note}\n" if note else "")
    Path(log).write_text(f"{head}# {seconds:.2f} s, exit {result.returncode}\n" + result.stdout)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-25:])
        raise Broken(f"{what} failed (exit {result.returncode}, log: {log}):\n{tail}")
    return Timed(seconds, result.stdout)


def sh(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise Broken(f"{' '.join(cmd)} failed: {result.stderr.strip()[-1500:]}")
    return result.stdout.strip()


# --- containers ------------------------------------------------------------

def port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Containers:
    """The throwaway servers this run made (names start with bench-), and
    only those. remove() stops one at once (no more CPU, no port held);
    remove_all() deletes them all at the end in one docker call, since
    deleting a deployed container takes seconds (6-8 s on a busy 2-core
    machine), and about as long for several as for one. So each container
    of a run has a name of its own."""

    def __init__(self, log_dir):
        self.names = []  # running
        self.stopped = []  # stopped, files not yet deleted
        self.log_dir = Path(log_dir)

    def create(self, name, ports):
        """A fresh systemd container from IMAGE, as scripts/testhost makes
        them; ports maps a container port to a 127.0.0.1 port."""
        assert name.startswith("bench-"), name
        self.delete(name)  # a leftover of an interrupted run of this benchmark
        for host_port in ports.values():
            assert 19000 <= host_port <= 19999, host_port
            if not port_free(host_port):
                raise Broken(f"127.0.0.1:{host_port} is taken: stop what listens there, or remove "
                             f"the bench-* container left over by an interrupted run")
        publish = [f"127.0.0.1:{host}:{inside}" for inside, host in ports.items()]
        run_timed([str(REPO / "scripts/testhost"), name, *publish], self.log_dir / f"create-{name}.log",
                  f"starting the container {name}", env={**os.environ, "TESTHOST_IMAGE": IMAGE})
        self.names.append(name)
        return name

    def delete(self, name):
        """Stop and delete the container name now, if there is one."""
        if subprocess.run(["docker", "container", "inspect", name], capture_output=True).returncode == 0:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        for names in (self.names, self.stopped):
            if name in names:
                names.remove(name)

    def remove(self, *names):
        """Stop these containers of this run now; remove_all deletes them."""
        names = [name for name in names if name in self.names]
        if names:
            subprocess.run(["docker", "kill", *names], capture_output=True)
            for name in names:
                self.names.remove(name)
                self.stopped.append(name)

    def remove_all(self):
        """Delete every container of this run, in one docker call."""
        names = self.names + self.stopped
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
        self.names, self.stopped = [], []


# --- what is deployed --------------------------------------------------------

def scratch_chain(scratch, count):
    """A clone of this repository (so a commit made meanwhile changes
    nothing) and, on top of its HEAD, count new versions, one after the
    other: each commit adds a field to Item and its migration (the first
    `bench_note`, then `bench_note_2`, ...). Returns (repo, base commit,
    [new commits, oldest first])."""
    repo = clone(Path(scratch) / "repo")
    base = git(repo, "rev-parse", "HEAD")
    previous = max((p.stem for p in (repo / "app/lists/migrations").glob("[0-9][0-9][0-9][0-9]_*.py")), default=None)
    if previous is None:
        raise Broken("app/lists/migrations/ holds no migration: the benchmark's new-version commit no longer applies")
    commits = []
    for k in range(1, count + 1):
        field = "bench_note" if k == 1 else f"bench_note_{k}"
        name = f"{int(previous[:4]) + 1:04d}_item_{field}"
        try:
            models = add_field(repo, field)
        except ValueError as exc:
            raise Broken(f"the benchmark's new-version commit no longer applies: {exc}") from None
        commits.append(commit(repo, f"bench: new version {k}, a field and its migration",
                              {MODELS: models, f"app/lists/migrations/{name}.py": migration(previous, field)}))
        previous = name
    return repo, base, commits


# --- deploys ---------------------------------------------------------------

def write_inventory(path, hosts):
    """hosts: [(inventory host name, container)], all in group staging, like
    inventory/local/hosts.yml: reached through docker exec, or over SSH
    (configure_ansible(connection="ssh"); make_ssh_server first)."""
    lines = ["---", "# Written by bench/benchmark.", "staging:", "  hosts:"]
    for name, container in hosts:
        lines.append(f"    {name}:")
        if CONNECTION == "ssh":
            if container not in SSH_PORTS:
                raise Broken(f"{container} is not an SSH server yet (make_ssh_server)")
            lines += ["      ansible_host: 127.0.0.1",
                      f"      ansible_port: {SSH_PORTS[container]}",
                      f"      ansible_user: {SSH_USER}",
                      f"      ansible_ssh_private_key_file: {SSH_DIR / 'id_ed25519'}",
                      f"      ansible_ssh_common_args: -o UserKnownHostsFile={SSH_DIR / ('known_hosts-' + container)}"
                      " -o StrictHostKeyChecking=yes",
                      f"      host_hardening_ssh_allow_users: [{SSH_USER}]",
                      # Docker forwards the published port to the server's 22.
                      "      host_hardening_ssh_login_port: 22"]
        else:
            # `docker`, which Ansible routes to community.docker.docker, is
            # the name Mitogen's strategy also takes over.
            lines += ["      ansible_connection: docker",
                      f"      ansible_host: {container}",
                      f"      host_hardening_ssh_allow_users: [{SITE_USER}]"]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def make_ssh_server(container, port):
    """Not timed: make a fresh container what a new VPS is, for
    --connection ssh: sshd running, a user SSH_USER with passwordless sudo
    who logs in with this run's key (published on 127.0.0.1:port). Its host
    key is read through docker exec into a known_hosts file of its own, so
    SSH checks it."""
    script = "\n".join([
        "set -e",
        "export DEBIAN_FRONTEND=noninteractive",
        "apt-get update -q >/dev/null",
        "apt-get install -y -q --no-install-recommends openssh-server sudo >/dev/null",
        f"id {SSH_USER} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {SSH_USER}",
        f"echo '{SSH_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{SSH_USER}",
        f"chmod 0440 /etc/sudoers.d/{SSH_USER}",
        f"install -d -m 0700 -o {SSH_USER} -g {SSH_USER} /home/{SSH_USER}/.ssh",
        f"cat > /home/{SSH_USER}/.ssh/authorized_keys",
        f"chown {SSH_USER}: /home/{SSH_USER}/.ssh/authorized_keys",
        f"chmod 0600 /home/{SSH_USER}/.ssh/authorized_keys",
        "systemctl enable --now ssh >/dev/null 2>&1",
    ])
    result = subprocess.run(["docker", "exec", "-i", container, "sh", "-c", script],
                            input=(SSH_DIR / "id_ed25519.pub").read_text(), capture_output=True, text=True)
    if result.returncode != 0:
        raise Broken(f"making {container} an SSH server failed: {result.stderr.strip()[-1500:]}")
    host_key = sh("docker", "exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    (SSH_DIR / f"known_hosts-{container}").write_text(f"[127.0.0.1]:{port} {' '.join(host_key)}\n")
    SSH_PORTS[container] = port
    for _ in range(50):  # sshd answers once it has started
        with socket.socket() as sock:
            sock.settimeout(1)
            try:
                sock.connect(("127.0.0.1", port))
                if sock.recv(4).startswith(b"SSH-"):
                    return
            except OSError:
                pass
        time.sleep(0.2)
    raise Broken(f"sshd in {container} does not answer on 127.0.0.1:{port}")


@dataclass
class AnsibleRun:
    seconds: float
    tasks: list  # [(task name, seconds)] from profile_tasks, in the order printed
    recap: dict  # host -> {ok, changed, skipped, ...}
    cpu: float = None  # CPU seconds: ansible-playbook's processes and the servers' containers


def configure_ansible(tree=None, extra_env=None, connection="docker", scratch=None):
    """Measure the Ansible side of another checkout (its site.yml, roles,
    group_vars and ansible.cfg; the app commits stay this repository's), add
    extra_env ({name: value}) to every ansible-playbook run, and reach the
    servers with connection: "docker" (docker exec, as inventory/local) or
    "ssh" (as real servers: a key for the run is made in scratch)."""
    global ANSIBLE_TREE, ANSIBLE_EXTRA_ENV, CONNECTION, SSH_DIR
    ANSIBLE_TREE = Path(tree).resolve() if tree else REPO
    ANSIBLE_EXTRA_ENV = dict(extra_env or {})
    CONNECTION = connection
    if connection == "ssh":
        SSH_DIR = Path(scratch) / "ssh"
        SSH_DIR.mkdir(mode=0o700)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(SSH_DIR / "id_ed25519"))
    for name in ("site.yml", "ansible.cfg"):
        if not (ANSIBLE_TREE / name).is_file():
            raise Broken(f"{ANSIBLE_TREE} has no {name}: not a checkout of this repository")


def ansible_env():
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_TREE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0",
           # Each task's time (not on by default: ansible.cfg).
           "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    env.update(ANSIBLE_EXTRA_ENV)
    return env


def ansible_note():
    """The Ansible side's tree and extra environment, for each run's log."""
    return (f"tree {ANSIBLE_TREE}; connection {CONNECTION}; extra environment: "
            + (" ".join(f"{k}={v}" for k, v in ANSIBLE_EXTRA_ENV.items()) or "none"))


def ansible_side(log):
    """What the Ansible side runs: the tree, its commit and whether it has
    uncommitted changes, the extra environment, and the settings that differ
    from Ansible's defaults as ansible-config sees them with that
    environment (kept whole in the file log)."""
    timed = run_timed([str(VENV_BIN / "ansible-config"), "dump", "--only-changed"], log,
                      "ansible-config dump", env=ansible_env(), cwd=ANSIBLE_TREE, note=ansible_note())
    head = subprocess.run(["git", "-C", str(ANSIBLE_TREE), "rev-parse", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(["git", "-C", str(ANSIBLE_TREE), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True)
    return {"tree": str(ANSIBLE_TREE), "commit": head.stdout.strip() or None,
            "uncommitted_changes": bool(status.stdout.strip()) if status.returncode == 0 else None,
            "extra_env": dict(ANSIBLE_EXTRA_ENV), "connection": CONNECTION,
            "config_changed": [line for line in timed.output.splitlines() if "=" in line]}


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ansible_deploy(inventory, repo, commit, log, what, containers=(), playbook="site.yml"):
    """site.yml (or another playbook) of the Ansible tree (this checkout
    unless configured), as an operator runs it, for commit of repo. Timed
    from the start of ansible-playbook to its end (after the health gate). Also
    counts the CPU it cost: ansible-playbook's own processes, and the
    containers named (read from their cgroups; left out where unreadable)."""
    readers = [reader for reader in map(container_cpu, containers) if reader]
    before = children_cpu() + sum(read() for read in readers)
    timed = run_timed([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), playbook,
                       "-e", f"app_repo={repo}", "-e", f"app_version={commit}"],
                      log, what, env=ansible_env(), cwd=ANSIBLE_TREE, note=ansible_note())
    cpu = children_cpu() + sum(read() for read in readers) - before
    return AnsibleRun(timed.seconds, parse_profile(timed.output), parse_recap(timed.output), round(cpu, 1))


def render_floor(path, log):
    """The floor's files, rendered from the roles' templates (set-up, before
    any timed run): bench/floor-deploy.sh --render."""
    run_timed([str(BENCH / "floor-deploy.sh"), "--render", str(path)], log, "rendering the floor's files")
    return path


def floor_deploy(container, repo, commit, log, what, config, hardening=True):
    """bench/floor-deploy.sh with the files render_floor rendered (hardening
    False: FLOOR_HARDENING=0); its time."""
    env = {**os.environ, "FLOOR_CONFIG": str(config), **({} if hardening else {"FLOOR_HARDENING": "0"})}
    note = f"FLOOR_HARDENING={env['FLOOR_HARDENING']}" if "FLOOR_HARDENING" in env else ""
    return run_timed([str(BENCH / "floor-deploy.sh"), container, str(repo), commit], log, what, env=env,
                     note=note).seconds


PROFILE_LINE = re.compile(r"^(.*) -+ (\d+\.\d+)s$")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+(.*)$")


def after(output, heading):
    """The lines of output after the first that starts with heading."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), len(lines))
    return lines[start + 1:]


def parse_profile(output):
    """The per-task times of profile_tasks' TASKS RECAP."""
    matches = (PROFILE_LINE.match(line.rstrip()) for line in after(output, "TASKS RECAP"))
    return [(match.group(1).strip(), float(match.group(2))) for match in matches if match]


def parse_recap(output):
    recap = {}
    for line in after(output, "PLAY RECAP"):
        match = RECAP_LINE.match(line.strip())
        if not match:
            break
        recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return recap


def role_of(task_name):
    return task_name.split(" : ", 1)[0] if " : " in task_name else "(play)"


# --- the visitor's view ------------------------------------------------------

def _context():
    context = ssl.create_default_context()
    context.check_hostname = False  # self-signed certificates: reachability, not trust
    context.verify_mode = ssl.CERT_NONE
    return context


def get(port, path, domain=DOMAIN, https=True, timeout=10):
    """GET path from 127.0.0.1:port by the site's domain (SNI and Host)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if https:
        sock = _context().wrap_socket(sock, server_hostname=domain)
    conn = http.client.HTTPConnection(domain, port, timeout=timeout)
    conn.sock = sock
    conn.request("GET", path, headers={"Host": f"{domain}:{port}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


VOLATILE = {"date", "content-length", "etag", "last-modified", "set-cookie", "server", "connection", "accept-ranges"}


def visitor_view(port, commit, domain=DOMAIN, wait=20):
    """What a visitor sees on 127.0.0.1:port over HTTPS, checked: the home
    page, a static file, /health/ naming commit, and a 404 that is not a
    debug page. Returns the statuses and header names (for comparing two
    deployments); Broken when the site does not serve as it should."""
    deadline = time.monotonic() + wait
    while True:
        try:
            home = get(port, "/", domain)
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise Broken(f"nothing answers on 127.0.0.1:{port}: {exc!r}") from None
            time.sleep(0.5)
    css = get(port, CSS, domain)
    health = get(port, "/health/", domain)
    missing = get(port, "/lists/987654321/", domain)
    problems = []
    if home[0] != 200 or b"To-Do" not in home[2]:
        problems.append(f"/ -> {home[0]}")
    if css[0] != 200 or len(css[2]) < 100_000:
        problems.append(f"{CSS} -> {css[0]}, {len(css[2])} bytes")
    try:
        revision = json.loads(health[2]).get("revision")
    except ValueError:
        revision = None
    if health[0] != 200 or revision != commit:
        problems.append(f"/health/ -> {health[0]}, revision {revision}, expected {commit[:12]}")
    if missing[0] != 404 or b"URLconf" in missing[2] or b"Traceback" in missing[2]:
        problems.append(f"/lists/987654321/ -> {missing[0]} (a debug page?)")
    if problems:
        raise Broken(f"the site on 127.0.0.1:{port} does not serve as it should: " + "; ".join(problems))
    return {path: [status, sorted(set(headers) - VOLATILE)]
            for path, (status, headers, _) in {"/": home, CSS: css, "/health/": health,
                                               "/lists/<missing>/": missing}.items()}


def compare_views(a, b):
    """Differences between two visitor views, as text lines."""
    out = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) != b.get(path):
            out.append(f"{path}: {a.get(path)} != {b.get(path)}")
    return out


def make_list(container, items=10, domain=DOMAIN):
    """A to-do list with some items, made through the site's manage command;
    returns its path."""
    code = ("from lists.models import Item, List; lst = List.objects.create(); "
            f"[Item.objects.create(list=lst, text=f'bench item {{i}}') for i in range({items})]; "
            "print(lst.get_absolute_url())")
    return sh("docker", "exec", container, "sudo", "-u", SERVICE_USER, f"{site_root(domain)}/manage", "shell",
              "-c", code).splitlines()[-1]


# --- runserver, the book's staging hack --------------------------------------

RUNSERVER_PID = "/tmp/bench-runserver.pid"


def start_runserver(container, port_inside=8000, domain=DOMAIN):
    """Django's development server on the same container, with the deployed
    release, settings and database, DEBUG off; --insecure so it serves the
    static files itself, and plain HTTP (it has no TLS, and the HTTPS
    redirect setting is left out). The firewall gets a rule for its port
    while it runs."""
    root = site_root(domain)
    script = (f"echo $$ > {RUNSERVER_PID}; set -a; . {root}/shared/env; . {root}/shared/secret.env; "
              f". {root}/shared/vault.env; set +a; unset DJANGO_HTTPS; cd {root}/current; "
              f"exec .venv/bin/python manage.py runserver 0.0.0.0:{port_inside} --insecure --noreload "
              f">/tmp/bench-runserver.log 2>&1")
    sh("docker", "exec", "-d", container, "sudo", "-u", SERVICE_USER, "bash", "-c", script)
    # Opened only while it runs; stop_runserver reloads the firewall's rules.
    subprocess.run(["docker", "exec", container, "nft", "insert", "rule", "inet", "host_firewall", "input",
                    "tcp", "dport", str(port_inside), "accept"], capture_output=True)


def stop_runserver(container):
    pid = subprocess.run(["docker", "exec", container, "cat", RUNSERVER_PID], capture_output=True, text=True)
    if pid.returncode == 0 and pid.stdout.strip().isdigit():
        subprocess.run(["docker", "exec", container, "kill", pid.stdout.strip()], capture_output=True)
    subprocess.run(["docker", "exec", container, "sh", "-c",
                    "[ ! -f /etc/nftables.conf ] || nft -f /etc/nftables.conf"], capture_output=True)


def wait_until_answers(port, path, https, domain=DOMAIN, wait=30):
    deadline = time.monotonic() + wait
    while True:
        try:
            status = get(port, path, domain, https=https)[0]
            if status == 200:
                return
            problem = f"status {status}"
        except OSError as exc:
            problem = repr(exc)
        if time.monotonic() > deadline:
            raise Broken(f"127.0.0.1:{port}{path} does not answer: {problem}")
        time.sleep(0.3)


# --- load --------------------------------------------------------------------

def container_cpu(container):
    """A function returning the CPU seconds the container (every process in
    it, docker exec'd ones too) has used so far, read from its cgroup; None
    when the cgroup is not found."""
    cid = sh("docker", "inspect", "-f", "{{.Id}}", container)
    for path, scale in [(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage", 1e-9),
                        (f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage", 1e-9),
                        (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat", 1e-6),
                        (f"/sys/fs/cgroup/docker/{cid}/cpu.stat", 1e-6)]:
        if Path(path).exists():
            def read(path=path, scale=scale):
                text = Path(path).read_text()
                if path.endswith("cpu.stat"):
                    text = next(line.split()[1] for line in text.splitlines() if line.startswith("usage_usec"))
                return int(text.strip()) * scale
            return read
    return None


WRK_SCRIPT = BENCH / "wrk-report.lua"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
# What a browser says it accepts; nginx then sends the precompressed copy of
# a text static file, and runserver the file as it is.
ACCEPT_ENCODING = "gzip, deflate, br"


def run_wrk(url, seconds, concurrency):
    """One wrk run (keep-alive connections, as browsers use them) on url,
    connecting to 127.0.0.1 (and the URL's port) whatever its host; returns its
    WRK-RESULT figures and the CPU seconds it used."""
    threads = max(1, min(concurrency, CORES))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        ["wrk", f"--threads={threads}", f"--connections={concurrency}", f"--duration={seconds}s",
         "--timeout=10s", f"--script={WRK_SCRIPT}", f"--header=Accept-Encoding: {ACCEPT_ENCODING}",
         url],
        capture_output=True, text=True, timeout=seconds + 60, env={**os.environ, "WRK_CONNECT_TO": "127.0.0.1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRK-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise Broken(f"wrk on {url} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(line.split(" ", 1)[1]), cpu


def measure_load(url, seconds, concurrency, warmup=1.0, server_cpu=None):
    """A bounded load on url, through 127.0.0.1: `concurrency` keep-alive
    connections sending requests back to back (wrk), for warmup seconds (not
    counted), then for `seconds`, the figures. server_cpu: a container_cpu()
    reader, for the server's CPU per request."""
    if warmup > 0:
        run_wrk(url, max(1, round(warmup)), concurrency)
    server0 = server_cpu() if server_cpu else None
    figures, client_cpu = run_wrk(url, max(1, round(seconds)), concurrency)
    server1 = server_cpu() if server_cpu else None
    window = figures["duration_us"] / 1e6
    errors = {kind: n for kind, n in figures["errors"].items() if n}
    summary = {
        "requests": figures["requests"],
        # Requests that got no answer, or an error status (4xx, 5xx).
        "failed": sum(errors.values()),
        "errors": [f"{kind}: {n}" for kind, n in errors.items()],
        "seconds": round(window, 2),
        "rps": round(figures["requests"] / window, 1) if window else 0.0,
        "median_ms": round(figures["p50_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "max_ms": round(figures["max_us"] / 1000, 2),
        "mb_per_s": round(figures["bytes"] / window / 1e6, 1) if window else 0.0,
        # The load generator's own CPU, in cores: wrk (C, one event loop per
        # thread) stays well under what it has, so the server sets the rate.
        "client_cpu": round(client_cpu / window, 2) if window else None,
    }
    # The server's CPU (the whole container), in cores, and per request: what
    # a request costs the server, whatever limits the rate on this machine.
    if server0 is not None and summary["requests"]:
        summary["server_cpu"] = round((server1 - server0) / window, 2)
        summary["server_ms_per_request"] = round(1000 * (server1 - server0) / summary["requests"], 3)
    else:
        summary["server_cpu"] = summary["server_ms_per_request"] = None
    return summary


# --- the machine ---------------------------------------------------------------

def machine():
    def out(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "nproc": out("nproc"),
        "cpu": cpu,
        "free -g": out("free", "-g"),
        "kernel": out("uname", "-srm"),
        "docker": out("docker", "version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}"),
        "ansible": out(str(VENV_BIN / "ansible-playbook"), "--version").splitlines()[0:1],
        "image": IMAGE,
        "load average at start": out("cat", "/proc/loadavg"),
    }


def median(values):
    return statistics.median(values) if values else None
