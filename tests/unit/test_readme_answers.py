"""The rule the README test checks answers by (``tests/readme_answers.py``): a JSON body shown
in the README has the real answer's shape, with ``...`` only where it says so."""

from __future__ import annotations

import pytest

from tests.readme_answers import differences, header_differences, parse, split_response

# GET / as the service answers it: its links nested.
ROOT_ANSWER = {
    "name": "Stockroom",
    "version": "0.1.0",
    "links": {"docs": "/docs", "redoc": "/redoc", "health_ready": "/health/ready"},
}
ORDER = {
    "id": 1,
    "status": "placed",
    "lines": [{"sku": "CUP-01", "quantity": 2, "unit_price": "8.00", "total": "16.00"}],
    "total": "16.00",
    "created_at": "2026-12-06T04:57:10.443597Z",
}


def shown(text: str) -> object:
    return parse(text).body


def test_a_flat_shape_is_not_the_nested_answer() -> None:
    """What the README showed before issue 24: every value is in the answer somewhere, but
    not where the README put it."""
    flat = shown(
        '200 {"name":"Stockroom","docs":"/docs","redoc":"/redoc","health_ready":"/health/ready"}'
    )
    found = differences(flat, ROOT_ANSWER)
    assert "$: no key 'docs' in the answer" in found
    assert any("also has ['links', 'version']" in line for line in found)


def test_the_nested_shape_with_its_volatile_value_marked_matches() -> None:
    text = (
        '200 {"name": "Stockroom", "version": ..., "links": {"docs": "/docs", "redoc": "/redoc",'
        ' "health_ready": "/health/ready"}} and some prose'
    )
    assert differences(shown(text), ROOT_ANSWER) == []


def test_an_unmarked_missing_key_is_a_difference_and_dots_allow_it() -> None:
    assert differences(shown('201 {"id": 1, "status": "placed"}'), ORDER) != []
    assert differences(shown('201 {"id": 1, "status": "placed", ...}'), ORDER) == []


def test_values_are_compared_as_json_text() -> None:
    """A price shown as a number is not the string the service answers, nor 1 for true."""
    assert differences(shown('201 {"total": 16.0, ...}'), ORDER) == [
        '$.total: shown 16.0, the answer has "16.00"'
    ]
    assert differences(shown('200 {"ok": 1}'), {"ok": True}) != []


def test_a_field_in_the_wrong_place_is_a_difference() -> None:
    """Issue 24: the README showed an order's line fields on the order itself."""
    flat = shown('201 {"id": 1, "sku": "CUP-01", "quantity": 2, ...}')
    assert differences(flat, ORDER) == [
        "$: no key 'sku' in the answer",
        "$: no key 'quantity' in the answer",
    ]
    nested = shown('201 {"id": 1, "lines": [{"sku": "CUP-01", "quantity": 2, ...}], ...}')
    assert differences(nested, ORDER) == []


def test_lists_keep_their_length_unless_they_end_with_dots() -> None:
    two = [{"id": 1}, {"id": 2}]
    assert differences(shown('200 [{"id": 1}]'), two) == ["$: shown 1 members, the answer has 2"]
    assert differences(shown('200 [{"id": 1}, ...]'), two) == []
    assert differences(shown('200 [{"id": 1}, {"id": 2}, {"id": 3}, ...]'), two) != []


def test_dots_inside_a_string_are_text() -> None:
    assert differences(shown('200 {"detail": "..."}'), {"detail": "gone"}) != []


def test_headers_are_matched_by_name_in_any_case_and_dots_in_values() -> None:
    answer = parse(
        '200 Link: <http://h/items/?limit=2&cursor=...>; rel="next"\nX-Total-Count: 3\n[...]'
    )
    real = [("link", '<http://h/items/?limit=2&cursor=abc>; rel="next"'), ("x-total-count", "3")]
    assert header_differences(answer.headers, real) == []
    assert header_differences(answer.headers, real[1:]) != []  # no Link
    assert header_differences([("X-Total-Count", "4")], real) != []


def test_an_answer_without_json_shows_no_body() -> None:
    answer = parse("403 shipping takes an admin")
    assert (answer.status, answer.headers, answer.shows_body) == (403, [], False)
    assert parse("").status is None


def test_curl_i_output_is_split_into_head_and_body() -> None:
    output = 'HTTP/1.1 201 Created\r\nidempotent-replayed: true\r\n\r\n{"id": 1}'
    assert split_response(output) == ([("idempotent-replayed", "true")], '{"id": 1}')


def test_an_unclosed_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not closed"):
        parse('200 {"id": 1')
