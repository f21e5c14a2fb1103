"""The service layer names no database detail, in code or in prose.

import-linter (``make lint``) already forbids it to import any database library; this also
catches the words, so that a driver detail cannot creep back in as a string or a comment that
the code depends on (an error message matched by text, an SQLSTATE, an engine option).
"""

from __future__ import annotations

import re
from pathlib import Path

import service_layer

FORBIDDEN = re.compile(
    r"\b(sqlite\w*|aiosqlite|asyncpg|psycopg\w*|sqlalchemy|sqlstate\w*|session_factory|"
    r"engine|weakref|WeakKeyDictionary)\b",
    re.IGNORECASE,
)


def test_no_module_of_the_service_layer_names_a_database_detail() -> None:
    root = Path(service_layer.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 5, f"found only {modules} under {root}"
    found = [
        f"{path.relative_to(root.parent)}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FORBIDDEN.search(line)
    ]
    assert found == []
