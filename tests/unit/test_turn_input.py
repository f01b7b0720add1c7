"""Turn input checked before any I/O, and the turn errors mapped by SQLSTATE."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from supatenant import Conflict, IdempotencyConflict, InvalidInput, MessageClosed, QuotaExceeded
from supatenant._sync.repositories.turns import usage_args
from supatenant.errors import database_error


def test_usage_becomes_function_arguments() -> None:
    assert usage_args(10, 5, "0.000125", 300) == {
        "p_prompt_tokens": 10,
        "p_completion_tokens": 5,
        "p_cost_usd": Decimal("0.000125"),
        "p_latency_ms": 300,
    }
    assert usage_args(None, None, None, None) == {}


@pytest.mark.parametrize(
    "usage",
    [
        (-1, 0, 0, None),
        (0, 1.5, 0, None),
        (True, 0, 0, None),
        (0, 0, "0.0000001", None),
        (0, 0, 0.25, None),
        (0, 0, "-1", None),
        (0, 0, "NaN", None),
        (0, 0, "lots", None),
        (2**31, 0, 0, None),
        (0, 0, 0, -3),
    ],
)
def test_bad_usage_is_refused(usage: tuple[Any, Any, Any, Any]) -> None:
    with pytest.raises(InvalidInput):
        usage_args(*usage)


def test_turn_errors_are_typed_by_sqlstate() -> None:
    assert type(database_error("over", "STQ01")) is QuotaExceeded
    closed = database_error("closed", "STC01")
    assert type(closed) is MessageClosed
    assert isinstance(closed, Conflict)
    assert type(database_error("other turn", "STK01")) is IdempotencyConflict
