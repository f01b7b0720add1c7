"""Operations as data: what a repository asks for, before any backend runs it.

Repositories build these (pure, no I/O); :mod:`supatenant.backends._sql` turns one into a
psycopg statement and :mod:`supatenant.backends._rest` into a PostgREST request, so both
backends run the very same operation. Values are JSON-ready (``model_dump(mode="json")``
output): UUIDs, datetimes and decimals travel as strings, JSON columns as dicts/lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    """What a backend returns: rows as dicts, the match count when asked, or a scalar."""

    rows: list[dict[str, Any]]
    count: int | None = None
    value: Any = None


def eq(column: str, value: Json) -> Cmp:
    return Cmp(column, "eq", value)
