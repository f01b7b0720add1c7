"""supatenant: a multi-tenant data layer for AI-assistant products on Supabase.

``Store`` (sync) and ``AsyncStore`` hold one repository per aggregate; open one with
``connect(dsn, ...)`` for psycopg or ``from_supabase(client, ...)`` for supabase-py.
"""

from supatenant._async.repositories.conversations import Thread
from supatenant._async.repositories.turns import AsyncMessageStream, Turn
from supatenant._async.store import AsyncStore, AsyncUnitOfWork, Scope
from supatenant._sync.repositories.turns import MessageStream
from supatenant._sync.store import Store, UnitOfWork
from supatenant.auth import Identity
from supatenant.errors import (
    Conflict,
    DatabaseError,
    IdempotencyConflict,
    InvalidInput,
    InvalidReference,
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

__all__ = [
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
    "Turn",
    "Unavailable",
    "UnitOfWork",
    "UnitOfWorkEnded",
    "Unsupported",
    "UsageNotRecorded",
    "UsageRecorder",
]
