"""Pages of a list over HTTP: the opaque cursor, and the headers that say what comes next.

The body of a list stays a plain JSON array; what a client needs beyond it travels in headers:

- ``Link: <URL>; rel="next"`` (RFC 8288) while a next page may exist: the URL is this
  request's own, with ``cursor`` set (and ``skip`` removed), so a client follows it as is.
- ``X-Total-Count: N`` with ``?count=true``: how many rows match the filters in all (a second
  statement, hence only when asked).

The cursor is the key of the page's last row, so the next page starts right after it however
many rows were inserted or deleted meanwhile: a walk sees every row that existed when it began
exactly once. As bytes, base64url without padding: a version byte, a tag naming the list
(items ascend by id, orders descend: a cursor from one is meaningless in the other) and the id,
8 bytes big-endian.

What the cursor does not carry, and why:
- the filters: the next URL repeats them, and a key is a valid start under any filter (a
  client that edits them gets the rows after that key that match the new ones, no surprise);
- a signature: a forged cursor can only start a walk at another id, which ``skip`` or the
  filters could do too; who may see what is decided by the token, never by the cursor.
The version byte lets a later format (another order, say) refuse today's cursors clearly.
Anything that does not decode to this format is a 422, never a guess and never a 500.
"""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Protocol, TypeVar

from fastapi import Request, Response

from entrypoints.api.query_parameters import query_problem
from entrypoints.api.responses import Responses
from service_layer.pages import Page

CURSOR_VERSION = 1
_ID_BYTES = 8  # room for BIGINT ids one day; today's are INTEGER columns:
_MAX_ID = 2**31 - 1  # a larger one would overflow the driver's parameter (a 500), not a 422
_CURSOR_BYTES = 2 + _ID_BYTES  # version, list tag, id
# base64url of _CURSOR_BYTES bytes, unpadded, with room for a longer later version.
CURSOR_MAX_LENGTH = 64
LINK_HEADER = "Link"
TOTAL_HEADER = "X-Total-Count"

CURSOR_DESCRIPTION = (
    'Where the page starts: copy it from the previous answer\'s `Link` header (rel="next"); '
    "it is opaque, do not build one. Not together with `skip`."
)
SKIP_DESCRIPTION = "Rows to leave out before the page (offset paging); 0 with `cursor`."
COUNT_DESCRIPTION = (
    "true: the answer's `X-Total-Count` header says how many rows match the filters in all."
)
# The headers of a list's 200, for the OpenAPI document: a generated client can read them.
PAGED: Responses = {
    200: {
        "headers": {
            LINK_HEADER: {
                "description": 'The next page (RFC 8288): `<URL>; rel="next"`, this request '
                "with `cursor` set. Absent on the last page.",
                "schema": {"type": "string"},
            },
            TOTAL_HEADER: {
                "description": "With `count=true`: how many rows match the filters in all.",
                "schema": {"type": "integer", "minimum": 0},
            },
        }
    }
}


class Listing(enum.Enum):
    """Which list a cursor belongs to, by its tag byte."""

    ITEMS = b"i"  # id ascending
    ORDERS = b"o"  # id descending (newest first)


class _Keyed(Protocol):
    @property
    def id(self) -> int: ...


K = TypeVar("K", bound=_Keyed)


def encode_cursor(listing: Listing, last_id: int) -> str:
    raw = bytes([CURSOR_VERSION]) + listing.value + last_id.to_bytes(_ID_BYTES, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class NotACursor(ValueError):
    """The text is not a cursor this list gave out."""


def decode_cursor(listing: Listing, cursor: str) -> int:
    """The id of the row a page starts after; ``NotACursor`` for anything else."""
    try:
        text = cursor.encode("ascii")
        raw = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError) as error:
        raise NotACursor from error
    if len(raw) != _CURSOR_BYTES or raw[0] != CURSOR_VERSION or raw[1:2] != listing.value:
        raise NotACursor
    last_id = int.from_bytes(raw[2:], "big")
    if last_id > _MAX_ID:
        raise NotACursor
    # Decoding is lenient about trailing bits and characters outside the alphabet: a cursor
    # is taken only in the exact form this module writes.
    if encode_cursor(listing, last_id) != cursor:
        raise NotACursor
    return last_id


def start_after(listing: Listing, cursor: str | None, *, skip: int) -> int | None:
    """The key a page starts after (``None``: from the start), or a 422 naming the problem."""
    if cursor is None:
        return None
    if skip:
        raise query_problem(
            "skip", "skip cannot be combined with cursor: the cursor says where the page starts"
        )
    try:
        return decode_cursor(listing, cursor)
    except NotACursor:
        raise query_problem(
            "cursor",
            'not a cursor of this list: copy it from a Link header\'s rel="next" URL',
        ) from None


def describe_page(request: Request, response: Response, listing: Listing, page: Page[K]) -> None:
    """The headers of a page: ``Link`` to the next one while rows may follow, and the total
    when it was counted."""
    if page.more and page.rows:
        cursor = encode_cursor(listing, page.rows[-1].id)
        following = request.url.remove_query_params("skip").include_query_params(cursor=cursor)
        response.headers[LINK_HEADER] = f'<{following}>; rel="next"'
    if page.total is not None:
        response.headers[TOTAL_HEADER] = str(page.total)
