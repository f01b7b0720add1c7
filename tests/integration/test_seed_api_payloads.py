"""What the Supabase API seed sends gives the same rows as the direct seed.

The requests ``supatenant.seeding.api`` sends (captured at the HTTP boundary, as in
``tests/unit/test_seed_api.py``) are applied to a real database as the service role, in the
order sent: each row request as the insert PostgREST makes of it (the listed columns, from
``json_populate_recordset``; ``on conflict do nothing`` where the request asks to ignore
duplicates), each ``rpc`` as a call of that function with the JSON body, each new auth user
as its ``auth.users`` row. The real triggers and ``increment_usage_batch`` then have to
bring the counters and usage to exactly what the direct seed writes with ``COPY``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import psycopg
import pytest
from psycopg import sql

from supatenant.seeding.api import ApiTarget
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR
from tests.integration.test_seed import TABLES
from tests.unit.test_seed_api import (
    SIZES,
    Project,
    client_for,
    created_user,
    empty_project,
    seed,
    user_json,
)
from tests.unit.test_supabase_wire import Sent

# set to now() by the database when a row is written through it rather than loaded
WRITTEN_AT = {"conversations": "updated_at", "usage_metrics": "updated_at"}


def apply(conn: psycopg.Connection[tuple[object, ...]], project: Project) -> None:
    """Apply the POSTs in the order sent: the API's writes as the service role, and each new
    auth user (GoTrue's own write) as its ``auth.users`` row."""
    for sent in project.sent:
        if sent.method != "POST":
            continue
        if sent.path == "/auth/v1/admin/users":
            conn.execute("reset role")
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)", (sent.body["id"], sent.body["email"])
            )
            continue
        conn.execute("set role service_role")
        if sent.path.startswith("/rest/v1/rpc/"):
            function = sql.Identifier("public", sent.path.removeprefix("/rest/v1/rpc/"))
            arguments = sql.SQL(", ").join(
                sql.SQL("{} => %s::jsonb").format(sql.Identifier(k)) for k in sent.body
            )
            conn.execute(
                sql.SQL("select {}({})").format(function, arguments),
                [json.dumps(v) for v in sent.body.values()],
            )
            continue
        table = sql.Identifier("public", sent.path.removeprefix("/rest/v1/"))
        [columns] = [[c.strip('"') for c in v.split(",")] for k, v in sent.query if k == "columns"]
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        ignore = "resolution=ignore-duplicates" in sent.headers["prefer"]
        insert = "insert into {t} ({c}) select {c} from json_populate_recordset(null::{t}, %s)"
        conn.execute(
            sql.SQL(insert + (" on conflict do nothing" if ignore else "")).format(t=table, c=names),
            (json.dumps(sent.body),),
        )


def rows(url: str) -> dict[str, list[dict[str, object]]]:
    with psycopg.connect(url) as conn:
        out: dict[str, list[dict[str, object]]] = {}
        for table in TABLES:
            cur = conn.execute(
                sql.SQL("select * from public.{} order by 1, 2, 3").format(sql.Identifier(table))
            )
            names = [d.name for d in cur.description or ()]
            out[table] = [
                {n: v for n, v in zip(names, r, strict=True) if n != WRITTEN_AT.get(table)} for r in cur
            ]
        return out


@pytest.fixture
def direct(migrated_database: Callable[[], str]) -> str:
    """A database seeded over a direct connection: SIZES, seed 7, ending at ANCHOR."""
    url = migrated_database()
    seed_database(url, SIZES, 7, ANCHOR)
    return url


def test_the_api_seed_writes_what_the_direct_seed_writes(
    direct: str, migrated_database: Callable[[], str]
) -> None:
    through_api = migrated_database()
    project = empty_project()
    seed(project)
    with psycopg.connect(through_api) as conn:
        apply(conn, project)
    expected, got = rows(direct), rows(through_api)
    for table in TABLES:
        assert got[table] == expected[table], table
    assert len(got["messages"]) == 8


def test_members_through_the_auth_api_and_rows_through_copy(
    direct: str, migrated_database: Callable[[], str]
) -> None:
    """``--database-url`` with ``--supabase-url``: members who can sign in, rows at COPY speed."""
    url = migrated_database()
    project = empty_project()

    def create_user(sent: Sent) -> httpx.Response:  # Supabase Auth writes the row, then answers
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)", (sent.body["id"], sent.body["email"])
            )
        return created_user(sent)

    project.on("POST", "/auth/v1/admin/users", create_user)
    target = ApiTarget(client_for(project))
    report, seeding = seed_database(url, SIZES, 7, ANCHOR, members=target)
    assert report.tenants_written == SIZES.tenants
    members = [u for head in seeding.heads for u in head.auth_users]
    assert {(s.method, s.path) for s in project.sent} == {
        ("GET", "/auth/v1/admin/users"),
        ("POST", "/auth/v1/admin/users"),
    }  # nothing through PostgREST
    assert [(b["id"], b["password"]) for b in project.bodies("/auth/v1/admin/users")] == [
        (str(u["id"]), target.passwords.issued[u["email"]]) for u in members
    ]
    assert rows(url) == rows(direct)
    with psycopg.connect(url) as conn:  # every member's auth_id is the user Supabase Auth made
        orphans = conn.execute(
            "select count(*) from public.users u where not exists (select from auth.users a where a.id = u.auth_id)"
        )
        assert orphans.fetchone() == (0,)
    # again, with the members there: nothing is created and nothing written
    again = empty_project()
    listed = [user_json(str(u["id"]), u["email"]) for u in members]
    again.on("GET", "/auth/v1/admin/users", {"users": listed, "aud": "authenticated"})
    report, _ = seed_database(url, SIZES, 7, ANCHOR, members=ApiTarget(client_for(again)))
    assert (report.tenants_written, report.tenants_present) == (0, SIZES.tenants)
    assert again.writes() == []
