"""GET /health/: which revision is running and whether its database is usable.

The deployment asks a release's gunicorn before switching traffic to it, so
"usable" means reachable and fully migrated for the code that is running.
GET /health/?write=1 also makes a list with an item, as a visitor would, and
rolls it back: the deployment asks so when it decides whether the release it
goes back to can keep the database a newer release migrated (an added column
it does not know of must not stop it from saving a visitor's list).
Responses carry only short reasons: exception texts can hold paths or
credentials, so they go to the log, and only their class names to the client.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def read_revision():
    """The commit the deployment wrote to HEALTH_REVISION_FILE, or None."""
    try:
        text = Path(settings.HEALTH_REVISION_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return text.strip() or None


def database_problem():
    """None when the database is reachable and fully migrated, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        logger.warning("Health check: database unreachable", exc_info=True)
        return f"unreachable: {type(exc).__name__}"
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        logger.warning("Health check: migration state unreadable", exc_info=True)
        return f"migration check failed: {type(exc).__name__}"
    if plan:
        names = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
        # An empty database lacks every migration; a few names say enough.
        more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
        return f"unapplied migrations: {', '.join(names[:5])}{more}"
    return None


def write_problem():
    """None when a list and an item can be saved (and are rolled back)."""
    from lists.models import Item, List

    # The error, if any, must leave atomic() before it is caught: a failed
    # statement aborts PostgreSQL's transaction, and only atomic()'s rollback
    # (of the transaction, or of its savepoint inside another) makes the
    # connection usable again, for this request and the next.
    try:
        with transaction.atomic():
            Item.objects.create(text="health check", list=List.objects.create())
            transaction.set_rollback(True)
    except Exception as exc:
        logger.warning("Health check: writing failed", exc_info=True)
        return f"write failed: {type(exc).__name__}"
    return None


@require_GET
def health(request):
    problem = database_problem()
    if problem is None and request.GET.get("write"):
        problem = write_problem()
    response = JsonResponse(
        {
            "status": "error" if problem else "ok",
            "revision": read_revision(),
            "database": problem or "ok",
        },
        status=503 if problem else 200,
    )
    # A cached "ok" could let a switch go ahead against a broken release.
    response["Cache-Control"] = "no-store"
    return response
