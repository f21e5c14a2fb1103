"""Text every store can hold, and text that stays on its line.

PostgreSQL refuses NUL in text and no UTF-8 encoder accepts a lone surrogate (JSON can
express both, as "\\u0000" and "\\ud800"), so they are refused here, as invalid values,
instead of failing deep in a driver. Single-line text (a title) holds no control, line
separator or bidi character, multi-line text (a description) none but line feeds and tabs:
they forge log lines, drive terminals and disguise what is shown (``check_single_line``).
"""

from __future__ import annotations

from domain.errors import InvalidValue

# What ``str.strip()`` removes (every character for which ``str.isspace()`` holds, as a unit
# test checks), so what "blank" means here: a title of these alone is blank, and a SKU may be
# surrounded by them, since both are stripped before they are checked. Spelled out so that the
# HTTP schema can state the same rule as a pattern.
BLANK_CHARACTERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def check_storable(value: str, *, field: str) -> str:
    if "\x00" in value:
        raise InvalidValue(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidValue(f"{field} must be valid Unicode text", field=field) from error
    return value


def is_storable(value: str) -> bool:
    try:
        check_storable(value, field="value")
    except InvalidValue:
        return False
    return True


# Characters that break a line, or rewrite how it is shown, wherever text is displayed: every
# C0 and C1 control (Unicode category Cc: NUL, TAB, LF, CR, ESC...), which forge log lines and
# drive terminals; the line and paragraph separators (Zl, Zp), line breaks to many readers
# (``str.splitlines`` among them); and the bidi embeddings, overrides and isolates (Cf), which
# reorder what is shown ("Trojan Source", CVE-2021-42574; UTS #39's general security profile
# restricts them in identifiers). Other format characters (the
# zero-width joiner in emoji, ZWNJ in Persian) are text and stay. As ranges of code points,
# so that the HTTP schema can state the same rule as a character class.
LINE_BREAKING_RANGES = (
    ("\x00", "\x1f"),
    ("\x7f", "\x9f"),
    ("\u2028", "\u2029"),
    ("\u202a", "\u202e"),
    ("\u2066", "\u2069"),
)
# What multi-line text (a description) may hold of them: line feeds and tabs, nothing else.
MULTI_LINE_ALLOWED = "\n\t"
LINE_BREAKING = frozenset(
    chr(code) for first, last in LINE_BREAKING_RANGES for code in range(ord(first), ord(last) + 1)
)


def check_single_line(value: str, *, field: str) -> str:
    """``value``, refused if it holds a control, line-separating or bidi character."""
    return _check_characters(value, field=field, allowed="", kind="a single line of text")


def check_multi_line(value: str, *, field: str) -> str:
    """``value``, refused as ``check_single_line`` does, except for line feeds and tabs."""
    return _check_characters(
        value, field=field, allowed=MULTI_LINE_ALLOWED, kind="text (line feeds and tabs allowed)"
    )


def _check_characters(value: str, *, field: str, allowed: str, kind: str) -> str:
    for char in value:
        if char in LINE_BREAKING and char not in allowed:
            # The code point, never the text: a refusal does not echo what was sent.
            raise InvalidValue(
                f"{field} must be {kind} without control, line-separator or bidi "
                f"characters (found U+{ord(char):04X})",
                field=field,
            )
    return value
