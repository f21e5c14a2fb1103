"""Outbox rows as CloudEvents 1.0 JSON events, and the check that says what breaks the spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from service_layer.cloudevents import cloudevent, encoded, problems, rfc3339
from service_layer.relay_ports import OutboxRecord

RECORD = OutboxRecord(
    position=7,
    id="3f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b",
    type="order.placed",
    subject="orders/42",
    data='{"id": 42, "total": "8.00"}',
    occurred_at=datetime(2026, 12, 6, 5, 40, 1, 250000, tzinfo=UTC),
)


def test_a_row_becomes_a_valid_cloudevent_with_every_attribute() -> None:
    event = cloudevent(RECORD, source="urn:stockroom:shop-1")

    assert event == {
        "specversion": "1.0",
        "id": RECORD.id,
        "source": "urn:stockroom:shop-1",
        "type": "stockroom.order.placed",
        "time": "2026-12-06T05:40:01.250000Z",
        "subject": "orders/42",
        "datacontenttype": "application/json",
        "data": {"id": 42, "total": "8.00"},
    }
    assert problems(event) == []
    assert json.loads(encoded(event)) == event  # one JSON document, data an object in it


def test_the_time_is_utc_whatever_zone_the_row_came_in() -> None:
    two_hours_east = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 12, 6, 7, 0, tzinfo=two_hours_east)) == "2026-12-06T05:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime(2026, 12, 6, 7, 0))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"specversion": "0.3"}, "specversion must be '1.0'"),
        ({"id": ""}, "id must be a non-empty string"),
        ({"source": 5}, "source must be a non-empty string"),
        ({"time": "2026-12-06 05:40"}, "time must be an RFC 3339 timestamp"),
        ({"time": "2026-02-30T05:40:00Z"}, "time must be an RFC 3339 timestamp"),
        ({"time": "2026-12-06T05:40:00"}, "time must be an RFC 3339 timestamp"),  # no offset
        ({"Bad_Name": "x"}, "'Bad_Name' is no valid attribute name"),
        ({"data_base64": "AA=="}, "data and data_base64 are exclusive"),
    ],
)
def test_the_check_names_what_breaks_the_spec(change: dict[str, object], problem: str) -> None:
    assert problems(cloudevent(RECORD) | change) == [problem]


@pytest.mark.parametrize("required", ["specversion", "id", "source", "type"])
def test_each_required_attribute_is_required(required: str) -> None:
    event = cloudevent(RECORD)
    del event[required]
    assert problems(event) == [f"{required} is required"]


def test_not_an_object_is_no_event() -> None:
    assert problems(["specversion", "1.0"]) == ["an event is a JSON object"]
