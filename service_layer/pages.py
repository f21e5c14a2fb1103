"""One page of a listing, and what the listing knows beyond it.

A page is asked for with one row more than it shows: that extra row says there is a next
page without a second statement to count what is left (``page_of``). The total is counted
only when a caller asks for it, since counting costs a scan of everything that matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Page(list[T]):
    """The rows of one page, in the listing's order. A list, so a caller that wants only the
    rows (the CLI, most tests) uses it as one; ``more`` says whether rows follow this page,
    ``total`` how many rows match in all (``None`` unless counted)."""

    def __init__(self, rows: Iterable[T], *, more: bool, total: int | None = None) -> None:
        super().__init__(rows)
        self.more = more
        self.total = total


def page_of(fetched: Sequence[T], limit: int, *, total: int | None = None) -> Page[T]:
    """``fetched`` was read with ``limit + 1``: at most ``limit`` rows, and whether there was
    one more."""
    return Page(fetched[:limit], more=len(fetched) > limit, total=total)
