"""scripts/check-secrets: the repository commits no plain secret, and the
check itself catches each kind of leak it is meant to."""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "scripts" / "check-secrets"
ENCRYPTED = "$ANSIBLE_VAULT;1.1;AES256\n6162636465666768\n"
# Put together here, so that this file itself holds no key header.
KEY_HEADER = "-----BEGIN OPENSSH " + "PRIVATE KEY-----"


def check(*args):
    result = subprocess.run([str(CHECK), *args], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout


def test_the_repository_commits_no_plain_secret():
    rc, output = check()
    assert rc == 0, output
    assert ", 0 problems" in output


@pytest.mark.parametrize(
    "relpath, text, problem",
    [
        ("group_vars/live/vault.yml", "vault_email_password: hunter2\n", "vault file is not encrypted"),
        ("secrets/vault/api.yml", "key: value\n", "vault file is not encrypted"),
        ("group_vars/live/site.yml", "app_secrets:\n  EMAIL_PASSWORD: hunter2\n", "EMAIL_PASSWORD has a plain value"),
        ("inventory/hosts.yml", "all:\n  vars:\n    api_token: 'abc123'\n", "api_token has a plain value"),
        ("roles/x/defaults/main.yml", "x_secret: |\n  multi-line\n", "x_secret has a plain value"),
        ("files/id_ed25519", KEY_HEADER + "\nAAAA\n", "a private key"),
        ("group_vars/live/site.yml", "ansible_become_pass: hunter2\n", "ansible_become_pass has a plain value"),
        ("inventory/live/hosts.yml", "live:\n  vars:\n    ansible_ssh_pass: hunter2\n", "ansible_ssh_pass has a plain value"),
        ("group_vars/all/main.yml", "smtp_pass: 'hunter2'\n", "smtp_pass has a plain value"),
        ("inventory/live/hosts", "[live]\nweb1 ansible_host=192.0.2.1 ansible_ssh_pass=hunter2\n",
         "ansible_ssh_pass has a plain value"),
        ("inventory/staging.ini", "[staging:vars]\nansible_become_password='hunter2'\n", "ansible_become_password has a plain value"),
        ("deploy/vault-password", "hunter2\n", "a vault password file"),
        ("ci/.vault_pass", "hunter2\n", "a vault password file"),
        # Flow style: the secret sits inside braces on its key's line.
        ("group_vars/live/site.yml", "app_secrets: {EMAIL_PASSWORD: hunter2}\n", "EMAIL_PASSWORD has a plain value"),
        ("inventory/live/hosts.yml",
         "live:\n  hosts:\n    web1.example.com: {ansible_host: 192.0.2.11, ansible_become_pass: 'hunter2'}\n",
         "ansible_become_pass has a plain value"),
        ("roles/x/tasks/main.yml", "- name: Add a user\n  vars:\n    users:\n      - {name: ann,\n         password: hunter2}\n",
         "password has a plain value"),
    ],
)
def test_a_plain_secret_is_caught(tmp_path, relpath, text, problem):
    path = tmp_path / relpath
    path.parent.mkdir(parents=True)
    path.write_text(text)
    rc, output = check(str(tmp_path))
    assert rc == 1, output
    assert f"{relpath}:" in output
    assert problem in output


@pytest.mark.parametrize(
    "relpath, text",
    [
        ("group_vars/live/vault.yml", ENCRYPTED),
        ("secrets/api.vault", ENCRYPTED),
        ("group_vars/live/site.yml", 'app_secrets:\n  EMAIL_PASSWORD: "{{ vault_email_password }}"\n'),
        ("group_vars/live/site.yml", "email_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"),
        ("group_vars/all/main.yml", "# password: documented in a comment\napp_secrets: {}\n"),
        ("group_vars/live/site.yml", "app_secrets:\n  API_TOKEN: >-\n    {{ vault_api_token }}\n"),
        ("inventory/hosts.yml", "all:\n  vars:\n    vault_password_file: /etc/ansible/vault-pass\n"),
        ("group_vars/live/site.yml", 'ansible_become_pass: "{{ vault_become_pass }}"\n'),
        ("inventory/live/hosts", "[live]\nweb1 ansible_host=192.0.2.1 ansible_user=admin\n"),
        ("group_vars/live/site.yml", 'app_secrets: {EMAIL_PASSWORD: "{{ vault_email_password }}", DEBUG_TOOLBAR: "off"}\n'),
        ("inventory/live/hosts.yml", "live:\n  hosts:\n    web1.example.com: {ansible_host: 192.0.2.11, fleet_address: 10.0.0.11}\n"),
    ],
)
def test_encrypted_or_referenced_secrets_pass(tmp_path, relpath, text):
    path = tmp_path / relpath
    path.parent.mkdir(parents=True)
    path.write_text(text)
    rc, output = check(str(tmp_path))
    assert rc == 0, output
    assert ", 0 problems" in output
