"""Keyset pagination, shared by every backend: pages end at a cursor, never at an offset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel

from supatenant.ops import AllOf, AnyOf, Cmp, Order

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort key (a timestamp, or a message's ``seq``) and id of its last row."""

    at: datetime | int
    id: UUID


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next: Cursor | None  # pass as ``after=`` for the following page; None on the last page
    total: int | None = None  # how many rows match in all, when asked for


def newest_first(column: str) -> tuple[Order, ...]:
    return (Order(column, descending=True), Order("id", descending=True))


def older_than(column: str, cursor: Cursor) -> AnyOf:
    """Rows after ``cursor`` in newest-first order: (column, id) < (cursor.at, cursor.id)."""
    at = cursor.at.isoformat() if isinstance(cursor.at, datetime) else cursor.at
    return AnyOf((Cmp(column, "lt", at), AllOf((Cmp(column, "eq", at), Cmp("id", "lt", str(cursor.id))))))


def page(rows: list[dict[str, Any]], model: type[M], limit: int, column: str, total: int | None) -> Page[M]:
    """A page from ``limit + 1`` fetched rows: the extra row only says whether more follow."""
    items = [model.model_validate(row) for row in rows[:limit]]
    more = len(rows) > limit
    key = items[-1].model_dump(include={column, "id"}) if more and items else None
    cursor = Cursor(key[column], key["id"]) if key is not None else None
    return Page(items, cursor, total)
