"""Arguments checked by hand (not by pydantic) name the field at fault in InvalidInput.details,
with pydantic's error types, as every other bad argument does."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest

from supatenant import InvalidInput, UsageRecorder
from supatenant._edge import whole_number
from supatenant._sync.repositories.turns import MessageStream, usage_args
from supatenant.errors import FieldError
from supatenant.governance.plan import Subject


def details(e: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(d["field"], d["type"]) for d in e.value.details]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ((-1, 0, 0, None), ("prompt_tokens", "greater_than_equal")),
        ((0, 1.5, 0, None), ("completion_tokens", "int_type")),
        ((True, 0, 0, None), ("prompt_tokens", "int_type")),
        ((0, "5", 0, None), ("completion_tokens", "int_type")),
        ((2**31, 0, 0, None), ("prompt_tokens", "less_than_equal")),
        ((0, 0, 0, -3), ("latency_ms", "greater_than_equal")),
        ((0, 0, "0.0000001", None), ("cost_usd", "money")),
        ((0, 0, 0.25, None), ("cost_usd", "money")),
        ((0, 0, "lots", None), ("cost_usd", "money")),
    ],
)
def test_bad_usage_names_its_field(usage: tuple[Any, Any, Any, Any], expected: tuple[str, str]) -> None:
    with pytest.raises(InvalidInput) as e:
        usage_args(*usage, what="set usage")
    assert details(e) == [expected]
    assert e.value.details[0]["message"]
    assert str(e.value).startswith(("set usage: ", "cost_usd: "))


def test_a_whole_number_is_checked_against_its_bounds() -> None:
    assert whole_number("n", 5, "x", low=1, high=5) == 5
    for value, kind in (
        (0, "greater_than_equal"),
        (6, "less_than_equal"),
        (2.0, "int_type"),
        (False, "int_type"),
    ):
        with pytest.raises(InvalidInput) as e:
            whole_number("n", value, "x", low=1, high=5)
        assert details(e) == [("n", kind)]
        assert str(e.value).startswith("x: n: ")


@pytest.mark.parametrize(
    ("flush", "expected"),
    [
        ({"flush_bytes": 0}, ("flush_bytes", "greater_than_equal")),
        ({"flush_bytes": 1.5}, ("flush_bytes", "int_type")),
        ({"flush_seconds": -0.1}, ("flush_seconds", "greater_than_equal")),
        ({"flush_seconds": float("nan")}, ("flush_seconds", "greater_than_equal")),
        ({"flush_seconds": "soon"}, ("flush_seconds", "float_type")),
    ],
)
def test_a_stream_refuses_bad_flush_settings_by_name(
    flush: dict[str, Any], expected: tuple[str, str]
) -> None:
    with pytest.raises(InvalidInput) as e:
        MessageStream(cast(Any, None), {}, **flush)
    assert details(e) == [expected]
    MessageStream(cast(Any, None), {}, flush_bytes=1, flush_seconds=0)  # the bounds themselves pass


def test_a_stream_refuses_usage_by_name_before_any_io() -> None:
    stream = MessageStream(cast(Any, None), {})
    with pytest.raises(InvalidInput) as e:
        stream.set_usage(prompt_tokens=-4)
    assert details(e) == [("prompt_tokens", "greater_than_equal")]


def test_exporting_a_member_and_a_conversation_at_once_names_both() -> None:
    with pytest.raises(InvalidInput) as e:
        Subject.of(uuid.uuid4(), member_id=uuid.uuid4(), conversation_id=uuid.uuid4())
    assert details(e) == [("member_id", "exclusive"), ("conversation_id", "exclusive")]
    assert Subject.of(uuid.uuid4(), member_id=uuid.uuid4()).kind == "member"


@pytest.mark.parametrize("attempts", [0, -1, True, 1.5])
def test_a_recorder_needs_at_least_one_attempt(attempts: Any) -> None:
    with pytest.raises(InvalidInput) as e:
        UsageRecorder(cast(Any, None), max_attempts=attempts)
    assert [d["field"] for d in e.value.details] == ["max_attempts"]
    assert isinstance(e.value.details[0], dict)
    assert set(e.value.details[0]) == set(FieldError.__annotations__)
