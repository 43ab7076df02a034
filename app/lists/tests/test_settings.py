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
    "'DATABASE': settings.DATABASES['default'], "
    "'STATIC_URL': settings.STATIC_URL, 'STATIC_ROOT': str(settings.STATIC_ROOT), "
    "'CSRF_TRUSTED_ORIGINS': settings.CSRF_TRUSTED_ORIGINS}, default=str))"
)


def manage(*args, **env_vars):
    """manage.py in a fresh process, with only the DJANGO_* variables and
    DATABASE_URL given (none of the caller's, such as scripts/with-postgres's)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJANGO_") and k != "DATABASE_URL"
    }
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


class DatabaseUrlSettingsTest(TestCase):
    """DATABASE_URL picks the database (PostgreSQL); without it, SQLite at
    DJANGO_DB_PATH as before. The URL holds a password: no error shows it."""

    PASSWORD = "s3cret-Pa55word"
    URL = f"postgres://superlists:{PASSWORD}@db.example.com:6543/superlists_prod"
    PRODUCTION_ENV_WITHOUT_DB_PATH = {
        k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_DB_PATH"
    }

    def test_unset_means_sqlite_at_db_path(self):
        for mode, env in [("production", PRODUCTION_ENV), ("development", {})]:
            with self.subTest(mode=mode):
                database = show_settings(
                    **{**env, "DJANGO_DB_PATH": "/tmp/superlists-settings-test.sqlite3"}
                )["DATABASE"]
                self.assertEqual(database["ENGINE"], "django.db.backends.sqlite3")
                self.assertEqual(database["NAME"], "/tmp/superlists-settings-test.sqlite3")

    def test_blank_counts_as_unset(self):
        database = show_settings(**PRODUCTION_ENV, DATABASE_URL="  ")["DATABASE"]
        self.assertEqual(database["ENGINE"], "django.db.backends.sqlite3")
        self.assertEqual(database["NAME"], "/tmp/superlists-settings-test.sqlite3")

    def test_production_needs_db_path_only_without_database_url(self):
        result = manage("check", **self.PRODUCTION_ENV_WITHOUT_DB_PATH)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "DJANGO_DB_PATH must be set when DJANGO_DEBUG_FALSE is set and DATABASE_URL is not",
            result.stderr,
        )
        result = manage("check", **self.PRODUCTION_ENV_WITHOUT_DB_PATH, DATABASE_URL=self.URL)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_postgres_url_is_parsed_and_wins_over_db_path(self):
        for mode, env in [("production", PRODUCTION_ENV), ("development", {})]:
            with self.subTest(mode=mode):
                database = show_settings(**env, DATABASE_URL=self.URL)["DATABASE"]
                self.assertEqual(database["ENGINE"], "django.db.backends.postgresql")
                self.assertEqual(database["NAME"], "superlists_prod")
                self.assertEqual(database["USER"], "superlists")
                self.assertEqual(database["PASSWORD"], self.PASSWORD)
                self.assertEqual(database["HOST"], "db.example.com")
                self.assertEqual(database["PORT"], 6543)
                self.assertEqual(database["CONN_MAX_AGE"], 60)
                self.assertIs(database["CONN_HEALTH_CHECKS"], True)

    def test_postgresql_scheme_and_a_socket_directory_as_host(self):
        # The local server over its unix socket, as scripts/with-postgres
        # gives it: the directory percent-encoded in the host's place.
        database = show_settings(
            **self.PRODUCTION_ENV_WITHOUT_DB_PATH,
            DATABASE_URL="postgresql://superlists@%2Fvar%2Frun%2Fpostgresql/superlists",
        )["DATABASE"]
        self.assertEqual(database["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(database["HOST"], "/var/run/postgresql")
        self.assertEqual(database["NAME"], "superlists")
        self.assertEqual(database["PASSWORD"], "")

    def test_unparseable_url_is_refused_without_showing_it(self):
        bad_urls = [
            f"nosuchdb://superlists:{self.PASSWORD}@db.example.com/superlists",
            f"postgres://superlists:{self.PASSWORD}@db.example.com:notaport/superlists",
            f"superlists:{self.PASSWORD}@db.example.com/superlists",
            f"postgres://superlists:{self.PASSWORD}@db.example.com:6543",  # no database
        ]
        cases = [("production", self.PRODUCTION_ENV_WITHOUT_DB_PATH, url) for url in bad_urls]
        cases.append(("development", {}, bad_urls[0]))
        for mode, env, url in cases:
            with self.subTest(mode=mode, url=url.replace(self.PASSWORD, "***")):
                result = manage("check", **env, DATABASE_URL=url)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("ImproperlyConfigured: DATABASE_URL", result.stderr)
                output = result.stdout + result.stderr
                self.assertNotIn(self.PASSWORD, output)
                self.assertNotIn("db.example.com", output)
