from __future__ import annotations

import pytest

from supatenant import errors


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("42501", errors.PermissionDenied),
        ("23505", errors.Conflict),
        ("23503", errors.InvalidReference),
        ("23514", errors.RejectedInput),
        ("22023", errors.RejectedInput),  # any class-22 data exception
        ("22P02", errors.RejectedInput),
        ("PGRST116", errors.NotFound),
        ("54000", errors.RejectedInput),  # a program limit: a search query too complex
        ("40001", errors.DatabaseError),
        (None, errors.DatabaseError),
    ],
)
def test_class_for_sqlstate(sqlstate: str | None, expected: type[errors.DatabaseError]) -> None:
    assert errors.class_for_sqlstate(sqlstate) is expected


def test_every_error_is_a_supatenant_error() -> None:
    for cls in (
        errors.PermissionDenied,
        errors.MigrationFailed,
        errors.CliMissing,
        errors.DatabaseUnreachable,
    ):
        assert issubclass(cls, errors.SupatenantError)


def test_each_error_answers_with_its_http_status() -> None:
    from supatenant.fastapi import status_for

    assert status_for(errors.QuotaExceeded("over", "STQ01")) == 429
    assert status_for(errors.MessageClosed("closed", "STC01")) == 409
    assert status_for(errors.NotFound("gone")) == 404
    assert status_for(errors.InvalidInput("bad")) == 422
    assert status_for(errors.RejectedInput("bad", "23514")) == 422
    assert status_for(errors.InvalidToken("bad")) == 401
