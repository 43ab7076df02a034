"""roles/host_hardening's sshd settings, rendered from the role's own
template as the role renders them: TCP forwarding is off unless asked for."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "roles" / "host_hardening" / "templates" / "sshd_hardening.conf.j2"


def render(tmp_path, **settings):
    dest = tmp_path / "sshd.conf"
    variables = {"host_hardening_ssh_allow_users": ["ops"], "host_hardening_ssh_extra_settings": {},
                 "host_hardening_ssh_allow_tcp_forwarding": False,
                 "ansible_python_interpreter": sys.executable, **settings}
    subprocess.run(["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", "ansible.builtin.template",
                    "-a", f"src={TEMPLATE} dest={dest} mode=0600", "-e", json.dumps(variables)],
                   check=True, capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    return dest.read_text().splitlines()


@pytest.mark.parametrize("forwarding, line", [(False, "AllowTcpForwarding no"), (True, "AllowTcpForwarding yes")])
def test_tcp_forwarding_follows_its_setting(tmp_path, forwarding, line):
    lines = render(tmp_path, host_hardening_ssh_allow_tcp_forwarding=forwarding)
    assert line in lines
    assert [x for x in lines if x.startswith("AllowTcpForwarding")] == [line]
