"""The compatible window and the lock policy of migrations, on facts fed to them: which schema
a release may serve, what every migration declares, what a migration that gave up says. No
database (the migration scripts are read, never run)."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from alembic import command
from alembic.script import Script, ScriptDirectory

from entrypoints import migrations
from entrypoints.migrations import MigrationLockTimeout
from migrations.online import LockPolicy
from migrations.window import Fit, SchemaVersion, declared, fit

KNOWN = ("0001_a", "0002_b", "0003_c")
HEAD = "0003_c"
SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
FIRST_DECLARING = "0008_schema_window"  # those before it are served by themselves only


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (SchemaVersion("0003_c", "0003_c"), Fit.AT_HEAD),
        (SchemaVersion("0003_c"), Fit.AT_HEAD),
        (SchemaVersion(None), Fit.BEHIND),
        (SchemaVersion("0002_b", "0001_a"), Fit.BEHIND),  # a window never serves the past
        (SchemaVersion("0004_expand", "0003_c"), Fit.IN_WINDOW),
        (SchemaVersion("0005_expand", "0002_b"), Fit.IN_WINDOW),
        (SchemaVersion("0004_contract", "0004_contract"), Fit.NEWER),
        (SchemaVersion("0005_after_a_contract", "0004_contract"), Fit.NEWER),
        (SchemaVersion("0004_unrecorded"), Fit.NEWER),
    ],
)
def test_a_release_serves_its_head_and_newer_schemas_inside_their_window(
    schema: SchemaVersion, expected: Fit
) -> None:
    assert fit(schema, HEAD, KNOWN) is expected


def _chain() -> list[Script]:
    """Every migration, oldest first."""
    return list(reversed(list(SCRIPTS.walk_revisions())))


def test_every_migration_is_served_from_itself_or_a_revision_before_it() -> None:
    for script in _chain():
        ancestors = {found.revision for found in SCRIPTS.iterate_revisions(script.revision, "base")}
        assert declared(script) in ancestors, script.revision


def test_the_window_never_moves_back() -> None:
    """Code that cannot serve a schema cannot serve any schema after it either."""
    chain = _chain()
    order = {script.revision: position for position, script in enumerate(chain)}
    for before, after in pairwise(chain):
        assert order[declared(after)] >= order[declared(before)], after.revision


def test_migrations_since_the_window_declare_it() -> None:
    since = [script.revision for script in _chain()]
    for script in _chain()[since.index(FIRST_DECLARING) :]:
        assert isinstance(getattr(script.module, "served_from", None), str), script.revision


def test_a_new_migration_from_the_template_is_a_contract_until_its_author_says_otherwise(
    tmp_path: Path,
) -> None:
    """The safe default: the previous release refuses the schema rather than misread it."""
    folder = tmp_path / "migrations"
    shutil.copytree(
        migrations.SCRIPT_LOCATION, folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    config = migrations.alembic_config("sqlite://")
    config.set_main_option("script_location", str(folder))

    command.revision(config, "a change", rev_id="0999_a_change")

    script = ScriptDirectory.from_config(config).get_revision("0999_a_change")
    assert isinstance(script, Script)
    assert declared(script) == "0999_a_change"


def test_each_try_pauses_longer_than_the_last() -> None:
    policy = LockPolicy(timeout=0.25, attempts=4)

    assert [policy.pause_after(attempt) for attempt in (1, 2, 3)] == [0.25, 0.5, 1.0]


def test_a_migration_that_gave_up_says_so_in_one_line() -> None:
    statement = "ALTER TABLE items\n    ADD COLUMN note TEXT"

    given_up = str(MigrationLockTimeout("0009_note", statement, LockPolicy()))
    once = str(MigrationLockTimeout("0009_note", statement, LockPolicy(attempts=1)))

    assert given_up == (
        "migration 0009_note gave up after 5 tries, each waiting 1 s for a lock (lock_timeout): "
        "`ALTER TABLE items ADD COLUMN note TEXT`; a long transaction holds that table: end it, "
        "or run `stockroom db upgrade` again once it is over"
    )
    assert once.startswith("migration 0009_note gave up after 1 try, ")
