"""One error hierarchy for everything supatenant raises.

Database errors are keyed by SQLSTATE, which psycopg exposes as ``sqlstate`` and
PostgREST returns as ``code``, so every backend raises the same classes.
"""

from __future__ import annotations


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


class InvalidInput(DatabaseError):
    """A value was rejected by a check, a type or a function's validation (22xxx, 23514, 23502)."""


class InvalidReference(DatabaseError):
    """A referenced row does not exist in the caller's tenant (23503)."""


_BY_SQLSTATE: dict[str, type[DatabaseError]] = {
    "42501": PermissionDenied,
    "23505": Conflict,
    "23P01": Conflict,
    "23503": InvalidReference,
    "23514": InvalidInput,
    "23502": InvalidInput,
    "P0002": NotFound,
    "PGRST116": NotFound,
}


def class_for_sqlstate(sqlstate: str | None) -> type[DatabaseError]:
    """The error class for a SQLSTATE: exact match first, then by class (first two characters)."""
    if sqlstate is None:
        return DatabaseError
    exact = _BY_SQLSTATE.get(sqlstate)
    if exact is not None:
        return exact
    if sqlstate.startswith("22"):
        return InvalidInput
    return DatabaseError
