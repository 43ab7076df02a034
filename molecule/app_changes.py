"""New versions of the app for the tests (and the benchmarks) to deploy:
commits made on a scratch clone of this repository, each adding a field to
Item and the migration that adds its column.

    repo = clone(tmp_path / "repo")
    commit(repo, "v2: a note on each item", {MODELS: add_field(repo, "note"),
                                             "app/lists/migrations/0002_item_note.py": migration("0001_initial", "note")})
"""

import subprocess
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
MODELS = "app/lists/models.py"
# The line of Item a new field goes after.
FIELD = "    list = models.ForeignKey(List, on_delete=models.CASCADE)\n"
MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lists", "{previous}")]
    operations = [migrations.AddField("item", "{field}", models.TextField(blank=True, null=True))]
'''


def git(repo, *args):
    """git in repo, as a throwaway author; its output."""
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def clone(path):
    """A clone of this repository, at its HEAD."""
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_DIR), str(path)], check=True)
    return Path(path)


def commit(repo, message, files):
    """Write files (path -> text) in repo and commit them; the new commit."""
    for path, text in files.items():
        target = Path(repo) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def add_field(repo, field, kind="models.TextField(blank=True, null=True)"):
    """app/lists/models.py of repo with one more field on Item."""
    models = (Path(repo) / MODELS).read_text()
    if FIELD not in models:
        raise ValueError(f"{MODELS} changed: no line {FIELD.strip()!r} to add a field after")
    return models.replace(FIELD, FIELD + f"    {field} = {kind}\n")


def migration(previous, field):
    """The migration adding a text column for field to Item, after previous."""
    return MIGRATION.format(previous=previous, field=field)
