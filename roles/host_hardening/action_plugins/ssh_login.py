"""Action plugin: the user and port a host's SSH logins will use, found
without connecting, so that the settings check compares sshd's and the
firewall's settings with the login Ansible really makes.

Ansible's own settings come first (-u, ansible_user, remote_user in
ansible.cfg or a play; ansible_port, remote_port); what they leave open,
ssh itself decides from ~/.ssh/config (and any -F or -o in the connection's
ssh arguments): `ssh -G` prints that decision without connecting.

Returns ssh (whether the host is reached over SSH at all), user and port.
"""

import getpass
import shlex
import subprocess

from ansible.plugins.action import ActionBase

SSH = {"ssh", "ansible.builtin.ssh"}
PARAMIKO = {"paramiko", "paramiko_ssh", "ansible.builtin.paramiko_ssh"}


def ssh_config_login(text):
    """user and port from what `ssh -G` printed (its first value of each)."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key.lower() in ("user", "port") and key.lower() not in found:
            found[key.lower()] = value.strip()
    return found


def ssh_g_argv(executable, args, host, user, port):
    """The `ssh -G` command line that answers for a login to HOST with the
    connection's ssh arguments (each a string, split as a shell would)."""
    argv = [executable or "ssh", "-G"]
    for arg in args:
        argv += shlex.split(arg or "")
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", str(user)]
    return argv + [host]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        connection = self._connection
        name = connection._load_name
        if name not in SSH | PARAMIKO:
            result["ssh"] = False
            return result
        user = connection.get_option("remote_user")
        port = connection.get_option("port")
        if name in SSH:
            host = connection.get_option("host") or self._play_context.remote_addr
            argv = ssh_g_argv(connection.get_option("ssh_executable"),
                              [connection.get_option(option) for option in ("ssh_args", "ssh_common_args", "ssh_extra_args")],
                              host, user, port)
            try:
                answer = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            except OSError as error:
                result.update(failed=True, msg=f"Cannot ask ssh which login it would make ({argv[0]}: {error.strerror})")
                return result
            if answer.returncode != 0:
                result.update(failed=True, msg=f"`{shlex.join(argv)}` failed: {answer.stderr.strip()[-500:]}")
                return result
            found = ssh_config_login(answer.stdout)
            user, port = found.get("user", user), found.get("port", port)
        result.update(ssh=True, user=user or getpass.getuser(), port=int(port or 22))
        return result
