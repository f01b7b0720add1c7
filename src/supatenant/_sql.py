"""Operations compiled to psycopg statements: identifiers through ``psycopg.sql``, values as parameters.

An operation's text depends on its shape only (tables, columns, operators, which values are
given), not on its values: it is composed once per shape and kept, so a call pays for
collecting its parameters, not for composing and rendering its SQL again.

:data:`~supatenant.ops.CALLER_TENANT` and :data:`~supatenant.ops.CALLER_MEMBER` are no
parameters: they become ``current_setting(...)::uuid``, read from the settings that the
membership lookup (:func:`lookup`) sets earlier in the same transaction. Until it has set
them they are blank, and reading them fails, so nothing runs without the caller's membership.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from supatenant.ops import (
    CALLER,
    AllOf,
    AnyOf,
    Call,
    Cmp,
    Condition,
    Delete,
    Embed,
    Insert,
    Lookup,
    Op,
    Order,
    Select,
    Update,
)

Statement = tuple[bytes, list[Any]]
Composed = tuple[sql.Composable, list[Any]]

_BINARY = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "ilike": "ilike"}
_IS = {None: sql.SQL("null"), True: sql.SQL("true"), False: sql.SQL("false")}

# the statement text of each shape seen; shapes are few (one per call site, limit and list
# length), and the rare process that meets too many starts again
_TEXTS: dict[Hashable, tuple[bytes, bool]] = {}
_MAX_TEXTS = 2048


def _param(value: Any) -> Any:
    # JSON-ready values: a dict or list is a json/jsonb value; strings reach typed columns as
    # untyped literals, so the server parses them exactly as PostgREST would
    return Jsonb(value) if isinstance(value, dict | list) else value


def _caller(value: Any) -> str | None:
    """The setting a value stands for (the caller's tenant or member id), else None."""
    return CALLER[value].setting if isinstance(value, str) and value in CALLER else None


def _value(value: Any, params: list[Any]) -> sql.Composable:
    if (setting := _caller(value)) is not None:
        return sql.SQL("current_setting({})::uuid").format(sql.Literal(setting))
    params.append(_param(value))
    return sql.Placeholder()


def _table(name: str) -> sql.Composable:
    return sql.Identifier("public", name)


def _cmp(c: Cmp, params: list[Any]) -> sql.Composable:
    column = sql.Identifier(c.column)
    if c.op == "is":
        return sql.SQL("{} is {}").format(column, _IS[c.value])
    if c.op == "in":
        if not c.value:
            return sql.SQL("false")
        return sql.SQL("{} in ({})").format(column, sql.SQL(", ").join(_value(v, params) for v in c.value))
    value = _value(c.value, params)
    if c.op == "wfts":
        match = "to_tsvector('english', {}) @@ websearch_to_tsquery('english', {})"
        return sql.SQL(match).format(column, value)
    return sql.SQL("{} {} {}").format(column, sql.SQL(_BINARY[c.op]), value)


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


def _select(op: Select) -> Composed:
    params: list[Any] = []
    query = sql.SQL("select {} from {}").format(_columns(op.columns), _table(op.table))
    query += _where(op.where, params) + _order(op.order)
    # with single, a second row means "not exactly one"
    query += _limit(2 if op.single else op.limit)
    if op.embed is not None:
        query = _embedded(query, op.embed, params)
    return query, params


def _embedded(parent: sql.Composable, embed: Embed, params: list[Any]) -> sql.Composed:
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
    if embed.where:  # its own columns: the lateral select's table comes first in scope
        child += sql.SQL(" and ") + sql.SQL(" and ").join(_condition(c, params) for c in embed.where)
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
    if op.embed is None or not rows:
        return rows
    name = op.embed.table
    prefix = f"{name}."
    names = list(rows[0])  # the parent's columns, then the embedded ones, prefixed
    split = next(i for i, column in enumerate(names) if column.startswith(prefix))
    own_names, child_names = names[:split], [column[len(prefix) :] for column in names[split:]]
    identity = [own_names.index(theirs) for _, theirs in op.embed.on]  # what tells parents apart
    parents: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        values = list(row.values())
        key = tuple(values[i] for i in identity)
        parent = parents.get(key)
        if parent is None:
            parent = parents[key] = {**dict(zip(own_names, values[:split], strict=True)), name: []}
        child = values[split:]
        if any(v is not None for v in child):  # a parent with none: one row of nulls
            parent[name].append(dict(zip(child_names, child, strict=True)))
    return list(parents.values())


def _count(op: Select) -> Composed:
    params: list[Any] = []
    return sql.SQL("select count(*) as count from {}").format(_table(op.table)) + _where(
        op.where, params
    ), params


def _insert(op: Insert) -> Composed:
    columns = list(dict.fromkeys(key for row in op.rows for key in row))
    params: list[Any] = []
    tuples = []
    for row in op.rows:
        values = [_value(row[column], params) if column in row else sql.DEFAULT for column in columns]
        tuples.append(sql.SQL("({})").format(sql.SQL(", ").join(values)))
    query = sql.SQL("insert into {} ({}) values {} returning {}").format(
        _table(op.table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(tuples),
        _columns(op.columns),
    )
    return query, params


def _update(op: Update) -> Composed:
    params: list[Any] = []
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), _value(v, params)) for k, v in op.values.items()
    )
    query = sql.SQL("update {} set {}").format(_table(op.table), assignments)
    return query + _where(op.where, params) + sql.SQL(" returning {}").format(_columns(op.columns)), params


def _delete(op: Delete) -> Composed:
    params: list[Any] = []
    query = sql.SQL("delete from {}").format(_table(op.table)) + _where(op.where, params)
    return query + sql.SQL(" returning {}").format(_columns(op.columns)), params


def _call(op: Call) -> Composed:
    params: list[Any] = []
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), _value(v, params)) for k, v in op.args.items()
    )
    function = sql.SQL("{}({})").format(_table(op.function), arguments)
    if op.returns == "value":
        return sql.SQL("select {} as value").format(function), params
    return sql.SQL("select * from {}").format(function), params


def _lookup(op: Select) -> Composed:
    """The membership ``op`` finds (:meth:`Lookup.select`), setting the transaction's
    ``supatenant.tenant_id`` and ``supatenant.member_id`` to its ids when it finds exactly
    one; they stay blank otherwise (``ACT_AS`` blanks them), so a statement reading them fails."""
    inner, params = _select(op)
    query = sql.SQL(
        "select {columns} from (select *, count(*) over () as found from ({inner}) m) m"
        " where set_config('supatenant.tenant_id', case found when 1 then tenant_id::text else '' end, true)"
        " is not null"
        " and set_config('supatenant.member_id', case found when 1 then id::text else '' end, true)"
        " is not null"
    ).format(columns=_columns(op.columns), inner=inner)
    return query, params


# -- shapes: what decides an operation's text, and its parameters in the order the text takes them


def _slot(value: Any, params: list[Any]) -> str | None:
    if (setting := _caller(value)) is None:
        params.append(_param(value))
    return setting


def _cmp_shape(c: Condition | AllOf, params: list[Any]) -> Hashable:
    if isinstance(c, Cmp):
        if c.op == "is":
            return (c.column, c.op, c.value)
        if c.op == "in":
            return (c.column, c.op, tuple(_slot(v, params) for v in c.value))
        return (c.column, c.op, _slot(c.value, params))
    return (type(c).__name__, tuple(_cmp_shape(p, params) for p in c.parts))


def _where_shape(conditions: tuple[Condition, ...], params: list[Any]) -> Hashable:
    return tuple(_cmp_shape(c, params) for c in conditions)


def _shape(op: Op, params: list[Any]) -> Hashable:
    """What ``op``'s text depends on; its parameters are appended to ``params``."""
    if isinstance(op, Select):
        where = _where_shape(op.where, params)
        embed = op.embed
        if embed is not None:  # its conditions' parameters follow the row's (as in the text)
            embedded = (embed.table, embed.on, embed.columns, embed.order, embed.limit)
            return (
                "select",
                op.table,
                where,
                op.order,
                op.limit,
                op.single,
                op.columns,
                embedded,
                _where_shape(embed.where, params),
            )
        return ("select", op.table, where, op.order, op.limit, op.single, op.columns)
    if isinstance(op, Insert):
        columns = tuple(dict.fromkeys(key for row in op.rows for key in row))
        rows = tuple(tuple(_slot(row[c], params) if c in row else False for c in columns) for row in op.rows)
        return ("insert", op.table, columns, rows, op.columns)
    if isinstance(op, Update):
        values = tuple((k, _slot(v, params)) for k, v in op.values.items())
        return ("update", op.table, values, _where_shape(op.where, params), op.columns)
    if isinstance(op, Delete):
        return ("delete", op.table, _where_shape(op.where, params), op.columns)
    args = tuple((k, _slot(v, params)) for k, v in op.args.items())
    return ("call", op.function, args, op.returns)


def _plain(params: list[Any]) -> list[Any]:
    return [p.obj if isinstance(p, Jsonb) else p for p in params]


def _compiled(kind: str, op: Op, compose: Callable[[Any], Composed]) -> tuple[bytes, list[Any], bool]:
    params: list[Any] = []
    key = (kind, _shape(op, params))
    known = _TEXTS.get(key)
    if known is None:
        query, composed = compose(op)
        if _plain(composed) != _plain(params):  # the two walks disagree: a bug here, never silent
            raise RuntimeError(f"statement parameters out of order for {op!r}")
        text = query.as_bytes(None)
        known = (text, b"current_setting('supatenant." in text)
        if len(_TEXTS) >= _MAX_TEXTS:
            _TEXTS.clear()
        _TEXTS[key] = known
    return known[0], params, known[1]


_COMPOSE: dict[type, Callable[[Any], Composed]] = {
    Select: _select,
    Insert: _insert,
    Update: _update,
    Delete: _delete,
    Call: _call,
}


def compile_op(op: Op) -> tuple[bytes, list[Any], bool]:
    """``op``'s statement and parameters, and whether it reads the caller's ids (then the
    membership lookup must run before it, in the same transaction)."""
    return _compiled("op", op, _COMPOSE[type(op)])


def statement(op: Op) -> Statement:
    query, params, _ = compile_op(op)
    return query, params


def count(op: Select) -> Statement:
    query, params, _ = _compiled("count", op, _count)
    return query, params


def lookup(found: Lookup) -> Statement:
    query, params, _ = _compiled("lookup", found.select(), _lookup)
    return query, params
