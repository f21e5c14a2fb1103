"""A steady mixed load that checks every answer, through the balancer (issue 23's acceptance).

- **Buyers**, one item each that nobody else buys: an order of one unit with an
  Idempotency-Key of its own, sent again with the same key until it is answered 201 (so the
  load never leaves an outcome unknown), then a read of the item with the order's
  ``X-Consistency-Token``: it must show exactly the stock left by every order answered so far
  (more: a stale read; less: an order nobody was told of).
- **Readers**, without a token, of the buyers' items: a read may lag, never by more than the
  replicas' lag bound (and a little for the read's own time), and never shows an order that
  was never placed.

Every answer is sorted: a success, the app's own 503 (JSON and ``Retry-After``), an error the
balancer made (HAProxy answers in HTML), a transport error, or a wrong answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx

CONSISTENCY = "X-Consistency-Token"


@dataclass
class Answer:
    at: float
    kind: str  # "ok", "app 503", "balancer", "transport", "wrong"
    what: str  # the request, and what was wrong with it


@dataclass
class Item:
    id: int
    sku: str
    initial: int
    ordered: int = 0  # orders answered 201
    # (time, stock left) after each order answered 201: what a tokenless read may lag behind
    history: list[tuple[float, int]] = field(default_factory=list)

    def left_at(self, moment: float) -> int:
        """The stock every order answered by ``moment`` left (the initial before any)."""
        left = self.initial
        for answered, after in self.history:
            if answered > moment:
                break
            left = after
        return left


@dataclass
class Load:
    client: httpx.AsyncClient
    items: list[Item]
    token: str  # the buyers' customer's bearer token
    max_lag: float  # STOCKROOM_REPLICA_MAX_LAG
    answers: list[Answer] = field(default_factory=list)
    orders: dict[str, int] = field(default_factory=dict)  # Idempotency-Key -> order id
    stale_reads: list[str] = field(default_factory=list)

    def _record(self, kind: str, what: str) -> None:
        self.answers.append(Answer(time.monotonic(), kind, what))

    def _sort(self, response: httpx.Response, what: str) -> str:
        if response.status_code < 300:
            return "ok"
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if response.status_code == 503 and is_json and "retry-after" in response.headers:
            self._record("app 503", what)
            return "app 503"
        kind = "balancer" if not is_json else "wrong"
        self._record(kind, f"{what}: {response.status_code} {response.text[:120]}")
        return kind

    async def _send(self, method: str, path: str, **options: object) -> httpx.Response | None:
        what = f"{method} {path}"
        try:
            response = await self.client.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.TransportError as error:
            self._record("transport", f"{what}: {type(error).__name__}")
            return None
        return response

    async def buy(self, item: Item, stop: asyncio.Event) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        while not stop.is_set():
            key = uuid.uuid4().hex
            body = {"lines": [{"sku": item.sku, "quantity": 1}]}
            while True:  # the same key until 201: no outcome left unknown
                response = await self._send(
                    "POST", "/orders/", json=body, headers=auth | {"Idempotency-Key": key}
                )
                if response is not None and self._sort(response, "POST /orders/") == "ok":
                    break
                await asyncio.sleep(0.2)
            order = response.json()
            if response.status_code != 201 or order["lines"][0]["sku"] != item.sku:
                self._record("wrong", f"POST /orders/: {response.status_code} {order}")
                continue
            if key in self.orders and self.orders[key] != order["id"]:
                self._record("wrong", f"key {key} answered {order['id']} and {self.orders[key]}")
            self.orders[key] = order["id"]
            item.ordered += 1
            left = item.initial - item.ordered
            item.history.append((time.monotonic(), left))
            self._record("ok", "POST /orders/")
            await self._read_own_write(item, left, response.headers.get(CONSISTENCY))

    async def _read_own_write(self, item: Item, left: int, token: str | None) -> None:
        headers = {CONSISTENCY: token} if token else {}
        response = await self._send("GET", f"/items/{item.id}", headers=headers)
        if response is None or self._sort(response, "GET /items/{id} (token)") != "ok":
            return
        found = response.json()
        if found["id"] != item.id or found["sku"] != item.sku:
            self._record("wrong", f"GET /items/{item.id}: {found}")
        elif found["quantity"] > left:
            self.stale_reads.append(f"token read of {item.sku}: {found['quantity']} > {left}")
        elif found["quantity"] < left:
            self._record("wrong", f"{item.sku}: {found['quantity']} left, orders leave {left}")
        else:
            self._record("ok", "GET /items/{id} (token)")

    async def read(self, stop: asyncio.Event) -> None:
        turn = 0
        while not stop.is_set():
            item = self.items[turn % len(self.items)]
            turn += 1
            sent = time.monotonic()
            response = await self._send("GET", f"/items/{item.id}")
            if response is None or self._sort(response, "GET /items/{id}") != "ok":
                await asyncio.sleep(0.05)
                continue
            found = response.json()
            # Its answer may lag by the bound, plus the time the read itself took.
            oldest_allowed = item.left_at(sent - self.max_lag)
            if found["id"] != item.id or found["quantity"] < item.initial - item.ordered - 1:
                self._record("wrong", f"GET /items/{item.id}: {found}")
            elif found["quantity"] > oldest_allowed:
                self.stale_reads.append(
                    f"tokenless read of {item.sku}: {found['quantity']}, older than "
                    f"{self.max_lag} s (then {oldest_allowed})"
                )
            else:
                self._record("ok", "GET /items/{id}")

    async def run_while(self, scenario: asyncio.Future[object]) -> None:
        """Buyers and readers until ``scenario`` is done, then until they have finished."""
        stop = asyncio.Event()
        workers = [asyncio.create_task(self.buy(item, stop)) for item in self.items]
        workers += [asyncio.create_task(self.read(stop)) for _ in range(2)]
        try:
            await scenario
        finally:
            stop.set()
            await asyncio.gather(*workers)

    def errors(self, since: float = 0.0) -> dict[str, list[Answer]]:
        """The answers that were not successes, by kind."""
        found: dict[str, list[Answer]] = {}
        for answer in self.answers:
            if answer.kind != "ok" and answer.at >= since:
                found.setdefault(answer.kind, []).append(answer)
        return found

    def count(self, kind: str = "ok") -> int:
        return sum(1 for answer in self.answers if answer.kind == kind)

    def summary(self, name: str) -> str:
        """One line for the run's log (``pytest -s``): what the clients saw."""
        errors = self.errors()
        app_503s = errors.get("app 503", [])
        spread = f" over {app_503s[-1].at - app_503s[0].at:.1f} s" if app_503s else ""
        kinds = ", ".join(f"{len(found)} {kind}" for kind, found in sorted(errors.items()))
        return (
            f"{name}: {self.count()} answers ok, {len(self.orders)} orders, "
            f"errors: {kinds or 'none'}{spread}; stale reads: {len(self.stale_reads)}"
        )
