"""Refuse an oversized body from its Content-Length, before anything reads it, as JSON.

Starlette's own limit (``FastAPI(max_body_size=...)``) still guards chunked bodies, but when
a Content-Length announces too much it answers in plain text; every error of this API is
JSON, so this outer layer answers first.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class ContentLengthGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._too_large(scope):
            body = json.dumps(
                {"detail": f"request body larger than {self.max_body_bytes} bytes"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False
