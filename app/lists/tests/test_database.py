"""The database the tests run on is the one the caller asked for.

scripts/test runs the unit tests on SQLite and again under
scripts/with-postgres, setting SUPERLISTS_EXPECT_DB_VENDOR to "sqlite" and
"postgresql": a run that silently fell back to SQLite fails here. Without
the variable (a plain `manage.py test`) there is nothing to check.
"""

import os

from django.db import connection
from django.test import TestCase


class DatabaseVendorTest(TestCase):
    def test_tests_run_on_the_expected_database(self):
        expected = os.environ.get("SUPERLISTS_EXPECT_DB_VENDOR")
        if not expected:
            self.skipTest("SUPERLISTS_EXPECT_DB_VENDOR is not set")
        self.assertEqual(connection.vendor, expected)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            self.assertEqual(cursor.fetchone(), (1,))

    def test_on_postgresql_the_test_database_is_the_runner_s(self):
        if connection.vendor != "postgresql":
            self.skipTest("not on PostgreSQL")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            (name,) = cursor.fetchone()
        self.assertEqual(name, connection.settings_dict["NAME"])
        self.assertTrue(name.startswith("test_"), name)
