"""docs/session-lifecycle.md draws one request's path: every class, method and function its
sequence diagram names must exist in the code, so the drawing cannot drift from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "adapters", "service_layer", "entrypoints")
DOC = REPO / "docs" / "session-lifecycle.md"
# Words of the prose that look like class names but name no code of ours.
NOT_CODE = {"PostgreSQL", "SQLite", "TransientConflict"}


def _definitions() -> tuple[dict[str, set[str]], set[str]]:
    """Each class with the methods it defines, and every function or method name."""
    classes: dict[str, set[str]] = {}
    functions: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    members = {
                        item.name
                        for item in node.body
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    }
                    classes.setdefault(node.name, set()).update(members)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.add(node.name)
    return classes, functions


def _diagram() -> str:
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return diagram


def missing_names(diagram: str) -> list[str]:
    """What ``diagram`` names that the code does not define."""
    classes, functions = _definitions()
    missing = []
    for name in set(re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)+\b", diagram)) - NOT_CODE:
        if name not in classes:
            missing.append(f"class {name}")
    for owner, method in re.findall(r"\b([A-Z]\w+)\.(\w+)\(", diagram):
        if method not in classes.get(owner, set()):
            missing.append(f"{owner}.{method}")
    for name in re.findall(r"(?<![\w.])([a-z_]\w*)\(", diagram):
        if name not in functions:
            missing.append(f"function {name}")
    for name in re.findall(r"\b[a-z_]\w*\.([a-z_]\w*)\(", diagram):  # uow.items.add(
        if name not in functions:
            missing.append(f"method {name}")
    return missing


def test_the_diagram_names_only_code_that_exists() -> None:
    assert missing_names(_diagram()) == []


def test_the_check_reports_names_the_code_no_longer_has() -> None:
    """What the drawing showed before issue 22, for instance."""
    drawn = """
    participant D as Database
    R->>S: place_order(container.uow(), actor, lines)
    S->>S: confirm_caller(uow, caller); Caller.accepted_by(account)
    U->>D: Database.open_session(); uow.users.find_view(id)
    """
    assert set(missing_names(drawn)) == {
        "Caller.accepted_by",
        "Database.open_session",
        "function confirm_caller",
        "method find_view",
        "method uow",  # container.uow is a provider, not a function of ours
    }
