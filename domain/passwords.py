"""Passwords nobody should choose: the most common ones, refused whatever else they satisfy.

NIST SP 800-63B (5.1.1.2) asks a verifier to compare a new password against a list of values
known to be commonly used or compromised. The list shipped here is Django's (20,000 passwords,
lower-cased; source and licence in ``domain/data/README.md``); it is read once, on first use.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from domain.errors import InvalidValue

COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    data = resources.files("domain").joinpath("data", COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines())


def is_common(password: str) -> bool:
    """Compared case-insensitively: ``Password1`` is as guessable as ``password1``."""
    return password.lower() in common_passwords()


def check_not_common(password: str) -> None:
    if is_common(password):
        raise InvalidValue(
            "password is one of the most commonly used passwords; choose another",
            field="password",
        )
