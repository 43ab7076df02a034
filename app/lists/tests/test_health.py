"""/health/, which the deployment asks before switching a release live."""

import tempfile
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.db import OperationalError, connection
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor
from django.test import TestCase, TransactionTestCase, override_settings
from django.urls import reverse

APP_DIR = Path(__file__).resolve().parents[2]


class HealthTest(TestCase):
    def get_health(self):
        return self.client.get("/health/")

    def test_healthy_site_answers_ok(self):
        response = self.get_health()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertEqual(set(response.json()), {"status", "revision", "database"})
        self.assertEqual(response.json()["status"], "ok")
        self.assertEqual(response.json()["database"], "ok")

    def test_is_never_cached(self):
        self.assertEqual(self.get_health()["Cache-Control"], "no-store")

    def test_only_get_is_allowed(self):
        for method in ("post", "put", "delete"):
            with self.subTest(method=method):
                with self.assertLogs("django.request", "WARNING"):
                    response = getattr(self.client, method)("/health/")
                self.assertEqual(response.status_code, 405)

    def test_url_is_named(self):
        self.assertEqual(reverse("health"), "/health/")


class RevisionTest(TestCase):
    def test_revision_file_is_in_the_directory_holding_manage_py(self):
        self.assertEqual(settings.HEALTH_REVISION_FILE, APP_DIR / "REVISION")
        self.assertTrue((APP_DIR / "manage.py").exists())

    def test_reports_the_revision_file_stripped(self):
        with tempfile.TemporaryDirectory() as tmp:
            revision_file = Path(tmp) / "REVISION"
            revision_file.write_text("0123abcd\n")
            with override_settings(HEALTH_REVISION_FILE=revision_file):
                response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["revision"], "0123abcd")

    def test_missing_revision_file_reports_null(self):
        with tempfile.TemporaryDirectory() as tmp:
            with override_settings(HEALTH_REVISION_FILE=Path(tmp) / "REVISION"):
                response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        self.assertIsNone(response.json()["revision"])

    def test_revision_is_reported_when_unhealthy_too(self):
        with tempfile.TemporaryDirectory() as tmp:
            revision_file = Path(tmp) / "REVISION"
            revision_file.write_text("0123abcd\n")
            with (
                override_settings(HEALTH_REVISION_FILE=revision_file),
                mock.patch.object(connection, "cursor", side_effect=OperationalError),
                self.assertLogs("superlists.health", "WARNING"),
                self.assertLogs("django.request", "ERROR"),
            ):
                response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["revision"], "0123abcd")


class DatabaseHealthTest(TestCase):
    def test_unreachable_database_is_503_without_leaking_the_error(self):
        error = OperationalError("unable to open /secret/path password=hunter2")
        with (
            mock.patch.object(connection, "cursor", side_effect=error),
            self.assertLogs("superlists.health", "WARNING"),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Cache-Control"], "no-store")
        body = response.json()
        self.assertEqual(body["status"], "error")
        self.assertEqual(body["database"], "unreachable: OperationalError")
        self.assertNotIn("hunter2", response.content.decode())
        self.assertNotIn("/secret/path", response.content.decode())

    def test_unapplied_migrations_are_503_and_named(self):
        plan = [
            (Migration("0005_x", "lists"), False),
            (Migration("0006_y", "lists"), False),
        ]
        with (
            mock.patch.object(MigrationExecutor, "migration_plan", return_value=plan),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Cache-Control"], "no-store")
        self.assertEqual(
            response.json(),
            {
                "status": "error",
                "revision": response.json()["revision"],
                "database": "unapplied migrations: lists.0005_x, lists.0006_y",
            },
        )

    def test_long_migration_list_is_cut_short(self):
        plan = [(Migration(f"{n:04}_x", "lists"), False) for n in range(1, 9)]
        with (
            mock.patch.object(MigrationExecutor, "migration_plan", return_value=plan),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/")
        self.assertEqual(
            response.json()["database"],
            "unapplied migrations: lists.0001_x, lists.0002_x, lists.0003_x,"
            " lists.0004_x, lists.0005_x (+3 more)",
        )

    def test_migration_check_is_against_the_code_s_leaf_nodes(self):
        with mock.patch.object(
            MigrationExecutor, "migration_plan", return_value=[]
        ) as migration_plan:
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        targets = migration_plan.call_args.args[0]
        self.assertIn(("lists", "0001_initial"), targets)

    def test_failing_migration_check_is_503(self):
        with (
            mock.patch.object(
                MigrationExecutor, "migration_plan", side_effect=OperationalError("x")
            ),
            self.assertLogs("superlists.health", "WARNING"),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(
            response.json()["database"], "migration check failed: OperationalError"
        )


class WriteCheckTest(TestCase):
    """/health/?write=1: whether the running code can save what a visitor
    saves, without leaving anything behind."""

    def test_saves_a_list_and_an_item_and_keeps_neither(self):
        from lists.models import Item, List

        response = self.client.get("/health/?write=1")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["database"], "ok")
        self.assertEqual((List.objects.count(), Item.objects.count()), (0, 0))

    def test_a_write_the_database_refuses_is_a_problem(self):
        from django.db import IntegrityError

        with (
            mock.patch("lists.models.Item.objects.create", side_effect=IntegrityError("NOT NULL failed: x")),
            self.assertLogs("superlists.health", "WARNING"),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/?write=1")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["database"], "write failed: IntegrityError")
        self.assertNotIn("NOT NULL", response.content.decode())

    def test_a_write_the_database_itself_refuses_leaves_the_connection_usable(self):
        # A real failed INSERT. On PostgreSQL it aborts the transaction it
        # is in (here the test's own), and every later query fails until a
        # rollback; the check's must go back to just before it.
        from lists.models import Item, List

        with (
            mock.patch("lists.models.Item.objects.create", side_effect=_create_without_text),
            self.assertLogs("superlists.health", "WARNING"),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/?write=1")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["database"], "write failed: IntegrityError")
        self.assertEqual((List.objects.count(), Item.objects.count()), (0, 0))
        self.assertEqual(self.client.get("/health/?write=1").status_code, 200)

    def test_without_write_nothing_is_written(self):
        with mock.patch("lists.models.Item.objects.create", side_effect=AssertionError("wrote")):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)


def _create_without_text(**kwargs):
    """Item.objects.create with a NULL text, which the database refuses."""
    from lists.models import Item

    item = Item(**{**kwargs, "text": None})
    item.save()
    return item


class WriteCheckInAutocommitTest(TransactionTestCase):
    """/health/?write=1 as a served request runs it: in autocommit mode, its
    transaction the outermost one (TestCase would wrap it in another)."""

    def test_saves_nothing_and_leaves_no_transaction_open(self):
        from lists.models import Item, List

        self.assertEqual(self.client.get("/health/?write=1").status_code, 200)
        self.assertEqual((List.objects.count(), Item.objects.count()), (0, 0))
        self.assertFalse(connection.in_atomic_block)
        self.assertTrue(connection.get_autocommit())

    def test_a_refused_write_is_rolled_back_and_the_connection_stays_usable(self):
        from lists.models import Item, List

        with (
            mock.patch("lists.models.Item.objects.create", side_effect=_create_without_text),
            self.assertLogs("superlists.health", "WARNING"),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = self.client.get("/health/?write=1")
        self.assertEqual(response.json()["database"], "write failed: IntegrityError")
        self.assertFalse(connection.in_atomic_block)
        self.assertFalse(connection.needs_rollback)
        self.assertEqual((List.objects.count(), Item.objects.count()), (0, 0))
        self.assertEqual(self.client.get("/health/?write=1").status_code, 200)
