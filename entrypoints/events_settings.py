"""The settings of domain events' delivery to other services (issue 25): a mixin of
``entrypoints.settings.Settings``, kept here so that the broker's knobs read as one block.

With ``STOCKROOM_EVENTS_URL`` unset there is no broker: events go to the in-process handlers
only, and the outbox rows are simply never published (the embedded default needs nothing).
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

# NATS subject tokens and stream names: no whitespace, no wildcards (* >), and a stream name
# no dots either (it is a token of the JetStream API's subjects).
_SUBJECT_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]+")
_BROKER_SCHEMES = ("nats://", "tls://")


class EventsSettings(BaseSettings):
    # [Events] The NATS server with JetStream the relay publishes to, e.g.
    # nats://127.0.0.1:4222; unset: no broker.
    events_url: str | None = None
    # The stream (created if missing) and the subjects' prefix: stockroom.order.placed. The
    # CloudEvents type stays "stockroom.order.placed" whatever the prefix.
    events_stream: str = "STOCKROOM"
    events_subject_prefix: str = "stockroom"
    # Published outbox rows are removed after this long (`stockroom maintenance purge`).
    events_retention_hours: float = Field(default=7 * 24, gt=0, le=24 * 366)
    # How often the relay looks for new outbox rows (it polls: no LISTEN through PgBouncer),
    # which is both the longest a new event waits and one indexed query per interval.
    events_poll_ms: int = Field(default=100, ge=10, le=60_000)
    # A relay that stops renewing its lease (killed, cut off) is replaced after this long; the
    # relays' clocks must agree to within a fraction of it.
    events_lease_seconds: float = Field(default=10.0, ge=1, le=300)
    # `stockroom serve` also runs a relay in each worker (one of them publishes at a time, the
    # holder of the lease); false: run `stockroom relay` as a process of its own.
    events_relay_in_process: bool = False

    @field_validator("events_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_BROKER_SCHEMES):
            raise ValueError(f"a NATS URL starts with {' or '.join(_BROKER_SCHEMES)}")
        return value

    @field_validator("events_stream")
    @classmethod
    def _stream_name(cls, value: str) -> str:
        if not _STREAM_NAME.fullmatch(value):
            raise ValueError("a stream name is letters, digits, - and _ only")
        return value

    @field_validator("events_subject_prefix")
    @classmethod
    def _subject_prefix(cls, value: str) -> str:
        if not _SUBJECT_PREFIX.fullmatch(value):
            raise ValueError("a subject prefix is dot-separated tokens of letters, digits, - and _")
        return value

    @property
    def events_retention(self) -> timedelta:
        return timedelta(hours=self.events_retention_hours)

    @property
    def events_poll_interval(self) -> float:
        return self.events_poll_ms / 1000
