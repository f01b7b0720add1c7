"""supatenant: a multi-tenant data layer for AI-assistant products on Supabase.

``Store`` (sync) and ``AsyncStore`` hold one repository per aggregate; open one with
``connect(dsn, ...)`` for psycopg or ``from_supabase(client, ...)`` for supabase-py.

The names below load when first used: ``import supatenant`` (and so every command of the
``supatenant`` CLI) pays only for the errors, not for the stores and their models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from supatenant._async.repositories.turns import AsyncMessageStream, Turn
    from supatenant._async.store import AsyncStore, AsyncUnitOfWork
    from supatenant._edge import MAX_LIMIT, UNSET
    from supatenant._sync.repositories.turns import MessageStream
    from supatenant._sync.store import Store, UnitOfWork
    from supatenant.auth import Identity, TokenVerifier
    from supatenant.paging import Cursor, Page
    from supatenant.recorder import AsyncUsageRecorder, UsageNotRecorded, UsageRecorder
    from supatenant.results import Scope, Thread

# where each lazily loaded name lives
_LAZY = {
    "AsyncMessageStream": "supatenant._async.repositories.turns",
    "Turn": "supatenant._async.repositories.turns",
    "AsyncStore": "supatenant._async.store",
    "AsyncUnitOfWork": "supatenant._async.store",
    "MAX_LIMIT": "supatenant._edge",
    "UNSET": "supatenant._edge",
    "MessageStream": "supatenant._sync.repositories.turns",
    "Store": "supatenant._sync.store",
    "UnitOfWork": "supatenant._sync.store",
    "Identity": "supatenant.auth",
    "TokenVerifier": "supatenant.auth",
    "Cursor": "supatenant.paging",
    "Page": "supatenant.paging",
    "AsyncUsageRecorder": "supatenant.recorder",
    "UsageNotRecorded": "supatenant.recorder",
    "UsageRecorder": "supatenant.recorder",
    "Scope": "supatenant.results",
    "Thread": "supatenant.results",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'supatenant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
