"""An operator secret from ansible-vault reaches the site's environment and
nowhere else: not the output, not the journal, not other users."""

import json
import os
import subprocess
import urllib.parse
import uuid
from pathlib import Path

from conftest import PROJECT_DIR, run_playbook

SCENARIO_DIR = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", PROJECT_DIR / "molecule" / "separate"))
VAULT_ENV = {"ANSIBLE_VAULT_PASSWORD_FILE": str(SCENARIO_DIR / "vault-password")}


def vault_value():
    """The email password the scenario keeps in its encrypted file."""
    return subprocess.run(
        ["ansible-vault", "view", str(SCENARIO_DIR / "email-password.vault")],
        check=True, capture_output=True, text=True, env={**os.environ, **VAULT_ENV},
    ).stdout.strip()


def process_environment(site):
    environ = site.host.check_output(f"tr '\\0' '\\n' < /proc/{site.main_pid()}/environ")
    return dict(line.split("=", 1) for line in environ.splitlines() if "=" in line)


def database_password(site):
    """The password in the site's DATABASE_URL (vault.env)."""
    lines = site.host.file(f"{site.root}/shared/vault.env").content_string.splitlines()
    url = next(line for line in lines if line.startswith("DATABASE_URL=")).split("=", 1)[1]
    secret = urllib.parse.urlsplit(url.strip("'")).password
    assert secret and len(secret) >= 40
    return secret


def test_the_vault_file_is_encrypted():
    assert (SCENARIO_DIR / "email-password.vault").read_text().startswith("$ANSIBLE_VAULT;")


def test_vault_secret_reaches_the_site_and_only_the_site(staging_site):
    site = staging_site
    value = vault_value()
    assert value
    secrets = site.host.file(f"{site.root}/shared/vault.env")
    assert (secrets.user, secrets.group, secrets.mode) == ("elspeth", site.service_user, 0o640)
    assert f"EMAIL_PASSWORD='{value}'" in secrets.content_string
    assert process_environment(site)["EMAIL_PASSWORD"] == value
    denied = site.host.run(f"sudo -u www-data cat {site.root}/shared/vault.env")
    assert denied.rc != 0 and "Permission denied" in denied.stderr
    journal = site.host.check_output("journalctl --no-pager -q")
    assert "COMMAND=" in journal
    assert value not in journal


def test_a_changed_secret_restarts_the_site_and_never_shows(staging_site, tmp_path):
    """Even with --diff and -v, the new value stays out of Ansible's output,
    and so does the database password written beside it."""
    site = staging_site
    new_value = f"rotated-{uuid.uuid4().hex}"
    extra = tmp_path / "rotate.json"
    extra.write_text(json.dumps({"app_secrets": {"EMAIL_PASSWORD": new_value}}))
    pid_before = site.main_pid()

    output = run_playbook(str(SCENARIO_DIR / "converge.yml"), "--limit", site.domain, "--diff", "-v",
                          "-e", f"@{extra}", env=VAULT_ENV)
    assert "Write the site's settings files and manage command" in output
    # vault.env's item of that task: its name and result hidden.
    assert "(item=(censored due to no_log))" in output
    assert new_value not in output
    assert database_password(site) not in output
    assert process_environment(site)["EMAIL_PASSWORD"] == new_value
    assert site.main_pid() != pid_before, "gunicorn was not restarted with the new secret"
    assert new_value not in site.host.check_output("journalctl --no-pager -q")
