"""supatenant: a multi-tenant data layer for AI-assistant products on Supabase.

``Store`` (sync) and ``AsyncStore`` hold one repository per aggregate; open one with
``connect(dsn, ...)`` for psycopg or ``from_supabase(client, ...)`` for supabase-py.
"""

from supatenant._async.store import AsyncStore, AsyncUnitOfWork
from supatenant._edge import MAX_LIMIT, UNSET
from supatenant._sync.store import Store, UnitOfWork
from supatenant.auth import Identity, TokenVerifier
from supatenant.errors import (
    Conflict,
    DatabaseError,
    InvalidInput,
    InvalidReference,
    InvalidToken,
    NotFound,
    PermissionDenied,
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
    "AsyncStore",
    "AsyncUnitOfWork",
    "AsyncUsageRecorder",
    "Conflict",
    "Cursor",
    "DatabaseError",
    "Identity",
    "InvalidInput",
    "InvalidReference",
    "InvalidToken",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Scope",
    "Store",
    "SupatenantError",
    "Thread",
    "TokenVerifier",
    "Unavailable",
    "UnitOfWork",
    "UnitOfWorkEnded",
    "Unsupported",
    "UsageNotRecorded",
    "UsageRecorder",
]
