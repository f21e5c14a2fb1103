"""Email addresses: one canonical form per address, and no address that impersonates another.

Canonical form (``normalise_email``): Unicode NFKC, lower case, and domain labels in Unicode
rather than punycode (as the registration edge's validator stores them). NFKC, not NFC: it
folds the compatibility forms drawn like the characters they stand for, so that ``admin@``
typed with a fullwidth ``a`` (U+FF41) is ``admin@``, as PRECIS maps widths in usernames
(RFC 8265) and UTS #46 applies NFKC to domain names.

Look-alikes from other scripts are not folded (a Cyrillic ``a``, U+0430, is a letter of its
own) but refused in new addresses (``check_single_script``): the local part must be of one
script, as UTS #39's "Highly Restrictive" level asks (section 5.2: one script, or Latin with
Han and the Japanese kana, with Han and Bopomofo, or with Han and Hangul), characters common
to every script (digits, ``.``, ``+``) and combining marks going with any. ``paypal`` with a
Cyrillic ``a`` among its Latin letters is refused; an all-Cyrillic or a Japanese local part
is not. Accounts registered before the rule keep logging in: it is checked where an account
is created, not where one is looked up; and one stored under the NFC form used before is
still found by it (``legacy_email_form``).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from confusable_homoglyphs import categories  # type: ignore[import-untyped]

from domain.errors import InvalidValue
from domain.text import check_storable

EMAIL_MAX_LENGTH = 254
# Deliberately loose: the HTTP edge validates the syntax properly; the domain guarantees the
# shape it relies on (one '@', a dot in the domain, no whitespace) and a canonical form.
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Script values that belong to no script in particular: they go with any (UTS #24).
_ANY_SCRIPT = frozenset({"COMMON", "INHERITED"})
# UTS #39 section 5.2, "Highly Restrictive": the mixtures of scripts that one writing system
# uses (Japanese, Chinese with Bopomofo, Korean), each with Latin.
_ONE_WRITING_SYSTEM = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def normalise_email(raw: str) -> str:
    """The canonical form of an address, whichever way it was typed (module docstring)."""
    text = unicodedata.normalize("NFKC", check_storable(raw, field="email").strip())
    # Normalised again after lower-casing, which can leave a string that is not in NFKC: the
    # canonical form of a canonical form is itself.
    return _with_unicode_domain(unicodedata.normalize("NFKC", text.lower()))


def legacy_email_form(raw: str) -> str | None:
    """The form accounts were stored under before NFKC (NFC, otherwise the same), ``None`` if
    there is none: only to find such an account, never to store one."""
    try:
        text = unicodedata.normalize("NFC", check_storable(raw, field="email").strip())
        return _with_unicode_domain(text.lower())
    except InvalidValue:
        return None


def check_single_script(email: str) -> str:
    """``email`` (canonical), refused if its local part mixes scripts (module docstring)."""
    local = email.rpartition("@")[0]
    scripts = {categories.alias(char) for char in local} - _ANY_SCRIPT
    if len(scripts) > 1 and not any(scripts <= system for system in _ONE_WRITING_SYSTEM):
        named = ", ".join(sorted(script.title() for script in scripts))
        raise InvalidValue(
            f"email must not mix scripts before the '@' ({named}): a look-alike of another "
            "address is refused",
            field="email",
        )
    return email


def _with_unicode_domain(email: str) -> str:
    local, at, domain = email.rpartition("@")
    if at and "xn--" in domain:
        try:
            domain = ".".join(
                codecs.decode(label.encode("ascii"), "idna") if label.startswith("xn--") else label
                for label in domain.split(".")
            )
        except (UnicodeError, ValueError):
            raise InvalidValue("email must be a valid address", field="email") from None
        email = f"{local}@{domain}".lower()
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL_SHAPE.fullmatch(email):
        raise InvalidValue("email must be a valid address", field="email")
    return email
