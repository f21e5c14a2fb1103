"""Browser origins, as ``STOCKROOM_CORS_ORIGINS`` names them (entrypoints/api/cors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable

ANY = "*"
# An origin as a browser sends it in its Origin header (RFC 6454 6.1): no path, no slash.
_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")


def checked_origins(origins: Iterable[str]) -> list[str]:
    """``origins`` as the browser sends them (lower case), or ValueError naming the first one
    that no browser would ever send: it would match nothing, and quietly leave its pages out."""
    found = [origin.strip().lower() for origin in origins if origin.strip()]
    if ANY in found and len(found) > 1:
        raise ValueError("STOCKROOM_CORS_ORIGINS is either * alone or a list of origins")
    for origin in found:
        if origin != ANY and not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"STOCKROOM_CORS_ORIGINS: {origin!r} is not an origin; write "
                "scheme://host[:port] (http or https, no path, no trailing slash)"
            )
    return found
