"""Settings for the superlists site.

Development is the default. Production is switched on by setting
DJANGO_DEBUG_FALSE (any non-empty value); it then needs DJANGO_SECRET_KEY,
DJANGO_ALLOWED_HOSTS (comma separated) and, unless DATABASE_URL is set,
DJANGO_DB_PATH (absolute path of the SQLite file), and refuses to start
without them.

The database is DATABASE_URL's when that is set (any URL dj-database-url
parses, e.g. postgres://USER:PASSWORD@HOST:PORT/NAME; psycopg is the only
driver installed; the URL holds a password, so no error repeats it), else
SQLite at DJANGO_DB_PATH (app/db.sqlite3 by default in development).

Optional in both modes: DATABASE_URL, DJANGO_DB_PATH, DJANGO_STATIC_ROOT,
DJANGO_CSRF_TRUSTED_ORIGINS, DJANGO_LOG_LEVEL (level of the "django"
logger, default WARNING), and DJANGO_HTTPS with DJANGO_HSTS_SECONDS,
DJANGO_HSTS_INCLUDE_SUBDOMAINS and DJANGO_HSTS_PRELOAD for a site served
over HTTPS by a proxy.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _required(name, unless=None):
    value = os.environ.get(name, "").strip()
    if not value:
        alternative = f" and {unless} is not" if unless else ""
        raise ImproperlyConfigured(
            f"{name} must be set when DJANGO_DEBUG_FALSE is set{alternative}"
        )
    return value


def _database_from_url(url):
    """DATABASES["default"] from DATABASE_URL.

    Anything dj-database-url parses is accepted. The URL holds a password,
    so an error never repeats it, nor shows the parser's exception (whose
    text may quote the URL) as its context.
    """
    try:
        config = dj_database_url.parse(
            url,
            # Keep each worker's connection for a minute instead of opening
            # one per request, and check a kept one is alive before reusing it.
            conn_max_age=60,
            conn_health_checks=True,
        )
    except Exception as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL ({type(exc).__name__}); expected"
            " e.g. postgres://USER:PASSWORD@HOST:PORT/NAME"
        ) from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(
            "DATABASE_URL names no database; expected"
            " e.g. postgres://USER:PASSWORD@HOST:PORT/NAME"
        )
    return config


# Blank counts as unset. A lowercase name, so it is not a setting (and never
# shown on an error page).
_database_url = os.environ.get("DATABASE_URL", "").strip()

if os.environ.get("DJANGO_DEBUG_FALSE"):
    DEBUG = False
    SECRET_KEY = _required("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = [
        host.strip()
        for host in _required("DJANGO_ALLOWED_HOSTS").split(",")
        if host.strip()
    ]
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must name at least one host when DJANGO_DEBUG_FALSE is set"
        )
    if _database_url:
        DB_PATH = None
    else:
        DB_PATH = Path(_required("DJANGO_DB_PATH", unless="DATABASE_URL"))
        if not DB_PATH.is_absolute():
            raise ImproperlyConfigured(
                f"DJANGO_DB_PATH must be an absolute path, got {DB_PATH}"
            )
else:
    DEBUG = True
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
    ALLOWED_HOSTS = []
    DB_PATH = (
        None if _database_url
        else Path(os.environ.get("DJANGO_DB_PATH") or BASE_DIR / "db.sqlite3")
    )

# Optional, both modes: full origins the site is reached at through an HTTPS
# proxy, e.g. "https://superlists-staging.localhost:8443". Django checks a
# POST's Origin header against them (otherwise: 403 CSRF verification failed).
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]

# HTTPS behind nginx, switched on by DJANGO_HTTPS (the deployment sets it
# when the site has TLS). nginx sets X-Forwarded-Proto on every request it
# passes on, overwriting any the client sent, so Django may trust it.
if os.environ.get("DJANGO_HTTPS"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS") or 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = bool(os.environ.get("DJANGO_HSTS_INCLUDE_SUBDOMAINS"))
    SECURE_HSTS_PRELOAD = bool(os.environ.get("DJANGO_HSTS_PRELOAD"))
    if SECURE_HSTS_SECONDS and not SECURE_HSTS_PRELOAD:
        # Asking browsers' preload lists to include the domain is the
        # operator's decision (DJANGO_HSTS_PRELOAD), not a missing setting.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bootstrap",  # django-bootstrap-static: ships bootstrap/css/*.css as static files
    "lists",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "superlists.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "superlists.wsgi.application"

# DATABASE_URL when set (PostgreSQL in practice), else SQLite at DB_PATH.
if _database_url:
    DATABASES = {"default": _database_from_url(_database_url)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DB_PATH,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "static"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Error pages and reports hide DATABASE_URL as well as Django's own list.
DEFAULT_EXCEPTION_REPORTER_FILTER = "superlists.reporting.ExceptionReporterFilter"

# The deployment writes the release's commit here; /health/ reports it.
# BASE_DIR is resolved, so this is the running release's file even after
# `current` has been switched to another one.
HEALTH_REVISION_FILE = BASE_DIR / "REVISION"

# Everything goes to stderr, so under systemd it ends up in the journal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
    },
    "loggers": {
        "django": {
            "handlers": ["console"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING"),
            "propagate": False,
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
