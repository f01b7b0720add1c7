"""Operations as data: what a repository asks for, before any backend runs it.

Repositories build these (pure, no I/O); :mod:`supatenant.backends._sql` turns one into a
psycopg statement and :mod:`supatenant.backends._rest` into a PostgREST request, so both
backends run the very same operation. Values are JSON-ready (``model_dump(mode="json")``
output): UUIDs, datetimes and decimals travel as strings, JSON columns as dicts/lists.

A store made per request does not know its caller's membership yet. Rather than look it up
first (a round trip of its own), its repositories write :data:`CALLER_TENANT` and
:data:`CALLER_MEMBER` where the ids go, and the psycopg backend runs the membership lookup
(:class:`Lookup`) in the same round trip as the operation: the lookup sets two settings of
the transaction, and the operation reads them server-side. The supabase-py backend cannot
chain requests: there the store looks the membership up first, and no operation names the
caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID, uuid4

from supatenant.errors import FieldError, InvalidInput, NotFound, SupatenantError

Operator = Literal["eq", "neq", "lt", "lte", "gt", "gte", "is", "ilike", "in", "wfts"]
Json = Any


@dataclass(frozen=True)
class Cmp:
    """``column <op> value``; ``wfts`` is a web-search full-text match in English."""

    column: str
    op: Operator
    value: Json


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Cmp, ...]


@dataclass(frozen=True)
class AnyOf:
    """Any of its parts holds; a part is a comparison or a conjunction."""

    parts: tuple[Cmp | AllOf, ...]


Condition = Cmp | AnyOf


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class Embed:
    """Rows of ``table`` that belong to each selected row, read by the same statement (so in
    the same snapshot) and returned in a list under the key ``table``: PostgREST's resource
    embedding. ``on`` pairs each of its columns with the selected row's column it refers to."""

    table: str
    on: tuple[tuple[str, str], ...]
    columns: tuple[str, ...]
    order: tuple[Order, ...] = ()
    limit: int | None = None
    where: tuple[Condition, ...] = ()  # which of them, besides belonging to the row


@dataclass(frozen=True)
class Select:
    table: str
    where: tuple[Condition, ...] = ()
    order: tuple[Order, ...] = ()
    limit: int | None = None
    single: bool = False  # exactly one row, else NotFound
    count: bool = False  # also report how many rows match, ignoring limit
    columns: tuple[str, ...] = ()  # the columns read; () reads all
    embed: Embed | None = None  # related rows read with each row, under the key embed.table


@dataclass(frozen=True)
class Insert:
    table: str
    rows: tuple[dict[str, Json], ...]
    columns: tuple[str, ...] = ()  # the columns returned; () returns all


@dataclass(frozen=True)
class Update:
    table: str
    values: dict[str, Json]
    where: tuple[Condition, ...]
    columns: tuple[str, ...] = ()  # the columns returned; () returns all


@dataclass(frozen=True)
class Delete:
    table: str
    where: tuple[Condition, ...]
    columns: tuple[str, ...] = ()  # the columns returned; () returns all


@dataclass(frozen=True)
class Call:
    """A function of ``public``, called with named arguments (PostgREST's ``/rpc``).

    ``returns``: ``rows`` for a set, ``row`` for one composite, ``value`` for a scalar.
    """

    function: str
    args: dict[str, Json] = field(default_factory=dict)
    returns: Literal["rows", "row", "value"] = "rows"


Op = Select | Insert | Update | Delete | Call


@dataclass(frozen=True)
class Result:
    """What a backend returns: rows as dicts, the match count when asked, or a scalar; and
    the caller's membership when a :class:`Lookup` ran with the operation."""

    rows: list[dict[str, Any]]
    count: int | None = None
    value: Any = None
    member: dict[str, Any] | None = None


def eq(column: str, value: Json) -> Cmp:
    return Cmp(column, "eq", value)


class Caller(UUID):
    """The caller's tenant or member id, not known yet: the database reads it from the
    transaction's ``setting``, which the membership lookup sets (see the module's text).

    It is a UUID, so it goes wherever an id does (models validate it, ``str`` gives the
    text an operation carries); its value is random, drawn once per process, so no id a
    caller passes is ever taken for it.
    """

    __slots__ = ("setting",)
    setting: str

    def __init__(self, setting: str) -> None:
        super().__init__(int=uuid4().int)
        object.__setattr__(self, "setting", setting)

    def __repr__(self) -> str:
        return f"Caller({self.setting!r})"


CALLER_TENANT = Caller("supatenant.tenant_id")
CALLER_MEMBER = Caller("supatenant.member_id")
CALLER = {str(c): c for c in (CALLER_TENANT, CALLER_MEMBER)}  # as operations carry them: text


@dataclass(frozen=True)
class Lookup:
    """The signed-in user's active membership (in ``tenant_id`` when one was chosen), found as
    that user, so RLS decides: the store's ``me()``, and what fills :data:`CALLER_TENANT` and
    :data:`CALLER_MEMBER` in an operation run with it."""

    auth_user_id: UUID
    tenant_id: UUID | None
    columns: tuple[str, ...]  # the membership's columns (the Member model's)

    def select(self) -> Select:
        where: tuple[Condition, ...] = (eq("auth_id", str(self.auth_user_id)), Cmp("is_active", "is", True))
        if self.tenant_id is not None:
            where += (eq("tenant_id", str(self.tenant_id)),)
        return Select("users", where, limit=2, columns=self.columns)  # a second row: several

    def refusal(self, rows: Sequence[dict[str, Any]]) -> SupatenantError | None:
        """Why ``rows`` (what :meth:`select` found) name no single membership; None when they do."""
        if not rows:
            return NotFound(f"user {self.auth_user_id} has no active membership you can see", "PGRST116")
        if len(rows) > 1:
            message = "this user belongs to several tenants: pass tenant_id to choose one"
            detail = FieldError(field="tenant_id", message=message, type="missing")
            return InvalidInput(f"your membership: tenant_id: {message}", [detail])
        return None
