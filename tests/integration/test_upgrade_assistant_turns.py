"""Upgrading a database that holds data at 20261122210000 (member isolation) to the assistant
turn: every message gets its place in its thread in the order readers saw before (created_at,
then id), nothing stored changes or goes missing, the tenants' live totals add up to their
usage, and rolling back gives that schema and those rows back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from supatenant import database
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS
from tests.integration.test_upgrade import (
    TABLES,
    previous_project,
    schema_fingerprint,
    snapshot,
    table_columns,
)
from tests.integration.world import key

PREVIOUS = "20261122210000"
Conn = psycopg.Connection[Any]


def write_ties(conn: Conn) -> UUID:
    """A thread whose turns were written in one transaction (one timestamp, so the old order is
    the ids'), then two more at later times, inserted out of time order."""
    tenant, member, conv = key("turns:tenant"), key("turns:member"), key("turns:conversation")
    conn.execute("insert into tenants (id, name, slug) values (%s, 'Ties', 'ties')", (tenant,))
    conn.execute(
        "insert into users (id, tenant_id, email) values (%s, %s, 'ties@upgrade.test')", (member, tenant)
    )
    conn.execute(
        "insert into conversations (id, tenant_id, user_id) values (%s, %s, %s)", (conv, tenant, member)
    )
    with conn.transaction():
        for n in range(6):
            conn.execute(
                "insert into messages (id, tenant_id, conversation_id, role, content) values (%s, %s, %s, %s, %s)",
                (key(f"turns:tie:{n}"), tenant, conv, "user" if n % 2 == 0 else "assistant", f"tie {n}"),
            )
    for n, at in ((7, "2099-01-02"), (6, "2099-01-01")):
        conn.execute(
            "insert into messages (id, tenant_id, conversation_id, role, content, created_at)"
            " values (%s, %s, %s, 'user', %s, %s)",
            (key(f"turns:late:{n}"), tenant, conv, f"late {n}", at),
        )
    conn.commit()
    return conv


def old_order(conn: Conn) -> dict[UUID, list[UUID]]:
    rows = conn.execute(
        "select conversation_id, array_agg(id order by created_at, id) from messages group by 1"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def test_the_upgrade_numbers_threads_in_their_old_order_loses_nothing_and_rolls_back(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(previous_project(tmp_path, PREVIOUS)))
        database.prepare(url)
    seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    with psycopg.connect(url) as conn:
        assert conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone() == (
            PREVIOUS,
        )
        ties = write_ties(conn)
        order = old_order(conn)
        conn.execute("select increment_usage(%s, %s, 5, 7, 0.25)", (key("turns:tenant"), key("turns:member")))
        conn.commit()
    assert len(order[ties]) == 8
    columns = table_columns(url)
    before = snapshot(url, columns)
    previous_schema = schema_fingerprint(url)

    output = database.push(url)
    assert "Applying migration 20261122220000" in output
    assert snapshot(url, columns) == before  # every old column of every row, and the summaries
    with psycopg.connect(url) as conn:
        numbered = conn.execute(
            "select conversation_id, array_agg(id order by seq), array_agg(seq order by seq) from messages group by 1"
        ).fetchall()
        assert {r[0]: r[1] for r in numbered} == order
        assert all(r[2] == list(range(1, len(r[2]) + 1)) for r in numbered)
        assert conn.execute(
            "select count(*) from messages where status <> 'complete' or metered_at is not null"
        ).fetchone() == (0,)
        # the tenants' live totals start from the usage already recorded
        totals = conn.execute(
            "select tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd"
            " from private.tenant_daily_usage order by 1, 2"
        ).fetchall()
        sums = conn.execute(
            "select tenant_id, usage_date, sum(request_count), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)"
            " from usage_metrics group by 1, 2 order by 1, 2"
        ).fetchall()
        assert totals == sums
        assert len(totals) > 1
        # a turn added now follows the thread's last one, in the same transaction or not
        with conn.transaction(force_rollback=True):
            for n in range(2):
                conn.execute(
                    "insert into messages (tenant_id, conversation_id, role, content) values (%s, %s, 'user', %s)",
                    (key("turns:tenant"), ties, f"new {n}"),
                )
            added = conn.execute(
                "select content, seq from messages where conversation_id = %s and seq > 8 order by seq",
                (ties,),
            ).fetchall()
        assert added == [("new 0", 9), ("new 1", 10)]

    undone = database.rollback(url, PREVIOUS)  # newer migrations than this go too
    assert undone[-2:] == ["20261122220100", "20261122220000"]
    assert undone == sorted(undone, reverse=True)
    assert schema_fingerprint(url) == previous_schema
    assert snapshot(url, columns) == before
    with psycopg.connect(url) as conn:
        assert old_order(conn) == order
        for table in TABLES:
            counted = conn.execute(sql.SQL("select count(*) from public.{}").format(sql.Identifier(table)))
            assert counted.fetchone() == (len(before[table]),)

    database.push(url)
    assert snapshot(url, columns) == before
