"""Upgrading a database that holds data from the previous main (migrated up to
20260101000700) to the current migrations, and rolling the upgrade back.

The previous schema comes from a copy of the project without the newer migrations, pushed
by the real CLI; the data from the seed (the ``tiny`` preset) plus hand-written rows,
including a membership an attacker forged while the previous schema allowed it. Then the
real project is pushed. Nothing stored may change, members keep reading their own threads
and not their colleagues', the new rules hold on the old rows, and a rollback to the
previous version gives back that schema with the data intact.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from supatenant import database
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.project import supabase_dir
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS
from tests.integration.world import key

PREVIOUS = "20260101000700"
TABLES = ("tenants", "users", "conversations", "messages", "feedback", "usage_metrics")
Conn = psycopg.Connection[Any]


def newer_versions() -> list[str]:
    return sorted(
        p.name.split("_", 1)[0]
        for p in (supabase_dir() / "migrations").glob("*.sql")
        if p.name.split("_", 1)[0] > PREVIOUS
    )


def previous_project(tmp_path: Path, version: str = PREVIOUS) -> Path:
    """A copy of the project as main had it at ``version``: migrations up to it."""
    project = tmp_path / "previous"
    shutil.copytree(supabase_dir(), project / "supabase", ignore=shutil.ignore_patterns(".temp", ".branches"))
    for folder in ("migrations", "rollbacks"):
        for path in (project / "supabase" / folder).glob("*.sql"):
            if path.name.split("_", 1)[0] > version:
                path.unlink()
    return project


@contextmanager
def acting(conn: Conn, identity: Identity) -> Iterator[Conn]:
    """A transaction acting as ``identity`` exactly as PostgREST does, always rolled back."""
    with conn.transaction(force_rollback=True):
        act_as(conn, identity)
        yield conn


def rows_as(conn: Conn, identity: Identity, statement: LiteralString, params: Any = None) -> list[Any]:
    with acting(conn, identity):
        return conn.execute(statement, params).fetchall()


def sqlstate_as(conn: Conn, identity: Identity, statement: LiteralString, params: Any = None) -> str | None:
    """The SQLSTATE that refuses the statement, or None when it runs (rolled back either way)."""
    try:
        with acting(conn, identity):
            conn.execute(statement, params)
    except psycopg.Error as e:
        return e.sqlstate
    return None


def table_columns(url: str) -> dict[str, list[str]]:
    """The columns each tenant table has now: a later migration may add columns, whose values
    are not stored data of the previous version."""
    with psycopg.connect(url) as conn:
        return {
            table: [
                r[0]
                for r in conn.execute(
                    "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0"
                    " and not attisdropped and attgenerated = '' order by attnum",
                    (f"public.{table}",),
                )
            ]
            for table in TABLES
        }


def snapshot(url: str, columns: dict[str, list[str]]) -> dict[str, Any]:
    """Every stored row (``columns`` of it) of the tenant tables and auth.users, counts and
    sums, the summaries as the service role reads them, and each conversation's counter
    against its messages."""
    out: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            query = sql.SQL("select {} from public.{} order by 1, 2, 3").format(
                sql.SQL(", ").join(map(sql.Identifier, columns[table])), sql.Identifier(table)
            )
            out[table] = conn.execute(query).fetchall()
        out["auth.users"] = conn.execute("select id, email from auth.users order by id").fetchall()
        out["sums"] = conn.execute(
            "select (select sum(message_count) from conversations), (select count(*) from messages),"
            " (select sum(rating) from feedback), (select sum(total_tokens) from usage_metrics),"
            " (select sum(cost_usd) from usage_metrics), (select sum(octet_length(content)) from messages)"
        ).fetchone()
        out["counters"] = conn.execute(
            "select c.id, c.message_count, (select count(*) from messages m"
            "  where m.tenant_id = c.tenant_id and m.conversation_id = c.id)"
            " from conversations c order by c.id"
        ).fetchall()
        out["feedback summary"] = rows_as(
            conn, Identity.service(), "select * from message_feedback_summary() order by 1, 2"
        )
        out["usage summary"] = rows_as(
            conn, Identity.service(), "select * from monthly_usage_summary() order by 1, 2, 3"
        )
    return out


def schema_fingerprint(url: str) -> list[tuple[str, str, str]]:
    """Policies, functions (body, security, settings, grants), triggers, constraints,
    relations, indexes and column grants of the project's schemas, by name."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            with ns as (select oid from pg_namespace where nspname in ('public', 'private'))
            select 'policy', schemaname || '.' || tablename || '.' || policyname,
                   concat_ws('|', cmd, roles::text, qual, with_check)
              from pg_policies where schemaname in ('public', 'private')
            union all
            select 'function', p.oid::regprocedure::text,
                   concat_ws('|', md5(p.prosrc), p.prosecdef, p.provolatile, p.proconfig::text, p.proacl::text,
                             pg_get_function_result(p.oid))
              from pg_proc p where p.pronamespace in (select oid from ns)
            union all
            select 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
              from pg_trigger t join pg_class c on c.oid = t.tgrelid
             where not t.tgisinternal and c.relnamespace in (select oid from ns)
            union all
            select 'constraint', c.conrelid::regclass::text || '.' || c.conname,
                   pg_get_constraintdef(c.oid) || ' ' || c.convalidated
              from pg_constraint c where c.connamespace in (select oid from ns)
            union all
            select 'relation', c.oid::regclass::text,
                   concat_ws('|', c.relkind, c.relrowsecurity, c.relacl::text, pg_get_indexdef(c.oid))
              from pg_class c where c.relnamespace in (select oid from ns)
            union all
            select 'column grant', a.attrelid::regclass::text || '.' || a.attname, a.attacl::text
              from pg_attribute a join pg_class c on c.oid = a.attrelid
             where a.attacl is not null and c.relnamespace in (select oid from ns)
            order by 1, 2
            """
        ).fetchall()


@dataclass(frozen=True)
class Rows:
    """The hand-written rows: tenant H (owner, members u1 and u2, atk2, a pending member)
    and tenant X, where atk_admin is an admin."""

    ids: dict[str, UUID]

    def who(self, name: str) -> Identity:
        return Identity.user(self.ids[f"auth:{name}"])


def write_rows(conn: Conn) -> Rows:
    ids: dict[str, UUID] = {}
    for t in ("H", "X"):
        ids[t] = key(f"upgrade:tenant:{t}")
        conn.execute(
            'insert into tenants (id, name, slug, settings) values (%s, %s, %s, \'{"tone": "formal"}\')',
            (ids[t], f"Upgrade {t}", f"upgrade-{t.lower()}"),
        )
    # (name, tenant, role, has an account)
    for name, tenant, role, account in (
        ("h_owner", "H", "owner", True),
        ("u1", "H", "member", True),
        ("u2", "H", "member", True),
        ("atk2", "H", "member", True),
        ("pending", "H", "member", False),
        ("x_owner", "X", "owner", False),
        ("atk_admin", "X", "admin", True),
    ):
        ids[name] = key(f"upgrade:member:{name}")
        auth_id = key(f"upgrade:auth:{name}") if account else None
        if auth_id:
            ids[f"auth:{name}"] = auth_id
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)", (auth_id, f"{name}@upgrade.test")
            )
        conn.execute(
            "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, %s)",
            (ids[name], ids[tenant], auth_id, f"{name}@upgrade.test", role),
        )
    for conv, owner, archived in (("cu1", "u1", False), ("cu1b", "u1", True), ("cu2", "u2", False)):
        ids[conv] = key(f"upgrade:conversation:{conv}")
        conn.execute(
            "insert into conversations (id, tenant_id, user_id, title, metadata, is_archived)"
            ' values (%s, %s, %s, %s, \'{"channel": "web"}\', %s)',
            (ids[conv], ids["H"], ids[owner], f"thread of {owner}", archived),
        )
    turns = [
        ("cu1", "user", "Where is my refund?", None),
        ("cu1", "assistant", "It was sent on Monday.", "gpt-4o-mini"),
        ("cu1", "user", "Thanks, and the invoice?", None),
        ("cu1", "assistant", "Attached to the same email.", "gpt-4o-mini"),
        ("cu2", "user", "Reset my password", None),
        ("cu2", "assistant", "Use the link on the sign-in page.", "claude-3-5-haiku"),
    ]
    for n, (conv, role, content, model) in enumerate(turns):
        ids[f"msg{n}"] = key(f"upgrade:message:{n}")
        conn.execute(
            "insert into messages (id, tenant_id, conversation_id, user_id, role, content, model, token_count,"
            " tool_calls, created_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, '2026-01-02T10:00:00Z'::timestamptz + %s * interval '1 minute')",
            (
                ids[f"msg{n}"],
                ids["H"],
                ids[conv],
                ids["u1"],  # the trigger takes the owner from the conversation
                role,
                content,
                model,
                12 if model else None,
                '[{"name": "lookup_order"}]' if n == 1 else None,
                n,
            ),
        )
    conn.execute(
        "insert into feedback (tenant_id, message_id, user_id, rating, comment) values (%s, %s, %s, 1, 'clear')",
        (ids["H"], ids["msg1"], ids["u1"]),
    )
    for member, prompt in (("u1", 812), ("u2", 90)):
        conn.execute(
            "select increment_usage(%s, %s, %s, 164, 0.0031, 2, '2026-01-02')",
            (ids["H"], ids[member], prompt),
        )
    conn.execute("select refresh_summaries()")
    conn.commit()
    return Rows(ids)


def forge_membership(conn: Conn, rows: Rows) -> None:
    """What the previous schema let an admin of any tenant do: a row of their tenant with a
    colleague's member id, linked to an account of theirs (atk2, a member of H)."""
    with conn.transaction():
        act_as(conn, rows.who("atk_admin"))
        conn.execute(
            "insert into users (id, tenant_id, auth_id, email) values (%s, %s, %s, 'forged@upgrade.test')",
            (rows.ids["u1"], rows.ids["X"], rows.ids["auth:atk2"]),
        )


THREADS: LiteralString = "select id from conversations order by id"
U1_THREAD: LiteralString = "select id from messages where conversation_id = %(cu1)s"


def check_members_read_their_own(conn: Conn, rows: Rows, seeded: list[Any]) -> None:
    i = rows.ids
    own = {"u1": {i["cu1"], i["cu1b"]}, "u2": {i["cu2"]}, "h_owner": {i["cu1"], i["cu1b"], i["cu2"]}}
    for name, threads in own.items():
        assert {r[0] for r in rows_as(conn, rows.who(name), THREADS)} == threads, name
    assert len(rows_as(conn, rows.who("u1"), U1_THREAD, i)) == 4
    assert rows_as(conn, rows.who("u2"), U1_THREAD, i) == []
    # and every seeded member sees what the access matrix says: their own threads, or all
    # of the tenant's for owners and admins; nothing when inactive
    for tenant in seeded:
        for cred in tenant.credentials:
            seen = {r[0] for r in rows_as(conn, Identity.user(UUID(cred["auth_id"])), THREADS)}
            everything = {c["id"] for c in tenant.conversations}
            mine = {c["id"] for c in tenant.conversations if str(c["user_id"]) == cred["member_id"]}
            expected = set() if not cred["active"] else mine if cred["role"] == "member" else everything
            assert seen == expected, cred["email"]


def test_an_upgrade_keeps_the_data_applies_the_new_rules_and_rolls_back(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    new = newer_versions()
    assert new, "no migration newer than the previous main"
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(previous_project(tmp_path)))
        database.prepare(url)
    _, seeding = seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    seeded = [seeding.tenant(n) for n in range(len(seeding.heads))]
    with psycopg.connect(url) as conn:
        assert conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone() == (
            PREVIOUS,
        )
        rows = write_rows(conn)
        forge_membership(conn, rows)
        # the previous schema let the forged membership read the colleague's thread
        assert rows_as(conn, rows.who("atk2"), U1_THREAD, rows.ids)
    columns = table_columns(url)
    before = snapshot(url, columns)
    previous_schema = schema_fingerprint(url)
    assert all(count == actual for _, count, actual in before["counters"])
    assert before["sums"][0] == before["sums"][1] > 6

    output = database.push(url)
    assert [v for v in new if f"Applying migration {v}" in output] == new, output
    assert snapshot(url, columns) == before

    i = rows.ids
    with psycopg.connect(url) as conn:
        check_members_read_their_own(conn, rows, seeded)
        # the forged membership proves nothing any more
        atk2 = rows.who("atk2")
        for statement in (
            U1_THREAD,
            "select id from conversations where id = %(cu1)s",
            "select id from feedback where user_id = %(u1)s",
            "select user_id from usage_metrics where user_id = %(u1)s",
            "select message_id from message_feedback_summary(%(cu1)s)",
        ):
            assert rows_as(conn, atk2, statement, i) == [], statement
            assert rows_as(conn, rows.who("u1"), statement, i), statement
        # the new rules hold on the old rows: u1 adds user turns to their thread, counted once,
        # but no assistant turn and no model fields
        u1 = rows.who("u1")
        add: LiteralString = "insert into messages (tenant_id, conversation_id, role, content) values (%(H)s, %(cu1)s, %(role)s, 'x')"
        assert sqlstate_as(conn, u1, add, {**i, "role": "assistant"}) == "42501"
        assert (
            sqlstate_as(
                conn,
                u1,
                "insert into messages (tenant_id, conversation_id, role, content, model)"
                " values (%(H)s, %(cu1)s, 'user', 'x', 'gpt')",
                i,
            )
            == "42501"
        )
        with acting(conn, u1):
            conn.execute(add, {**i, "role": "user"})
            counted = conn.execute("select message_count from conversations where id = %(cu1)s", i).fetchone()
        assert counted == (5,)
        # the old sole owner keeps the tenant; an admin no longer picks member ids
        assert sqlstate_as(
            conn, rows.who("h_owner"), "update users set role = 'admin' where id = %(h_owner)s", i
        ) == ("23514")
        assert (
            sqlstate_as(
                conn,
                rows.who("atk_admin"),
                "insert into users (id, tenant_id, email) values (%(u2)s, %(X)s, 'again@upgrade.test')",
                i,
            )
            == "42501"
        )
    assert snapshot(url, columns) == before

    assert database.rollback(url, PREVIOUS) == sorted(new, reverse=True)
    assert schema_fingerprint(url) == previous_schema
    assert snapshot(url, columns) == before
    with psycopg.connect(url) as conn:
        check_members_read_their_own(conn, rows, seeded)

    # and the upgrade applies again on the rolled-back database
    database.push(url)
    assert snapshot(url, columns) == before


def test_rows_stored_over_the_new_size_limits_stay_usable(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(previous_project(tmp_path)))
        database.prepare(url)
    with psycopg.connect(url) as conn:
        rows = write_rows(conn)
        conn.execute(
            "update conversations set metadata = jsonb_build_object('notes', repeat('x', 100000)) where id = %s",
            (rows.ids["cu1"],),
        )
        conn.execute(
            "update tenants set settings = jsonb_build_object('prompt', repeat('x', 100000)) where id = %s",
            (rows.ids["H"],),
        )
        conn.commit()
    database.push(url)
    i = rows.ids
    with psycopg.connect(url) as conn:
        service = Identity.service()
        refusals = {
            "u1 adds a turn": sqlstate_as(
                conn,
                rows.who("u1"),
                "insert into messages (tenant_id, conversation_id, role, content) values (%(H)s, %(cu1)s, 'user', 'x')",
                i,
            ),
            "the service role adds a turn": sqlstate_as(
                conn,
                service,
                "insert into messages (tenant_id, conversation_id, role, content)"
                " values (%(H)s, %(cu1)s, 'assistant', 'x')",
                i,
            ),
            "u1 archives the thread": sqlstate_as(
                conn, rows.who("u1"), "update conversations set is_archived = true where id = %(cu1)s", i
            ),
            "stale threads are archived": sqlstate_as(
                conn, service, "select archive_stale_conversations('1 day')"
            ),
            "the service role deactivates the tenant": sqlstate_as(
                conn, service, "update tenants set is_active = false where id = %(H)s", i
            ),
        }
    assert refusals == dict.fromkeys(refusals)
