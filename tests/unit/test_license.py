"""The project is MIT-licensed (issue 24): the LICENSE file, the pyproject's licence, and the
image's build, which needs the file to build the package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_license_file_is_the_mit_licence_of_the_stockroom_authors() -> None:
    text = (REPO / "LICENSE").read_text()

    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the Stockroom authors\n" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_the_pyproject_names_the_same_licence_and_ships_its_text() -> None:
    project = PYPROJECT["project"]

    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_build_backend_understands_a_licence_expression() -> None:
    [setuptools] = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    versions = SpecifierSet(re.sub(r"^setuptools", "", setuptools))

    # PEP 639's license and license-files arrived in setuptools 77.
    assert not versions.contains(Version("76.9"))


def test_the_image_build_copies_the_license_file() -> None:
    copies = [
        line.split()[1:-1]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
    ]
    allowed = (REPO / ".dockerignore").read_text().splitlines()

    assert any("LICENSE" in sources for sources in copies)
    assert "!LICENSE" in allowed
