"""Upgrading a database that holds data from the previous main (migrated up to
20261122210000_member_isolation) to the governance migrations, and rolling them back.

The previous schema comes from a copy of the project without the newer migrations, pushed by
the real CLI; the data from the seed (``tiny``) plus the hand-written rows of the first
upgrade test. Then the real project is pushed: nothing stored changes, the old rows can be
exported, erased and redacted (in transactions rolled back), and a rollback to the previous
version gives back that schema with the data intact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from supatenant import Store, database
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.project import supabase_dir
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS
from tests.integration.test_upgrade import previous_project, schema_fingerprint, snapshot, table_columns
from tests.integration.world import key

PREVIOUS = "20261122210000"


def write_rows(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, UUID]:
    """Tenant H: an owner and a member u1 (both with accounts), u1's two threads, turns, a
    rating and usage, written as the previous schema allows."""
    i = {
        name: key(f"governance-upgrade:{name}")
        for name in ("H", "h_owner", "u1", "cu1", "cu1b", "msg0", "msg1")
    }
    conn.execute("insert into tenants (id, name, slug) values (%s, 'H', 'governance-upgrade')", (i["H"],))
    for name, role in (("h_owner", "owner"), ("u1", "member")):
        i[f"auth:{name}"] = key(f"governance-upgrade:auth:{name}")
        conn.execute(
            "insert into auth.users (id, email) values (%s, %s)", (i[f"auth:{name}"], f"{name}@gu.test")
        )
        conn.execute(
            "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, %s)",
            (i[name], i["H"], i[f"auth:{name}"], f"{name}@gu.test", role),
        )
    for conv, archived in (("cu1", False), ("cu1b", True)):
        conn.execute(
            "insert into conversations (id, tenant_id, user_id, title, is_archived) values (%s, %s, %s, %s, %s)",
            (i[conv], i["H"], i["u1"], f"thread {conv}", archived),
        )
    for n, (role, content) in enumerate((("user", "Where is my refund?"), ("assistant", "Sent on Monday."))):
        conn.execute(
            "insert into messages (id, tenant_id, conversation_id, role, content) values (%s, %s, %s, %s, %s)",
            (i[f"msg{n}"], i["H"], i["cu1"], role, content),
        )
    conn.execute(
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%s, %s, %s, 1)",
        (i["H"], i["msg1"], i["u1"]),
    )
    conn.execute("select increment_usage(%s, %s, 812, 164, 0.0031, 2, '2026-01-02')", (i["H"], i["u1"]))
    conn.execute("select refresh_summaries()")
    conn.commit()
    return i


def test_the_governance_upgrade_keeps_the_data_works_on_old_rows_and_rolls_back(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    new = sorted(
        p.name.split("_", 1)[0]
        for p in (supabase_dir() / "migrations").glob("*.sql")
        if p.name.split("_", 1)[0] > PREVIOUS
    )
    assert "20261122221000" in new
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(previous_project(tmp_path, PREVIOUS)))
        database.prepare(url)
    _, seeding = seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    with psycopg.connect(url) as conn:
        assert conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone() == (
            PREVIOUS,
        )
        i = write_rows(conn)
    columns = table_columns(url)  # the previous version's: later migrations add columns
    before = snapshot(url, columns)
    previous_schema = schema_fingerprint(url)

    output = database.push(url)
    assert [v for v in new if f"Applying migration {v}" in output] == new, output
    assert snapshot(url, columns) == before

    tenant = seeding.tenant(0)
    member = next(c for c in tenant.credentials if c["role"] == "member" and c["active"])
    with psycopg.connect(url) as conn:
        # the old rows' owner exports the old member; u1 exports their own threads
        with Store.connect(url, auth_user_id=i["auth:h_owner"]) as owner:
            records = [json.loads(x) for x in b"".join(owner.export.jsonl(member_id=i["u1"])).splitlines()]
        assert records[-1]["rows"]["messages"] == 2
        assert records[-1]["rows"]["conversations"] == 2
        with Store.connect(url, auth_user_id=i["auth:u1"]) as u1:
            assert "Where is my refund?" in "".join(u1.export.markdown(conversation_id=i["cu1"]))
        # an erase of a seeded member and a redaction of an old message, rolled back
        with conn.transaction(force_rollback=True):
            act_as(conn, Identity.service())
            report = conn.execute(
                "select erase_member(%s, %s)", (tenant.tenant["id"], UUID(member["member_id"]))
            ).fetchone()
            assert report is not None
            assert report[0]["messages"] > 0
            conn.execute("select redact_message(%s, %s, 'old secret')", (i["H"], i["msg1"]))
            assert conn.execute("select content from messages where id = %s", (i["msg1"],)).fetchone() == (
                "[redacted]",
            )
    # the exports are recorded; nothing else changed
    after = snapshot(url, columns)
    assert after == before
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from audit_events where action = 'export'").fetchone() == (2,)

    assert database.rollback(url, PREVIOUS) == sorted(new, reverse=True)
    assert schema_fingerprint(url) == previous_schema
    assert snapshot(url, columns) == before

    # and the upgrade applies again on the rolled-back database
    database.push(url)
    assert snapshot(url, columns) == before
