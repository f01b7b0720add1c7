"""Operations compiled to psycopg statements: identifiers through ``psycopg.sql``, values as parameters."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from supatenant.ops import (
    AllOf,
    AnyOf,
    Call,
    Cmp,
    Condition,
    Delete,
    Embed,
    Insert,
    Op,
    Order,
    Select,
    Update,
)

Statement = tuple[sql.Composed, list[Any]]

_BINARY = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "ilike": "ilike"}
_IS = {None: sql.SQL("null"), True: sql.SQL("true"), False: sql.SQL("false")}


def _param(value: Any) -> Any:
    # JSON-ready values: a dict or list is a json/jsonb value; strings reach typed columns as
    # untyped literals, so the server parses them exactly as PostgREST would
    return Jsonb(value) if isinstance(value, dict | list) else value


def _table(name: str) -> sql.Composable:
    return sql.Identifier("public", name)


def _cmp(c: Cmp, params: list[Any]) -> sql.Composable:
    column = sql.Identifier(c.column)
    if c.op == "is":
        return sql.SQL("{} is {}").format(column, _IS[c.value])
    if c.op == "in":
        if not c.value:
            return sql.SQL("false")
        params.extend(_param(v) for v in c.value)
        return sql.SQL("{} in ({})").format(column, sql.SQL(", ").join(sql.Placeholder() * len(c.value)))
    params.append(_param(c.value))
    if c.op == "wfts":
        return sql.SQL("to_tsvector('english', {}) @@ websearch_to_tsquery('english', %s)").format(column)
    return sql.SQL("{} {} %s").format(column, sql.SQL(_BINARY[c.op]))


def _condition(c: Condition | AllOf, params: list[Any]) -> sql.Composable:
    if isinstance(c, Cmp):
        return _cmp(c, params)
    joiner = " or " if isinstance(c, AnyOf) else " and "
    return sql.SQL("({})").format(sql.SQL(joiner).join(_condition(p, params) for p in c.parts))


def _where(conditions: tuple[Condition, ...], params: list[Any]) -> sql.Composable:
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(_condition(c, params) for c in conditions)


def _columns(columns: tuple[str, ...]) -> sql.Composable:
    """A named column list (what the app's models know), or ``*``."""
    return sql.SQL(", ").join(map(sql.Identifier, columns)) if columns else sql.SQL("*")


def _order(order: tuple[Order, ...], table: str | None = None) -> sql.Composable:
    if not order:
        return sql.SQL("")
    return sql.SQL(" order by ") + sql.SQL(", ").join(
        sql.SQL("{} desc" if o.descending else "{}").format(
            sql.Identifier(table, o.column) if table else sql.Identifier(o.column)
        )
        for o in order
    )


def _limit(limit: int | None) -> sql.Composable:
    return sql.SQL(" limit {}").format(sql.Literal(limit)) if limit is not None else sql.SQL("")


def select(op: Select) -> Statement:
    params: list[Any] = []
    query = sql.SQL("select {} from {}").format(_columns(op.columns), _table(op.table))
    query += _where(op.where, params) + _order(op.order)
    # with single, a second row means "not exactly one"
    query += _limit(2 if op.single else op.limit)
    if op.embed is not None:
        query = _embedded(query, op.embed)
    return query, params


def _embedded(parent: sql.Composable, embed: Embed) -> sql.Composed:
    """``parent``'s rows, each joined to its embedded rows (one statement, one snapshot):
    a row per embedded row, its columns named ``<table>.<column>``; :func:`nest` folds them."""
    child = sql.SQL("select {} from {} where {}").format(
        _columns(embed.columns),
        _table(embed.table),
        sql.SQL(" and ").join(
            sql.SQL("{} = {}").format(sql.Identifier(embed.table, mine), sql.Identifier("parent", theirs))
            for mine, theirs in embed.on
        ),
    )
    child += _order(embed.order, embed.table) + _limit(embed.limit)
    named = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(sql.Identifier("child", c), sql.Identifier(f"{embed.table}.{c}"))
        for c in embed.columns
    )
    return sql.SQL("select parent.*, {} from ({}) parent left join lateral ({}) child on true{}").format(
        named, parent, child, _order(embed.order, "child")
    )


def nest(op: Select, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of an embedding select folded back to one per parent, its embedded rows in a
    list under the embedded table's name (as PostgREST returns them)."""
    if op.embed is None:
        return rows
    prefix = f"{op.embed.table}."
    parents: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        own = {k: v for k, v in row.items() if not k.startswith(prefix)}
        key = tuple(own[theirs] for _, theirs in op.embed.on)  # what identifies the parent
        parent = parents.setdefault(key, {**own, op.embed.table: []})
        child = {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}
        if any(v is not None for v in child.values()):  # a parent with none: one row of nulls
            parent[op.embed.table].append(child)
    return list(parents.values())


def count(op: Select) -> Statement:
    params: list[Any] = []
    return sql.SQL("select count(*) as count from {}").format(_table(op.table)) + _where(
        op.where, params
    ), params


def insert(op: Insert) -> Statement:
    columns = list(dict.fromkeys(key for row in op.rows for key in row))
    params: list[Any] = []
    tuples = []
    for row in op.rows:
        values: list[sql.Composable] = []
        for column in columns:
            if column in row:
                params.append(_param(row[column]))
                values.append(sql.Placeholder())
            else:
                values.append(sql.DEFAULT)
        tuples.append(sql.SQL("({})").format(sql.SQL(", ").join(values)))
    query = sql.SQL("insert into {} ({}) values {} returning {}").format(
        _table(op.table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(tuples),
        _columns(op.columns),
    )
    return query, params


def update(op: Update) -> Statement:
    params = [_param(v) for v in op.values.values()]
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in op.values)
    query = sql.SQL("update {} set {}").format(_table(op.table), assignments)
    return query + _where(op.where, params) + sql.SQL(" returning {}").format(_columns(op.columns)), params


def delete(op: Delete) -> Statement:
    params: list[Any] = []
    query = sql.SQL("delete from {}").format(_table(op.table)) + _where(op.where, params)
    return query + sql.SQL(" returning {}").format(_columns(op.columns)), params


def call(op: Call) -> Statement:
    arguments = sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(k)) for k in op.args)
    function = sql.SQL("{}({})").format(_table(op.function), arguments)
    if op.returns == "value":
        return sql.SQL("select {} as value").format(function), [_param(v) for v in op.args.values()]
    return sql.SQL("select * from {}").format(function), [_param(v) for v in op.args.values()]


def statement(op: Op) -> Statement:
    if isinstance(op, Select):
        return select(op)
    if isinstance(op, Insert):
        return insert(op)
    if isinstance(op, Update):
        return update(op)
    if isinstance(op, Delete):
        return delete(op)
    return call(op)
