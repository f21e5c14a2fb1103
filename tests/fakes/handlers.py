"""An event handler for tests of the message bus (unit and integration alike)."""

from __future__ import annotations

from service_layer.outbox import OutboxMessage


class Recorder:
    """A handler that records what it was called with, and fails while ``failing``."""

    def __init__(self, *, failing: bool = False) -> None:
        self.calls: list[OutboxMessage] = []
        self.failing = failing

    async def __call__(self, message: OutboxMessage) -> None:
        self.calls.append(message)
        if self.failing:
            raise RuntimeError("the mail server is away")
