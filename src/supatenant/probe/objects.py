"""Objects in the catalog: whether a dropped name exists, a table's shape, its storage."""

from __future__ import annotations

import uuid
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums import ObjectType
from pglast.stream import RawStream
from psycopg import sql

from supatenant import facts
from supatenant.probe.sqlfile import qualified

Conn = psycopg.Connection[Any]

_RELATION_KINDS = {
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_INDEX,
    ObjectType.OBJECT_SEQUENCE,
    ObjectType.OBJECT_FOREIGN_TABLE,
}
_ROUTINE_KINDS = {ObjectType.OBJECT_FUNCTION, ObjectType.OBJECT_PROCEDURE, ObjectType.OBJECT_ROUTINE}
_ON_TABLE_KINDS = {
    ObjectType.OBJECT_POLICY: "select exists (select 1 from pg_policy"
    " where polrelid = to_regclass(%s) and polname = %s)",
    ObjectType.OBJECT_TRIGGER: "select exists (select 1 from pg_trigger"
    " where tgrelid = to_regclass(%s) and tgname = %s)",
    ObjectType.OBJECT_RULE: "select exists (select 1 from pg_rewrite"
    " where ev_class = to_regclass(%s) and rulename = %s)",
}


def names(obj: Any) -> list[str]:
    return [str(n.sval) for n in obj if isinstance(n, ast.String)]


def exists(conn: Conn, kind: ObjectType, obj: Any) -> bool | None:
    """Whether the object a drop names exists now; None for kinds not looked at."""
    if kind in _RELATION_KINDS:
        parts = names(obj)
        ident = sql.Identifier(*parts).as_string(conn)
        row = conn.execute("select to_regclass(%s) is not null", (ident,)).fetchone()
    elif kind in _ROUTINE_KINDS:
        if obj.args_unspecified or obj.objargs is None:
            parts = names(obj.objname)
            schema = parts[0] if len(parts) > 1 else None
            row = conn.execute(
                "select exists (select 1 from pg_proc where proname = %s"
                " and (pronamespace::regnamespace::text = %s"
                "  or (%s::text is null and pg_function_is_visible(oid))))",
                (parts[-1], schema, schema),
            ).fetchone()
        else:
            row = conn.execute("select to_regprocedure(%s) is not null", (RawStream()(obj),)).fetchone()
    elif kind in _ON_TABLE_KINDS:
        parts = names(obj)
        table = sql.Identifier(*parts[:-1]).as_string(conn)
        row = conn.execute(_ON_TABLE_KINDS[kind], (table, parts[-1])).fetchone()
    elif kind == ObjectType.OBJECT_SCHEMA:
        row = conn.execute(
            "select exists (select 1 from pg_namespace where nspname = %s)", (obj.sval,)
        ).fetchone()
    elif kind in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_DOMAIN):
        row = conn.execute("select to_regtype(%s) is not null", (RawStream()(obj),)).fetchone()
    elif kind == ObjectType.OBJECT_EXTENSION:
        row = conn.execute(
            "select exists (select 1 from pg_extension where extname = %s)", (obj.sval,)
        ).fetchone()
    else:
        return None
    return bool(row and row[0])


def describe_drop(kind: ObjectType, obj: Any) -> str:
    if kind in _ROUTINE_KINDS or kind in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_DOMAIN):
        return str(RawStream()(obj))
    if isinstance(obj, ast.String):
        return str(obj.sval)
    parts = names(obj)
    if kind in _ON_TABLE_KINDS:
        return f"{parts[-1]} on {'.'.join(parts[:-1])}"
    return ".".join(parts)


def columns(conn: Conn, relation: str) -> list[tuple[str, str, bool]]:
    return [
        (str(n), str(t), bool(nn))
        for n, t, nn in conn.execute(
            "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute"
            " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
            (relation,),
        ).fetchall()
    ]


def clash(conn: Conn, node: Any) -> tuple[str, list[Any], list[Any]] | None:
    """When ``create table if not exists`` names an existing table of another shape: the
    table, its columns and those the statement declares."""
    rel = node.relation
    ident = sql.Identifier(*[p for p in (rel.schemaname, rel.relname) if p]).as_string(conn)
    existing = columns(conn, ident)
    if not existing:
        return None
    probe = "supatenant_probe_" + uuid.uuid4().hex[:8]
    copy: Any = pglast.parse_sql(RawStream()(node))[0].stmt
    copy.relation.schemaname = probe
    copy.if_not_exists = False
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(probe)))
            conn.execute(RawStream()(copy).encode())
            declared = columns(conn, sql.Identifier(probe, rel.relname).as_string(conn))
    except psycopg.Error:
        return None
    if [c[:2] for c in declared] == [c[:2] for c in existing]:
        return None
    return ident, existing, declared


_STORAGE = """
select c.oid::regclass::text, c.oid, c.relfilenode from pg_class c
where c.relkind in ('r', 'm') and c.relnamespace in (select oid from pg_namespace where nspname = any(%s))
"""


def storage(conn: Conn) -> dict[str, tuple[int, int]]:
    """Each table's identity and storage: a table dropped and created again gets a new oid;
    one truncated or rewritten, new storage."""
    return {str(n): (int(o), int(f)) for n, o, f in qualified(conn, _STORAGE, (list(facts.SCHEMAS),))}
