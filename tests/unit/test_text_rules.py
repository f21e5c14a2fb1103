"""Issue 26 F22: titles and other single-line text hold no control, line-separator or bidi
character; descriptions none but line feeds and tabs. Refused in the domain (422 over HTTP,
nothing stored), stated by the HTTP schema as the same rule, and never sent to a terminal by
``items list`` when an older row still holds one."""

from __future__ import annotations

import asyncio
import re
import unicodedata

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.item import validate_description, validate_title
from domain.text import BLANK_CHARACTERS, LINE_BREAKING
from entrypoints.api.schemas import MULTI_LINE, SINGLE_LINE
from tests.api_support import Account
from tests.fakes import InMemoryStore
from tests.unit.cli_support import Run
from tests.unit.support import item_id, seed_one, snapshot

JSON = {"content-type": "application/json"}
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Inside a title: an escape sequence that recolours a terminal, a forged log line, a bidi
# override that shows "exe.png" for "gnp.exe", a line separator.
HOSTILE_INSIDE = ("red \x1b[31m", "a\nforged line", "a\rb", "\u202egnp.exe", "a\u2028b", "\x85")
# Text, not controls: the zero-width joiner of an emoji sequence, ZWNJ, right-to-left script.
LEGITIMATE = (
    "\U0001f469\u200d\U0001f4bb coder",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647",
    "שלום",
)


def test_what_is_refused_is_every_control_and_separator_and_the_bidi_controls() -> None:
    expected = {
        chr(code) for code in range(0x3000) if unicodedata.category(chr(code)) in {"Cc", "Zl", "Zp"}
    } | set(BIDI_CONTROLS)
    assert expected == LINE_BREAKING


@pytest.mark.parametrize("hostile", HOSTILE_INSIDE)
def test_a_title_with_a_control_character_inside_is_refused(hostile: str) -> None:
    with pytest.raises(InvalidValue, match=r"title must be a single line .*\(found U\+"):
        validate_title(f"ok {hostile} ok")


def test_blanks_around_a_title_are_still_stripped_and_never_stored() -> None:
    assert validate_title("\t Pasted title\r\n") == "Pasted title"


@pytest.mark.parametrize("text", LEGITIMATE)
def test_format_characters_that_are_text_stay(text: str) -> None:
    assert validate_title(text) == text
    assert validate_description(text) == text


def test_a_description_keeps_line_feeds_and_tabs_and_refuses_the_rest() -> None:
    assert validate_description("line one\n\tline two\n") == "line one\n\tline two\n"
    for hostile in ("\r\n", "\x1b[2J", "\u202e", "\u2029", "\x00"):
        with pytest.raises(InvalidValue, match="description"):
            validate_description(f"a{hostile}b")


_ALPHABET = st.sampled_from(sorted(set(BLANK_CHARACTERS) | LINE_BREAKING | set("ab \u200d\u05e9")))


@given(st.text(_ALPHABET, max_size=8))
def test_the_schema_states_the_title_rule_exactly(text: str) -> None:
    """What the published pattern allows, the domain accepts, and the other way round."""
    try:
        validate_title(text)
        accepted = True
    except InvalidValue:
        accepted = False
    assert accepted == bool(re.fullmatch(SINGLE_LINE, text)), repr(text)


@given(st.text(_ALPHABET, max_size=8))
def test_the_schema_states_the_description_rule_exactly(text: str) -> None:
    try:
        validate_description(text)
        accepted = True
    except InvalidValue:
        accepted = False
    assert accepted == bool(re.fullmatch(MULTI_LINE, text)), repr(text)


@pytest.mark.parametrize("field", ["title", "description"])
async def test_the_api_refuses_them_with_a_clear_422_and_stores_nothing(
    client: httpx.AsyncClient, admin: Account, store: InMemoryStore, field: str
) -> None:
    existing = await seed_one(store, sku="KEEP-1", title="Kept", description="kept")
    before = snapshot(store)
    for hostile in ("ok \x1b[31m ok", "ok\rok", "ok\u202eok"):
        body = {"title": "fine", field: hostile}
        created = await client.post("/items/", json=body, headers=admin.headers)
        changed = await client.put(
            f"/items/{existing.id}", json={field: hostile}, headers=admin.headers
        )
        for response in (created, changed):
            assert response.status_code == 422, response.text
            (problem,) = response.json()["detail"]
            assert problem["loc"][-1] == field
            assert hostile not in response.text  # the refusal does not echo it
    assert snapshot(store) == before


def test_items_list_never_sends_a_stored_escape_sequence_to_the_terminal(
    run: Run, store: InMemoryStore
) -> None:
    """A row stored before the rule (the domain would refuse it now) is shown escaped."""
    item = asyncio.run(seed_one(store, sku="OLD-1", title="placeholder"))
    store.items[item_id(item)].title = "\x1b[31mred"  # as a row written before the rule

    result = run("items", "list")

    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "\\u001b[31mred" in result.stdout
