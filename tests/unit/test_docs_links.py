"""The README stays one a newcomer finishes (issue 24: at most about 300 lines, the rest in
docs/), and no link of the README or of docs/ leads nowhere: every relative link names a
file of the checkout and, with ``#anchor``, a heading of that file (GitHub's anchors)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_README_LINES = 300
DOCUMENTS = [README, *sorted((REPO / "docs").glob("*.md"))]
# [text](target) outside code spans; a target has no spaces (titles are not used here).
LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, code spans blanked out."""
    found, in_code = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            found.append((number, CODE_SPAN.sub("", line)))
    return found


def anchors(path: Path) -> set[str]:
    """GitHub's anchor for each heading: lower case, punctuation dropped, spaces to hyphens,
    a repeated one numbered ``-1``, ``-2``..."""
    seen: Counter[str] = Counter()
    found = set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        heading = None if in_code else re.match(r"#{1,6} (.*)", line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for number, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO)}:{number}: {target}"
            if not linked.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where} (no such heading in {linked.relative_to(REPO)})")
    return broken


def test_the_readme_is_short_enough_to_finish() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines; keep it within {MAX_README_LINES}: move details to docs/"
    )


def test_the_readme_starts_with_its_contents() -> None:
    """The contents come before the first section, so a reader sees the whole map first."""
    text = README.read_text()
    first_section = text.index("\n## ")
    assert "**Contents**" in text[:first_section]
    for heading in re.findall(r"^## (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        assert f"(#{slug})" in text[:first_section], f"the contents miss {heading!r}"


def test_every_relative_link_leads_somewhere() -> None:
    broken = [link for path in DOCUMENTS for link in broken_links(path)]
    assert not broken, "links to nowhere:\n" + "\n".join(broken)


def test_every_document_in_docs_is_linked_from_the_readme() -> None:
    text = README.read_text()
    orphans = [path.name for path in DOCUMENTS[1:] if f"(docs/{path.name}" not in text]
    assert not orphans, f"docs/ files the README does not link: {orphans}"
