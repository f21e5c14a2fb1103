"""The app's one middleware layer: what every request gets at its edge, in a single pass.

- A request id (``request_id.py``): the client's ``X-Request-ID`` if it is short and plain,
  else a new one; on the response, on every log line, and in the request's state for the
  500 handler.
- The body-size limit (``body_limit.py``): a JSON 413 before anything parses a body over
  ``max_body_bytes``. An announced length is judged from the header; a body nobody vouched
  for is counted as it arrives; an HTTP/1 request with neither length nor chunking has no
  body at all (RFC 9112 6.3), so it costs nothing here.
- With ``metrics``: the request counted and timed by route template (``http_metrics.py``).

Pure ASGI, not ``BaseHTTPMiddleware``: no task or body buffering per request, streaming
responses and cancellation untouched. One layer rather than one per concern: each layer is a
call and a ``send`` wrapper on every request. Each concern can be off (settings
``STOCKROOM_REQUEST_IDS``, ``STOCKROOM_MAX_BODY_BYTES=0``, ``STOCKROOM_METRICS_ENABLED``),
and with all of them off the app has no layer here at all. The consistency tokens, which
exist only with replicas, are a layer of their own (``consistency.py``). What each concern
costs: the ablation in ``bench/README.md``.
"""

from __future__ import annotations

import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.api import body_limit
from entrypoints.api.http_metrics import UNMATCHED, RequestMetrics
from entrypoints.api.request_id import ACCEPTABLE, HEADER, HEADER_KEY, STATE_KEY, request_id

_HTTP_1 = frozenset({"1.0", "1.1"})


class RequestLayer:
    """``max_body_bytes``: 0 for no limit."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, request_ids: bool, metrics: bool
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.request_ids = request_ids
        self.metrics = RequestMetrics() if metrics else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == HEADER_KEY:
                given = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        current = token = None
        if self.request_ids:
            # The client's id if it is short and plain (logs cannot be forged or flooded).
            valid = given is not None and ACCEPTABLE.fullmatch(given)
            current = given.decode() if valid and given else uuid.uuid4().hex
            token = request_id.set(current)
            scope.setdefault("state", {})[STATE_KEY] = current
        status = 500  # what a client gets if the app fails before it answers
        metrics = self.metrics

        async def send_edged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if current is not None:
                    MutableHeaders(scope=message)[HEADER] = current
                if status == 413:  # answered here, not by a handler: no-store as they do
                    MutableHeaders(scope=message)["Cache-Control"] = "no-store"
                if metrics is not None:
                    route = getattr(scope.get("route"), "path_format", UNMATCHED)
                    latency = metrics.latency.get(route) or metrics.latency_of(route)
                    latency.observe(time.perf_counter() - started)
            await send(message)

        try:
            limit = self.max_body_bytes
            announced = int(length) if length is not None and length.isdigit() else None
            if not limit:
                pass
            elif announced is not None and not chunked:
                if announced > limit:
                    await body_limit.refuse(limit, send_edged)
                    return
            elif chunked or length is not None or scope.get("http_version") not in _HTTP_1:
                # Nobody vouched for the size: count it here.
                counted = await body_limit.read_up_to(limit, receive)
                if counted is None:
                    await body_limit.refuse(limit, send_edged)
                    return
                receive = counted
            await self.app(scope, receive, send_edged)
        finally:
            if metrics is not None:
                key = getattr(scope.get("route"), "path_format", UNMATCHED), scope["method"], status
                (metrics.counts.get(key) or metrics.count_of(*key)).inc()
        # Reset only when the app returned. When an exception escapes, the lines that matter
        # most come after we are left: Starlette's ServerErrorMiddleware (outside us) sends
        # the 500, then the server logs the traceback; both must carry the id. Leaving it set
        # leaks nothing: the server runs each request in its own task, with its own copy of
        # the context. (An in-process client, httpx's ASGITransport, runs the app in the
        # caller's task: there the id of a request that raised stays.)
        if token is not None:
            request_id.reset(token)
