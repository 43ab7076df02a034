"""The settings contract the deployment relies on, checked in fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import TestCase

APP_DIR = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_DEBUG_FALSE": "1",
    "DJANGO_SECRET_KEY": "a-test-secret-key",
    "DJANGO_ALLOWED_HOSTS": " example.com, ,staging.example.com ,",
    "DJANGO_DB_PATH": "/tmp/superlists-settings-test.sqlite3",
}

SHOW_SETTINGS = (
    "import json; from django.conf import settings; print(json.dumps({"
    "'DEBUG': settings.DEBUG, 'ALLOWED_HOSTS': settings.ALLOWED_HOSTS, "
    "'SECRET_KEY': settings.SECRET_KEY, "
    "'DB': str(settings.DATABASES['default']['NAME']), "
    "'STATIC_URL': settings.STATIC_URL, 'STATIC_ROOT': str(settings.STATIC_ROOT), "
    "'CSRF_TRUSTED_ORIGINS': settings.CSRF_TRUSTED_ORIGINS}))"
)


def manage(*args, **env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def show_settings(**env_vars):
    result = manage("shell", "--no-imports", "-c", SHOW_SETTINGS, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


class ProductionSettingsTest(TestCase):
    def test_each_missing_variable_fails_loudly_and_by_name(self):
        for missing in ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DJANGO_DB_PATH"]:
            with self.subTest(missing=missing):
                env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
                result = manage("check", **env)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("ImproperlyConfigured", result.stderr)
                self.assertIn(
                    f"{missing} must be set when DJANGO_DEBUG_FALSE is set",
                    result.stderr,
                )

    def test_blank_variable_counts_as_missing(self):
        result = manage("check", **{**PRODUCTION_ENV, "DJANGO_SECRET_KEY": "  "})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DJANGO_SECRET_KEY", result.stderr)

    def test_relative_db_path_is_refused(self):
        result = manage("check", **{**PRODUCTION_ENV, "DJANGO_DB_PATH": "db.sqlite3"})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DJANGO_DB_PATH must be an absolute path", result.stderr)

    def test_check_passes_with_everything_set(self):
        result = manage("check", **PRODUCTION_ENV)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_values_come_from_the_environment(self):
        values = show_settings(**PRODUCTION_ENV)
        self.assertIs(values["DEBUG"], False)
        self.assertEqual(
            values["ALLOWED_HOSTS"], ["example.com", "staging.example.com"]
        )
        self.assertEqual(values["SECRET_KEY"], "a-test-secret-key")
        self.assertEqual(values["DB"], "/tmp/superlists-settings-test.sqlite3")
        self.assertEqual(values["STATIC_URL"], "/static/")
        self.assertEqual(values["CSRF_TRUSTED_ORIGINS"], [])

    def test_csrf_trusted_origins_are_optional_and_parsed(self):
        values = show_settings(
            **PRODUCTION_ENV,
            DJANGO_CSRF_TRUSTED_ORIGINS="https://example.com:8443, https://staging.example.com",
        )
        self.assertEqual(
            values["CSRF_TRUSTED_ORIGINS"],
            ["https://example.com:8443", "https://staging.example.com"],
        )


class HttpsSettingsTest(TestCase):
    """Behind nginx with TLS, `check --deploy` has nothing to report."""

    STRONG_KEY = "k7Qp2vX9mZr4Lw8Nc1Bt6Hy3Jd5Fs0Ga-Ue7Ri2Ow9Kx4Mv1Pz6Ql3Sn8Tb5Yc0"
    HTTPS_ENV = {
        **PRODUCTION_ENV,
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_HTTPS": "1",
        "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    }

    def test_check_deploy_is_clean_with_https_on(self):
        result = manage("check", "--deploy", "--fail-level", "WARNING", **self.HTTPS_ENV)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no issues", result.stdout)

    def test_check_deploy_warns_without_https(self):
        env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": self.STRONG_KEY}
        result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
        self.assertNotEqual(result.returncode, 0)
        for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
            self.assertIn(warning, result.stderr)

    def test_check_deploy_warns_when_hsts_is_switched_off(self):
        env = {**self.HTTPS_ENV, "DJANGO_HSTS_SECONDS": "0"}
        result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
        self.assertIn("security.W004", result.stderr)

    def test_preload_is_the_operators_choice(self):
        result = manage("check", "--deploy", "--fail-level", "WARNING",
                        **{**self.HTTPS_ENV, "DJANGO_HSTS_PRELOAD": "1"})
        self.assertEqual(result.returncode, 0, result.stderr)


class DevelopmentSettingsTest(TestCase):
    def test_defaults(self):
        values = show_settings()
        self.assertIs(values["DEBUG"], True)
        self.assertEqual(values["ALLOWED_HOSTS"], [])
        self.assertEqual(values["DB"], str(APP_DIR / "db.sqlite3"))
        self.assertEqual(values["STATIC_URL"], "/static/")
        self.assertEqual(values["STATIC_ROOT"], str(APP_DIR / "static"))

    def test_db_path_and_static_root_can_be_overridden(self):
        values = show_settings(
            DJANGO_DB_PATH="/tmp/other.sqlite3", DJANGO_STATIC_ROOT="/tmp/other-static"
        )
        self.assertIs(values["DEBUG"], True)
        self.assertEqual(values["DB"], "/tmp/other.sqlite3")
        self.assertEqual(values["STATIC_ROOT"], "/tmp/other-static")
