"""One error hierarchy for everything supatenant raises.

Database errors are keyed by SQLSTATE, which psycopg exposes as ``sqlstate`` and
PostgREST returns as ``code``, so every backend raises the same classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict


class SupatenantError(Exception):
    """Base class of every error supatenant raises."""


class SetupError(SupatenantError):
    """Bringing a database up failed; the message says what to do."""


class DatabaseUnreachable(SetupError):
    """No PostgreSQL server answered at the given URL."""


class CliMissing(SetupError):
    """The Supabase CLI is not installed where supatenant looks for it."""


class MigrationFailed(SetupError):
    """`supabase db push` failed; the failing migration was rolled back as a whole."""


class Unavailable(SupatenantError):
    """The database or the Data API could not be reached, or the connection broke."""


class Unsupported(SupatenantError):
    """The backend cannot do this (a multi-statement transaction over PostgREST, say)."""


class UnitOfWorkEnded(SupatenantError):
    """A unit of work was used after its ``with`` block: its transaction is over and its
    connection is back in the pool, so every call on it is refused."""


class InvalidToken(SupatenantError):
    """An access token is not a JWT, or is expired, for another audience or issuer, or not
    signed by the project's keys: the caller is not authenticated (HTTP 401)."""


class DatabaseError(SupatenantError):
    """An error raised by the database, carrying its SQLSTATE."""

    sqlstate: str | None

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class NotFound(DatabaseError):
    """The row does not exist, or the caller may not see it."""


class Conflict(DatabaseError):
    """A unique constraint or exclusion was violated (23505, 23P01)."""


class PermissionDenied(DatabaseError):
    """Row-level security or a privilege refused the action (42501)."""


class FieldError(TypedDict):
    """One argument or field at fault: where (``"limit"``, ``"metadata.tags"``), what is wrong,
    and pydantic's error type (``"greater_than_equal"``, ``"uuid_parsing"``, ...)."""

    field: str
    message: str
    type: str


class InvalidInput(SupatenantError):
    """A value was rejected: by the models before anything was sent (``details`` names the
    fields, ``sqlstate`` is None), or by the database (:class:`RejectedInput`)."""

    sqlstate: str | None = None

    def __init__(self, message: str, details: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.details: tuple[FieldError, ...] = tuple(details)


class RejectedInput(InvalidInput, DatabaseError):
    """The database rejected a value: a check, a type or a function's validation (22xxx,
    23514, 23502), or a program limit (54xxx: a search query too complex, say)."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        DatabaseError.__init__(self, message, sqlstate)
        self.details = ()


class InvalidReference(DatabaseError):
    """A referenced row does not exist in the caller's tenant (23503)."""


class QuotaExceeded(DatabaseError):
    """The tenant's plan limit (monthly tokens or cost, replies per day, members or
    conversations) is reached; nothing was written (STQ01)."""


class MessageClosed(Conflict):
    """The message is complete, failed or cancelled: it takes no more text, and closing it
    again differently is refused (STC01)."""


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with a different request (STK01)."""


_BY_SQLSTATE: dict[str, type[DatabaseError]] = {
    "STQ01": QuotaExceeded,
    "STC01": MessageClosed,
    "STK01": IdempotencyConflict,
    "42501": PermissionDenied,
    "23505": Conflict,
    "23P01": Conflict,
    "23503": InvalidReference,
    "23514": RejectedInput,
    "23502": RejectedInput,
    "P0002": NotFound,
    "PGRST116": NotFound,  # PostgREST: a single row was asked for and none (or several) matched
    "PGRST301": PermissionDenied,  # PostgREST: the JWT could not be decoded or verified
    "PGRST302": PermissionDenied,  # PostgREST: no credentials where they are required
    "PGRST303": PermissionDenied,  # PostgREST: the JWT's claims are invalid (expired, say)
}


def class_for_sqlstate(sqlstate: str | None) -> type[DatabaseError]:
    """The error class for a SQLSTATE: exact match first, then by class (first two characters)."""
    if sqlstate is None:
        return DatabaseError
    exact = _BY_SQLSTATE.get(sqlstate)
    if exact is not None:
        return exact
    if sqlstate.startswith(("22", "54")):  # data exceptions; program limits (a query too complex)
        return RejectedInput
    return DatabaseError


def database_error(message: str, sqlstate: str | None, what: str | None = None) -> DatabaseError:
    """The typed error for a database or PostgREST error, its message put in the caller's terms."""
    cls = class_for_sqlstate(sqlstate)
    if cls is NotFound and what:
        text = f"{what} not found, or not visible to you"
    elif cls is PermissionDenied and what:
        text = f"not allowed: {what}: {message}"
    elif what:
        text = f"{what}: {message}"
    else:
        text = message
    return cls(text, sqlstate)
