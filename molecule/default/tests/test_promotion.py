"""playbooks/promote.yml: staging's release file becomes live's, pinned to
the commit staging serves, only when staging serves it and is healthy."""

import yaml

from conftest import inventory, make_site, repo_head, rev_parse, sites_in, try_playbook


def promote(tmp_path, staging_settings, live_text="---\napp_version: HEAD\n", *extra):
    staging_file = tmp_path / "staging-release.yml"
    live_file = tmp_path / "live-release.yml"
    staging_file.write_text(yaml.safe_dump(staging_settings))
    live_file.write_text(live_text)
    rc, output = try_playbook("playbooks/promote.yml", "-e", f"promote_from={staging_file}",
                              "-e", f"promote_to={live_file}", *extra)
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


def test_one_unhealthy_site_stops_the_promotion_for_all(staging_site, tmp_path):
    """Promoted from both sites of this server at once (deploy_target=all):
    with one of them down, live's file is not written, even though the
    other site serves the version, healthy."""
    inv = inventory()
    down = next(make_site(name, inv) for name in sites_in(inv) if name != staging_site.domain)
    units = f"{down.unit}.socket {down.unit}.service"
    down.host.check_output(f"systemctl stop {units}")
    try:
        rc, output, live = promote(tmp_path, {"app_version": "HEAD"}, "---\napp_version: HEAD\n",
                                   "-e", "deploy_target=all")
    finally:
        down.host.check_output(f"systemctl start {units}")
    assert rc != 0
    assert f"Not promoted: {down.domain} should serve HEAD" in output
    assert live == "---\napp_version: HEAD\n"


def test_an_unreachable_staging_server_stops_the_promotion(staging_site, tmp_path):
    """A staging server that cannot be reached answers nothing, so it
    passes nothing: live's file is not written, though the server that
    answered serves the version, healthy."""
    gone = tmp_path / "gone.yml"
    gone.write_text(yaml.safe_dump({"staging": {"hosts": {"superlists-gone.localhost": {
        "ansible_connection": "community.docker.docker", "ansible_host": "superlists-no-such-server"}}}}))
    rc, output, live = promote(tmp_path, {"app_version": "HEAD"}, "---\napp_version: HEAD\n",
                               "-i", str(gone))
    assert rc != 0
    assert "Not promoted: superlists-gone.localhost could not be asked what it serves" in output
    assert live == "---\napp_version: HEAD\n"
