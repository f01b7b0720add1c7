"""Operations compiled to postgrest-py request builders (the PostgREST client inside supabase-py).

The sync and async builders share their method names, so one function prepares either;
nothing is sent until the caller executes the builder. Their types differ, hence ``Any``.
"""

from __future__ import annotations

from typing import Any

from postgrest.types import CountMethod, ReturnMethod

from supatenant.ops import AllOf, AnyOf, Call, Cmp, Condition, Delete, Insert, Op, Select, Update


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quoted(value: Any) -> str:
    # inside or=(...) the characters , . : ( ) are syntax; a double-quoted value is literal
    escaped = _text(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _tree(c: Cmp | AllOf | AnyOf) -> str:
    if isinstance(c, Cmp):
        if c.op in ("in", "wfts"):
            raise ValueError(f"{c.op} is not supported inside or=(...)")
        value = _text(c.value) if c.op == "is" else _quoted(c.value)
        return f"{c.column}.{c.op}.{value}"
    inner = ",".join(_tree(p) for p in c.parts)
    return f"and({inner})" if isinstance(c, AllOf) else inner


def _filter(builder: Any, c: Condition, embedded: str | None = None) -> Any:
    """``c`` on the request's rows, or on its ``embedded`` table's rows."""
    if isinstance(c, AnyOf):
        return builder.or_(_tree(c), reference_table=embedded)
    column = f"{embedded}.{c.column}" if embedded else c.column
    if c.op == "in":
        return builder.in_(column, [_text(v) for v in c.value])
    if c.op == "wfts":
        return builder.filter(column, "wfts(english)", c.value)
    return builder.filter(column, c.op, _text(c.value))


def _filters(builder: Any, conditions: tuple[Condition, ...], embedded: str | None = None) -> Any:
    for c in conditions:
        builder = _filter(builder, c, embedded)
    return builder


def request(client: Any, op: Op) -> Any:
    """A ready-to-execute builder for ``op`` on a sync or async PostgREST client."""
    if isinstance(op, Call):
        return client.rpc(op.function, op.args)
    table = client.from_(op.table)
    if isinstance(op, Select):
        columns = ",".join(op.columns) or "*"
        if op.embed is not None:  # resource embedding: related rows in the same request
            columns += f",{op.embed.table}({','.join(op.embed.columns)})"
        builder = _filters(table.select(columns, count=CountMethod.exact if op.count else None), op.where)
        for o in op.order:
            builder = builder.order(o.column, desc=o.descending)
        if op.embed is not None:
            builder = _filters(builder, op.embed.where, op.embed.table)
            for o in op.embed.order:
                builder = builder.order(o.column, desc=o.descending, foreign_table=op.embed.table)
            if op.embed.limit is not None:
                builder = builder.limit(op.embed.limit, foreign_table=op.embed.table)
        if op.single:
            return builder.single()
        return builder.limit(op.limit) if op.limit is not None else builder
    if isinstance(op, Insert):
        return table.insert(list(op.rows), returning=ReturnMethod.representation, default_to_null=False)
    if isinstance(op, Update):
        return _filters(table.update(op.values, returning=ReturnMethod.representation), op.where)
    assert isinstance(op, Delete)
    return _filters(table.delete(returning=ReturnMethod.representation), op.where)


def result(op: Op, data: Any) -> tuple[list[dict[str, Any]], Any]:
    """(rows, scalar) from a PostgREST response body."""
    if isinstance(op, Call) and op.returns == "value":
        return [], data
    if isinstance(data, dict):
        return [data], None
    return list(data or []), None
