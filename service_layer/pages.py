"""One page of a listing, and what the listing knows beyond it.

A page is asked for with one row more than it shows: that extra row says there is a next
page without a second statement to count what is left (``page_of``). The total is counted
only when a caller asks for it, since counting costs a scan of everything that matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The rows of one page, in the listing's order; ``more``: whether rows follow this page;
    ``total``: how many rows match in all (``None`` unless counted)."""

    rows: list[T]
    more: bool
    total: int | None = None


def page_of(fetched: Sequence[T], limit: int, *, total: int | None = None) -> Page[T]:
    """``fetched`` was read with ``limit + 1``: at most ``limit`` rows, and whether there was
    one more."""
    return Page(list(fetched[:limit]), more=len(fetched) > limit, total=total)
