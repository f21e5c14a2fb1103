"""The shop's currency, as ``STOCKROOM_CURRENCY`` names it: an ISO 4217 code ("EUR", "USD").

One currency for the whole shop: the label the API shows beside every price and total. It
converts nothing; stored amounts are numbers with two places, in whatever the shop sells in.
"""

from __future__ import annotations

import re

# ISO 4217's alphabetic codes: three upper-case Latin letters. Not checked against the list of
# codes in use (it changes; a shop may need one newer than the list we would ship).
CURRENCY_PATTERN = r"^[A-Z]{3}$"


def checked_currency(code: str) -> str:
    """``code``, or ValueError saying what a currency code looks like (the CLI's error names
    the variable: entrypoints/cli/explained.py)."""
    if not re.fullmatch(CURRENCY_PATTERN, code):
        raise ValueError(
            f"{code!r} is not an ISO 4217 currency code: write three upper-case letters, "
            "such as EUR, USD or GBP"
        )
    return code
