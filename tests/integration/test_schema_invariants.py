"""Catalog checks of the invariants DESIGN.md lists, on the migrated database."""

from __future__ import annotations

from typing import Any

import psycopg

TENANT_OWNED = {"users", "invitations", "conversations", "messages", "feedback", "usage_metrics"}


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query.encode()).fetchall()


def test_every_public_table_has_rls_and_a_comment(conn: psycopg.Connection[Any]) -> None:
    rows = _rows(
        conn,
        "select c.relname, c.relrowsecurity, obj_description(c.oid, 'pg_class') is not null"
        " from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'",
    )
    assert {r[0] for r in rows} == TENANT_OWNED | {"tenants"}
    assert all(r[1] and r[2] for r in rows), rows


def test_tenant_owned_tables_lead_every_key_with_tenant_id(conn: psycopg.Connection[Any]) -> None:
    rows = _rows(
        conn,
        "select c.relname, con.contype, (select attname from pg_attribute"
        "   where attrelid = c.oid and attnum = con.conkey[1])"
        " from pg_constraint con join pg_class c on c.oid = con.conrelid"
        " where c.relnamespace = 'public'::regnamespace and con.contype in ('p', 'u')",
    )
    owned = [r for r in rows if r[0] in TENANT_OWNED]
    assert {r[0] for r in owned if r[1] == "p"} == TENANT_OWNED
    assert all(r[2] == "tenant_id" for r in owned), owned
    not_null = _rows(
        conn,
        "select table_name, is_nullable, data_type from information_schema.columns"
        " where table_schema = 'public' and column_name = 'tenant_id'",
    )
    assert {r[0] for r in not_null} >= TENANT_OWNED
    assert all(r[1] == "NO" and r[2] == "uuid" for r in not_null if r[0] in TENANT_OWNED)


def test_every_key_column_is_uuid(conn: psycopg.Connection[Any]) -> None:
    rows = _rows(
        conn,
        "select table_name, column_name, data_type from information_schema.columns"
        " where table_schema = 'public' and (column_name = 'id' or column_name like '%\\_id')",
    )
    assert rows
    assert [r for r in rows if r[2] != "uuid"] == []


def test_foreign_keys_match_their_targets_and_have_a_leading_index(conn: psycopg.Connection[Any]) -> None:
    fks = _rows(
        conn,
        "select con.conname, con.conrelid, con.conkey, con.confrelid, con.confkey"
        " from pg_constraint con where con.contype = 'f'"
        " and con.connamespace = 'public'::regnamespace",
    )
    assert len(fks) >= 8
    for name, rel, keys, frel, fkeys in fks:
        for k, fk in zip(keys, fkeys, strict=True):
            types = conn.execute(
                "select (select atttypid from pg_attribute where attrelid = %s and attnum = %s),"
                "       (select atttypid from pg_attribute where attrelid = %s and attnum = %s)",
                (rel, k, frel, fk),
            ).fetchone()
            assert types is not None
            assert types[0] == types[1], f"{name}: column types differ"
        indexes = conn.execute("select indkey::int2[] from pg_index where indrelid = %s", (rel,)).fetchall()
        leading = [set(ix[0][: len(keys)]) for ix in indexes]
        assert set(keys) in leading, f"{name}: no index leads with its columns"


def test_policies_are_one_per_command_for_authenticated(conn: psycopg.Connection[Any]) -> None:
    rows = _rows(
        conn, "select tablename, cmd, roles::text[], permissive from pg_policies where schemaname = 'public'"
    )
    assert rows
    assert all(r[2] == ["authenticated"] and r[3] == "PERMISSIVE" for r in rows), rows
    pairs = [(r[0], r[1]) for r in rows]
    assert len(pairs) == len(set(pairs))


def test_functions_pin_search_path_and_are_documented(conn: psycopg.Connection[Any]) -> None:
    rows = _rows(
        conn,
        "select p.oid::regprocedure::text, p.proconfig, obj_description(p.oid, 'pg_proc') is not null"
        " from pg_proc p where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)",
    )
    assert len(rows) >= 10
    assert [r[0] for r in rows if not r[1] or 'search_path=""' not in r[1]] == []
    assert [r[0] for r in rows if not r[2]] == []
