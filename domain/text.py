"""Text every store can hold: no NUL characters and no unpaired surrogates.

PostgreSQL refuses NUL in text and no UTF-8 encoder accepts a lone surrogate (JSON can
express both, as "\\u0000" and "\\ud800"), so they are refused here, as invalid values,
instead of failing deep in a driver.
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
