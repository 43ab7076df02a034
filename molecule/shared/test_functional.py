"""The app's own functional tests, in headless Chromium, against staging:
the smoke test the book chapter runs against its staging server."""

import os
import subprocess
import sys

from conftest import PROJECT_DIR


def test_functional_tests_pass_against_staging(staging_site):
    # Over HTTPS, by the site's domain; the certificate is self-signed.
    env = dict(os.environ, STAGING_SERVER=staging_site.url, FT_INSECURE_CERTS="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "functional_tests"],
        cwd=PROJECT_DIR / "app", env=env, capture_output=True, text=True, timeout=600,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stderr
