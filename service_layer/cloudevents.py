"""Outbox rows as CloudEvents 1.0 in the JSON event format (structured mode: the whole event
is the message body), what ``stockroom relay`` publishes; and the spec's rules as a check.

The ``type`` is ``stockroom.<event type>`` whatever NATS subject prefix a deployment chose: a
consumer matches events by ``type``, which must not change when the transport is
reconfigured. ``id`` is the event id, unique per event, which consumers dedupe by (the spec
says source + id identify an event).

Spec: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md and
formats/json-format.md.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from service_layer.relay_ports import OutboxRecord

SPEC_VERSION = "1.0"
TYPE_NAMESPACE = "stockroom"
DEFAULT_SOURCE = "/stockroom"
REQUIRED = ("specversion", "id", "source", "type")
# Every attribute is a non-empty string except data (any JSON value here). An attribute name
# is lowercase letters and digits only (the spec's naming rule).
_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]+")
# RFC 3339 date-time (section 5.6), which a plain ``fromisoformat`` does not enforce: it
# accepts a missing offset or a week date.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def cloudevent(record: OutboxRecord, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """The CloudEvent for one outbox row."""
    return {
        "specversion": SPEC_VERSION,
        "id": record.id,
        "source": source,
        "type": f"{TYPE_NAMESPACE}.{record.type}",
        "time": rfc3339(record.occurred_at),
        "subject": record.subject,
        "datacontenttype": "application/json",
        # Parsed, so the body is one JSON document and ``data`` an object in it, not a string.
        "data": json.loads(record.data),
    }


def encoded(event: dict[str, Any]) -> bytes:
    # Compact and UTF-8 as the JSON format allows: smaller messages, the same document.
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z``, microseconds kept: ``2026-12-06T05:40:00.123456Z``."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined instant; pass an aware one")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def problems(event: object) -> list[str]:
    """What makes ``event`` (a decoded JSON body) no valid CloudEvents 1.0 JSON event; empty
    when it is one. For tests and consumers that want to refuse what they cannot trust."""
    if not isinstance(event, dict):
        return ["an event is a JSON object"]
    found = [f"{name} is required" for name in REQUIRED if name not in event]
    if event.get("specversion", SPEC_VERSION) != SPEC_VERSION:
        found.append(f"specversion must be {SPEC_VERSION!r}")
    for name, value in event.items():
        if name == "data_base64":  # the JSON format's one member that is no attribute
            continue
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            found.append(f"{name!r} is no valid attribute name")
        elif name != "data" and not (isinstance(value, str) and value):
            found.append(f"{name} must be a non-empty string")
    time = event.get("time")
    if isinstance(time, str) and not _valid_time(time):
        found.append("time must be an RFC 3339 timestamp")
    if "data" in event and "data_base64" in event:
        found.append("data and data_base64 are exclusive")
    return found


def _valid_time(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:  # well formed but no date, e.g. February 30th
        return False
    return True
