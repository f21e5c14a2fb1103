"""A price as the API accepts it: in a request body (``schemas.py``) or a query, as a JSON
number or as text, validated as a Decimal; too many decimal places get one message whatever
the input's type. Prices the API answers with: ``response_models.MoneyOut``."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from domain.item import CENT, MAX_PRICE, TOO_MANY_PLACES

# Prices travel as JSON numbers (what clients of a classic FastAPI API expect), or as text
# such as "19.99"; either way they are validated as Decimals so 19.99 stays 19.99 and never
# picks up binary-float noise. Text must look like a price: digits, at most two decimals.
_PLACES = -int(CENT.as_tuple().exponent)
PRICE_TEXT = rf"^[0-9]{{1,{len(str(int(MAX_PRICE)))}}}(\.[0-9]{{1,{_PLACES}}})?$"
# Text that is a price but for being finer than a cent ("9.999").
_FINER_THAN_A_CENT = rf"^[0-9]+\.[0-9]{{{_PLACES + 1},}}$"


def _too_many_places() -> PydanticCustomError:
    # Pydantic's own type for the rule, with the domain's wording (as the CLI and the catalog
    # import say it), so a client that branches on ``type`` sees one kind of problem.
    return PydanticCustomError("decimal_max_places", TOO_MANY_PLACES, {"decimal_places": _PLACES})


def _price_as_written(value: object) -> object:
    """One refusal for a price finer than a cent, however it is sent: 9.999, "9.999", or a
    client's 0.1 + 0.2 (0.30000000000000004), which pydantic alone would refuse in three
    wordings, the last for its count of digits."""
    if isinstance(value, str):
        if re.fullmatch(PRICE_TEXT, value):
            return value
        if re.fullmatch(_FINER_THAN_A_CENT, value):
            raise _too_many_places()
        # Decimal would also read " 1e1", "+5" or "1_0"; the schema promises one plain form.
        raise ValueError(f'a price given as text is digits with at most {_PLACES} decimals: "9.99"')
    if isinstance(value, float) and math.isfinite(value):
        # A float's repr is the shortest text that reads back as it: the number as the client
        # wrote it in the JSON, which is what has too many places or not.
        price = Decimal(repr(value))
        if int(price.as_tuple().exponent) < -_PLACES:
            raise _too_many_places()
        return price
    return value  # an int, or NaN and infinities, which allow_inf_nan refuses below


Price = Annotated[
    Decimal,
    BeforeValidator(_price_as_written),
    # No max_digits or decimal_places: _price_as_written has already refused a price finer
    # than a cent, and the bounds leave no room for more digits.
    Field(ge=0, le=MAX_PRICE, allow_inf_nan=False),
    WithJsonSchema(
        {
            # Text first: generated clients take the first branch as the type they offer,
            # and a price as text ("9.50") never passes through a binary float.
            "anyOf": [
                {"type": "string", "format": "decimal", "pattern": PRICE_TEXT},
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": float(MAX_PRICE),
                    "multipleOf": float(CENT),
                },
            ]
        },
        mode="validation",
    ),
]
