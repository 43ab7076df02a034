"""What Django's error pages and error reports may show.

Django hides settings and request.META entries whose names look secret
(API, AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE). DATABASE_URL does not look
so but holds the database's password, and the development server copies the
whole environment into request.META: it is hidden too.
"""

import re

from django.views.debug import SafeExceptionReporterFilter


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(SafeExceptionReporterFilter.hidden_settings.pattern + "|DATABASE_URL", flags=re.I)
