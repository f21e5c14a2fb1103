"""What the outbox relay counts (docs/operations.md says what each is for). The backlog is
measured by the relay holding the lease, so in multiprocess mode (``stockroom serve`` with
the relay in-process) the largest value any worker reports is the one that means something."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OUTBOX_BACKLOG = Gauge(
    "stockroom_outbox_backlog",
    "Outbox rows not published to the broker yet.",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_UNSENT = Gauge(
    "stockroom_outbox_oldest_unsent_seconds",
    "Age of the oldest outbox row not published yet (0: none waits).",
    multiprocess_mode="max",
)
EVENTS_PUBLISHED = Counter(
    "stockroom_events_published",
    "Outbox rows the broker acknowledged; duplicate: it had the event already (a re-publish).",
    ["duplicate"],
)
PUBLISH_FAILURES = Counter(
    "stockroom_event_publish_failures",
    "Publishes that failed (broker unreachable or no acknowledgement); the rows stay unsent.",
)
