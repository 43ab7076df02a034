"""playbooks/promote.yml: staging's release file becomes live's, pinned to
the commit staging serves, only when staging serves it and is healthy."""

import yaml

from conftest import repo_head, rev_parse, try_playbook


def promote(tmp_path, staging_settings, live_text="---\napp_version: HEAD\n"):
    staging_file = tmp_path / "staging-release.yml"
    live_file = tmp_path / "live-release.yml"
    staging_file.write_text(yaml.safe_dump(staging_settings))
    live_file.write_text(live_text)
    rc, output = try_playbook("playbooks/promote.yml", "-e", f"promote_from={staging_file}",
                              "-e", f"promote_to={live_file}")
    return rc, output, live_file.read_text()


def test_promotes_what_staging_serves_pinned_to_its_commit(staging_site, tmp_path):
    assert staging_site.deployed_commit() == repo_head()
    rc, output, live = promote(tmp_path, {"app_version": "HEAD", "webserver_gunicorn_workers": 3})
    assert rc == 0, output[-3000:]
    assert yaml.safe_load(live) == {"app_version": repo_head(), "webserver_gunicorn_workers": 3}
    # The diff is shown without --diff.
    assert "-app_version: HEAD" in output
    assert f"+app_version: {repo_head()}" in output


def test_refuses_a_version_staging_does_not_serve(staging_site, tmp_path):
    older = rev_parse("HEAD~1")
    rc, output, live = promote(tmp_path, {"app_version": older})
    assert rc != 0
    assert f"Not promoted: {staging_site.domain} should serve {older}" in output
    assert f"it serves {repo_head()[:12]}" in output
    assert live == "---\napp_version: HEAD\n"


def test_never_promotes_environment_specific_settings(tmp_path):
    rc, output, live = promote(tmp_path, {"app_version": "HEAD", "site_domain": "staging.example.com",
                                          "vault_email_password": "x"})
    assert rc != 0
    assert "sets site_domain, vault_email_password" in output
    assert live == "---\napp_version: HEAD\n"
