"""What a README comment says a command answers, and whether the real answer is that.

The grammar, for the text after ``→`` (with the comment lines that continue it):

    STATUS  [Name: value]...  [JSON]  [prose]

- ``STATUS``: three digits, the HTTP status.
- ``Name: value``: a response header, one a line; in the value ``...`` matches any text.
- ``JSON``: the body, in the real answer's shape: every object shown has exactly the answer's
  keys, every value is the answer's, every list has the answer's length, all the way down.
  ``...`` loosens it in two places only: as a value, any value (what changes from run to run:
  ids, timestamps, tokens, cursors); as the last member of an object or list, "and more
  members, not shown". Members are compared by their JSON text, so ``"8.00"`` is not ``8.0``.
- ``prose``: whatever follows, for the reader only.

Kept apart from the test that runs the README so that the rule itself has tests
(``tests/unit/test_readme_answers.py``) that need no server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DOTS = "..."
# What ``...`` becomes before ``json.loads``: strings no README would show.
_ANY = "\u0000any"
_MORE_KEY = "\u0000more"
STATUS = re.compile(r"(\d{3})\b")
HEADER = re.compile(r"([A-Za-z][A-Za-z0-9-]*): (.*)")
_NO_BODY = object()


@dataclass(frozen=True)
class Answer:
    """What a comment promises: a status (None: any 2xx), headers, and maybe a body."""

    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Any = _NO_BODY

    @property
    def shows_body(self) -> bool:
        return self.body is not _NO_BODY


def parse(text: str) -> Answer:
    """The answer ``text`` (everything after the arrow) promises."""
    text = text.strip()
    status_match = STATUS.match(text)
    if status_match is None:
        return Answer(None)
    rest = text[status_match.end() :].lstrip(" ")
    headers: list[tuple[str, str]] = []
    while True:
        first_line, _, after = rest.lstrip("\n").partition("\n")
        header = HEADER.fullmatch(first_line.strip())
        if header is None:
            break
        headers.append((header.group(1), header.group(2).strip()))
        rest = after
    rest = rest.lstrip()
    if rest[:1] in ("{", "["):
        return Answer(int(status_match.group(1)), headers, _shown_json(rest))
    return Answer(int(status_match.group(1)), headers)


def _shown_json(text: str) -> Any:
    """The JSON value ``text`` begins with, its ``...`` marks turned into sentinels; the prose
    after its closing bracket is left out."""
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            index += 1
            continue
        if text.startswith(DOTS, index):
            before = "".join(out).rstrip()[-1:]
            if before == ":" or stack[-1] == "[":
                out.append(json.dumps(_ANY))
            else:  # a member of its own in an object
                out.append(f"{json.dumps(_MORE_KEY)}: null")
            index += len(DOTS)
            continue
        out.append(char)
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]":
            stack.pop()
            if not stack:
                break
        index += 1
    if stack:
        raise ValueError(f"the JSON shown is not closed: {text!r}")
    return json.loads("".join(out))


def differences(shown: Any, real: Any, path: str = "$") -> list[str]:
    """Where ``real`` is not what ``shown`` says, one line per place; empty when it is."""
    if shown == _ANY:
        return []
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{path}: shown an object, the answer has {json.dumps(real)}"]
        found = [
            line
            for key, value in shown.items()
            if key != _MORE_KEY
            for line in (
                differences(value, real[key], f"{path}.{key}")
                if key in real
                else [f"{path}: no key {key!r} in the answer"]
            )
        ]
        extra = sorted(set(real) - set(shown))
        if extra and _MORE_KEY not in shown:
            found.append(f"{path}: the answer also has {extra} (show them, or end with ...)")
        return found
    if isinstance(shown, list):
        if not isinstance(real, list):
            return [f"{path}: shown a list, the answer has {json.dumps(real)}"]
        more = bool(shown) and shown[-1] == _ANY
        members = shown[:-1] if more else shown
        if len(real) < len(members) or (not more and len(real) != len(members)):
            return [f"{path}: shown {len(members)} members, the answer has {len(real)}"]
        return [
            line
            for number, (value, answered) in enumerate(zip(members, real, strict=False))
            for line in differences(value, answered, f"{path}[{number}]")
        ]
    if json.dumps(shown) != json.dumps(real):
        return [f"{path}: shown {json.dumps(shown)}, the answer has {json.dumps(real)}"]
    return []


def header_differences(shown: list[tuple[str, str]], real: list[tuple[str, str]]) -> list[str]:
    """Each header shown must be in ``real`` (names in any case) with a matching value."""
    answered: dict[str, list[str]] = {}
    for name, value in real:
        answered.setdefault(name.lower(), []).append(value)
    found = []
    for name, value in shown:
        pattern = ".*".join(re.escape(part) for part in value.split(DOTS))
        values = answered.get(name.lower(), [])
        if not any(re.fullmatch(pattern, candidate) for candidate in values):
            found.append(f"header {name}: shown {value!r}, the answer has {values or 'none'}")
    return found


def split_response(output: str) -> tuple[list[tuple[str, str]], str]:
    """``curl -i`` output as (headers, body); other output is all body."""
    if not output.startswith("HTTP/"):
        return [], output
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    return parse_headers(head), body


def parse_headers(head: str) -> list[tuple[str, str]]:
    """The fields of a response head (its status line and blank lines skipped)."""
    fields = []
    for line in head.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if colon and not line.startswith("HTTP/"):
            fields.append((name.strip(), value.strip()))
    return fields
