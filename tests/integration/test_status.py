"""``supatenant status`` on real databases: healthy, drifted, stale, and as a member."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from supatenant import cli, facts, status
from supatenant.project import project_dir
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS

PUBLIC_TABLES = {"tenants", "users", "invitations", "conversations", "messages", "feedback", "usage_metrics"}


def _facts(url: str) -> facts.Facts:
    with psycopg.connect(url) as conn:
        return facts.read(conn)


def test_a_freshly_migrated_database_is_healthy_but_for_its_cron_jobs(
    migrated_database: Callable[[], str], server_url: str
) -> None:
    url = migrated_database()
    report = status.collect(url, server_url, project_dir())
    m = report["migrations"]
    assert m["files"] == m["applied"] > 0
    assert m["pending"] == m["unknown"] == m["edited"] == m["older_than_newest_applied"] == []
    tables = {t["table"]: t for t in report["tables"]}
    assert {f"public.{t}" for t in PUBLIC_TABLES} <= set(tables)
    assert all(t["present"] and t["rls"] for name, t in tables.items() if name.startswith("public."))
    assert report["policies"] == report["grants"] == []
    assert {v["view"] for v in report["materialized_views"]} == {
        "private.message_feedback_summary",
        "private.monthly_usage_summary",
    }
    assert all(v["stale_rows"] == 0 for v in report["materialized_views"])
    assert report["cron"]["installed"] is False  # not available on this server
    assert report["indexes"]["missing"] == []
    assert {s["relation"] for s in report["sizes"]} >= {f"public.{t}" for t in PUBLIC_TABLES}
    assert sum(report["connections"].values()) >= 1
    # without pg_cron the jobs are the operator's to schedule: a note, and the database is healthy
    assert report["problems"] == []
    [note] = report["notes"]
    assert "'refresh summaries'" in note
    assert "'archive stale conversations'" in note


def test_drift_history_and_missing_indexes_are_reported_and_nothing_is_written(
    migrated_database: Callable[[], str], server_url: str
) -> None:
    url = migrated_database()
    with psycopg.connect(url) as conn:
        conn.execute("alter table public.feedback disable row level security")
        conn.execute('drop policy "Members can start conversations of their own" on public.conversations')
        conn.execute("grant select on public.tenants to anon")
        conn.execute(
            "create table public.notes (id uuid primary key, tenant_id uuid not null, owner_id uuid not null)"
        )
        conn.execute("create index notes_tenant_idx on public.notes (tenant_id)")
        conn.execute("alter table public.notes enable row level security")
        conn.execute(
            "create policy notes_read on public.notes for select to authenticated using (owner_id = (select auth.uid()))"
        )
        versions = [
            r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations order by 1")
        ]
        # one migration edited after it was applied, one never applied, one unknown to the project
        conn.execute(
            "update supabase_migrations.schema_migrations set statements = statements || array['select 1']"
            " where version = %s",
            (versions[1],),
        )
        conn.execute("delete from supabase_migrations.schema_migrations where version = %s", (versions[2],))
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name) values ('29990101000000', 'gone')"
        )
        conn.commit()
    before = _facts(url)
    report = status.collect(url, server_url, project_dir())
    assert _facts(url) == before

    m = report["migrations"]
    names = sorted(p.name for p in (project_dir() / "supabase" / "migrations").glob("*.sql"))
    assert m["edited"] == [names[1]]
    assert m["pending"] == m["older_than_newest_applied"] == [names[2]]
    assert m["unknown"] == ["29990101000000"]
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["public.feedback"]["rls"] is False
    assert tables["public.notes"]["rls_expected"] is None
    assert [(d["object"], d["change"]) for d in report["policies"]] == [
        ('public.conversations."Members can start conversations of their own"', "missing"),
        ("public.notes.notes_read", "extra"),
    ]
    grants = {(d["object"], d["change"]) for d in report["grants"]}
    assert ("public.tenants to anon", "extra") in grants
    assert report["indexes"]["missing"] == [
        {"table": "public.notes", "column": "owner_id", "policies": ["notes_read"]}
    ]
    assert "public.notes_tenant_idx" in {u["index"] for u in report["indexes"]["unused"]}
    problems = "\n".join(report["problems"])
    for expected in (
        "table public.feedback has RLS off",
        f"migration {names[1]} was edited after it was applied",
        f"migration {names[2]} is not applied",
        "applied migration 29990101000000 has no file",
        "public.notes.owner_id is read by policies but no index holds it",
    ):
        assert expected in problems


@pytest.fixture(scope="module")
def seeded(migrated_database: Callable[[], str]) -> tuple[str, list[Any]]:
    url = migrated_database()
    _, seeding = seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    return url, [seeding.tenant(n) for n in range(len(seeding.heads))]


def test_stale_summaries_and_a_member_s_rights(seeded: tuple[str, list[Any]], server_url: str) -> None:
    url, tenants = seeded
    cred = next(c for t in tenants for c in t.credentials if c["active"] and c["role"] == "member")
    inactive = next((c for t in tenants for c in t.credentials if not c["active"]), None)
    with psycopg.connect(url) as conn:
        # usage recorded after the last refresh: the monthly summary misses it
        tenant = next(t for t in tenants if any(c is cred for c in t.credentials))
        conn.execute(
            "select increment_usage(%s, %s, 10, 5, 0.001, 1, '2025-12-30')",
            (tenant.tenant["id"], cred["member_id"]),
        )
        conn.commit()
    report = status.collect(url, server_url, project_dir(), UUID(cred["auth_id"]))
    views = {v["view"]: v for v in report["materialized_views"]}
    assert views["private.monthly_usage_summary"]["stale_rows"] > 0
    assert views["private.message_feedback_summary"]["stale_rows"] == 0
    assert any("private.monthly_usage_summary is stale" in p for p in report["problems"])
    me = report["as"]
    assert me["account"] is True
    assert [(ms["member_id"], ms["role"]) for ms in me["memberships"]] == [(cred["member_id"], "member")]
    assert me["memberships"][0]["can"] == list(status.MEMBER_RIGHTS)
    mine = [c for c in tenant.conversations if str(c["user_id"]) == cred["member_id"]]
    assert me["visible_rows"]["conversations"] == len(mine)
    assert me["visible_rows"]["tenants"] == 1
    if inactive is not None:
        other = status.collect(url, server_url, project_dir(), UUID(inactive["auth_id"]))["as"]
        assert other["memberships"][0]["can"] == []
        assert other["visible_rows"]["conversations"] == 0


def test_the_command_prints_json_and_text_and_exits_1_on_problems(
    migrated_database: Callable[[], str], server_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = migrated_database()
    code = cli.main(["status", "--database-url", url, "--server", server_url, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0  # healthy: pg_cron's absence is a note
    assert out["problems"] == []
    assert out["notes"]
    assert out["migrations"]["pending"] == []
    with psycopg.connect(url, autocommit=True) as conn:  # a problem: RLS off on a project table
        conn.execute("alter table public.feedback disable row level security")
    code = cli.main(["status", "--database-url", url, "--server", server_url])
    text = capsys.readouterr().out
    assert code == 1
    assert "public.messages" in text
    assert "RLS on" in text
    assert "note: pg_cron is not installed" in text
    assert "problems:" in text
    assert "feedback has RLS off" in text
    unreachable = "postgresql://postgres@127.0.0.1:1/none"
    assert cli.main(["status", "--database-url", unreachable, "--server", server_url]) == 2
