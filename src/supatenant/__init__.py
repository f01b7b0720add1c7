"""supatenant: a multi-tenant data layer for AI-assistant products on Supabase.

``Store`` (sync) and ``AsyncStore`` hold one repository per aggregate; open one with
``connect(dsn, ...)`` for psycopg or ``from_supabase(client, ...)`` for supabase-py.
"""

from supatenant._async.repositories.turns import AsyncMessageStream, Turn
from supatenant._async.store import AsyncStore, AsyncUnitOfWork
from supatenant._edge import MAX_LIMIT, UNSET
from supatenant._sync.repositories.turns import MessageStream
from supatenant._sync.store import Store, UnitOfWork
from supatenant.auth import Identity, TokenVerifier
from supatenant.errors import (
    Conflict,
    DatabaseError,
    IdempotencyConflict,
    InvalidInput,
    InvalidReference,
    InvalidToken,
    MessageClosed,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SupatenantError,
    Unavailable,
    UnitOfWorkEnded,
    Unsupported,
)
from supatenant.paging import Cursor, Page
from supatenant.recorder import AsyncUsageRecorder, UsageNotRecorded, UsageRecorder
from supatenant.results import Scope, Thread

__all__ = [
    "MAX_LIMIT",
    "UNSET",
    "AsyncMessageStream",
    "AsyncStore",
    "AsyncUnitOfWork",
    "AsyncUsageRecorder",
    "Conflict",
    "Cursor",
    "DatabaseError",
    "IdempotencyConflict",
    "Identity",
    "InvalidInput",
    "InvalidReference",
    "InvalidToken",
    "MessageClosed",
    "MessageStream",
    "NotFound",
    "Page",
    "PermissionDenied",
    "QuotaExceeded",
    "Scope",
    "Store",
    "SupatenantError",
    "Thread",
    "TokenVerifier",
    "Turn",
    "Unavailable",
    "UnitOfWork",
    "UnitOfWorkEnded",
    "Unsupported",
    "UsageNotRecorded",
    "UsageRecorder",
]
