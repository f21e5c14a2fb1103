"""A Python client generated from the published schema with openapi-python-client, as a team
building on the API would generate it, and what such a client needs to follow pages.

The generator runs from its own venv (``.venv/client-generator``, made by ``make install``;
the Makefile says why), writes the package into a temporary folder, and the folder goes on
``sys.path`` so a test imports the package as its user would: ``import stockroom_client``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integration.servers import unavailable

PACKAGE = "stockroom_client"
GENERATOR = Path(sys.executable).parents[1] / "client-generator" / "bin" / "openapi-python-client"
# Ruff's clean-up of the generated code (the generator's default post-hooks) is for people
# reading it; the tests only import it.
CONFIG: dict[str, Any] = {"post_hooks": []}
WARNING = re.compile(r"^WARNING (.+)$", re.MULTILINE)
NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class GeneratedClient:
    folder: Path  # the package's own folder, ``<tmp>/stockroom_client``
    schema: dict[str, Any]  # the document it was generated from
    warnings: list[str]  # the generator's "WARNING ..." lines: what it left out of the client


def generate(schema: dict[str, Any], folder: Path) -> GeneratedClient:
    """``openapi-python-client generate`` on ``schema``, into ``folder / PACKAGE``: the README's
    command, with a file instead of a URL."""
    if not GENERATOR.is_file():
        unavailable("openapi-python-client", f"no {GENERATOR} (`make install` makes it)")
    document, config = folder / "openapi.json", folder / "config.json"
    document.write_text(json.dumps(schema))
    config.write_text(json.dumps(CONFIG))
    command = [
        str(GENERATOR), "generate", "--path", str(document), "--config", str(config),
        "--meta", "none", "--output-path", str(folder / PACKAGE),
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - the test's own tool
        command, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"openapi-python-client failed:\n{done.stdout}\n{done.stderr}"
    return GeneratedClient(folder / PACKAGE, schema, WARNING.findall(done.stdout + done.stderr))


@contextmanager
def importable(client: GeneratedClient) -> Iterator[None]:
    """``import stockroom_client`` finds the generated package for as long as this lasts."""
    sys.path.insert(0, str(client.folder.parent))
    try:
        yield
    finally:
        sys.path.remove(str(client.folder.parent))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def next_cursor(headers: Mapping[str, str]) -> str | None:
    """The ``cursor`` of the ``Link: <URL>; rel="next"`` header's URL (RFC 8288); None on the
    last page. A client copies it into its next ``list_items(cursor=...)`` as it is."""
    link = headers.get("link")
    found = NEXT.search(link) if link else None
    if found is None:
        return None
    cursors = parse_qs(urlsplit(found.group(1)).query).get("cursor", [])
    assert len(cursors) == 1, f"rel=next without one cursor: {link}"
    return cursors[0]


METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def default_looking_names(client: GeneratedClient) -> list[str]:
    """The generated modules and models whose names carry FastAPI's default operation id
    (``{function}{path}_{method}``, e.g. ``create_item_items_post``, ``BodyLogInTokenPost``):
    an HTTP method at the end, a path parameter inside, or a ``Body`` model."""
    parameters = {
        parameter["name"].replace("-", "_").lower()
        for operations in client.schema["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    method_suffixes = tuple(f"_{method}" for method in METHODS)
    offenders = []
    for module in sorted(client.folder.glob("api/*/*.py")):  # one per operation
        name = module.stem
        if name != "__init__" and (
            name.endswith(method_suffixes) or any(found in name for found in parameters)
        ):
            offenders.append(str(module.relative_to(client.folder)))
    for module in sorted(client.folder.glob("models/*.py")):  # ItemOut is in item_out.py
        name = module.stem
        if name.startswith("body_") or name.endswith(method_suffixes):
            offenders.append(str(module.relative_to(client.folder)))
    return offenders
