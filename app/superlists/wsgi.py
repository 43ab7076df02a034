"""WSGI entry point: `gunicorn superlists.wsgi:application` from the app dir."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superlists.settings")

application = get_wsgi_application()
