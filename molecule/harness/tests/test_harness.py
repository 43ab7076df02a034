"""The test host is a real systemd machine that Ansible converged."""


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_finished_booting(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_no_unit_failed(host):
    failed = host.run("systemctl list-units --state=failed --plain --no-legend")
    assert failed.stdout.strip() == ""


def test_converge_wrote_its_marker(host):
    marker = host.file("/etc/harness-marker")
    assert marker.content_string == "converged by molecule\n"
    assert marker.mode == 0o644


def test_unit_started_by_converge_is_active_and_enabled(host):
    unit = host.service("harness-marker.service")
    assert unit.is_running
    assert unit.is_enabled


def test_status_of_a_server_with_no_site_yet(host):
    """playbooks/status.yml on a bare server: it says no site is deployed,
    and changes nothing (the deploy user is not even created)."""
    from conftest import changed_counts, run_playbook

    output = " ".join(run_playbook("playbooks/status.yml", as_operator=True).split())
    assert "harness-host: no site deployed yet (/home/elspeth/sites/harness-host does not exist)" in output
    assert changed_counts(output) == [0]
    assert not host.file("/home/elspeth").exists
