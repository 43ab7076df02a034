"""Error pages and reports hide the database URL, which holds a password."""

from django.test import RequestFactory, SimpleTestCase
from django.views.debug import get_default_exception_reporter_filter

URL = "postgres://superlists:s3cr3t-value@db.example.com:5432/superlists"


class ExceptionReporterFilterTest(SimpleTestCase):
    def test_database_url_in_the_request_environment_is_hidden(self):
        # What the development server does: the environment in request.META.
        request = RequestFactory().get("/", DATABASE_URL=URL, SERVER_SOFTWARE="test")
        meta = get_default_exception_reporter_filter().get_safe_request_meta(request)
        self.assertNotIn("s3cr3t-value", str(meta))
        self.assertEqual(meta["SERVER_SOFTWARE"], "test")

    def test_django_s_own_hidden_names_stay_hidden(self):
        request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer s3cr3t-value")
        meta = get_default_exception_reporter_filter().get_safe_request_meta(request)
        self.assertNotIn("s3cr3t-value", str(meta))
