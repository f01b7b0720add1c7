"""increment_usage and its batched form under real concurrency: exact totals, no deadlock."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
import pytest

from tests.integration.helpers import make_tenant

CONNECTIONS = 16
CALLS_PER_CONNECTION = 50


def _run_threads(db_url: str, work: Callable[[psycopg.Connection[Any], int], None]) -> None:
    """Run ``work`` on CONNECTIONS connections at once, released together; re-raise any failure."""
    barrier = threading.Barrier(CONNECTIONS)
    errors: list[BaseException] = []

    def target(n: int) -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                barrier.wait()
                work(conn, n)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _totals(conn: psycopg.Connection[Any], tenant_id: object) -> dict[tuple[str, date], tuple[int, ...]]:
    rows = conn.execute(
        "select user_id::text, usage_date, request_count, prompt_tokens, completion_tokens, total_tokens"
        " from usage_metrics where tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.mark.slow
def test_concurrent_single_increments_add_up_exactly(db_url: str, conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn, members=3)  # 16 connections, 3 keys: heavy overlap
    day = date(2026, 1, 15)

    def work(c: psycopg.Connection[Any], n: int) -> None:
        for i in range(CALLS_PER_CONNECTION):
            member = tenant.members[(n + i) % 3]
            c.execute(
                "select increment_usage(%s, %s, %s, %s, 0.000001, 1, %s)", (tenant.id, member, n + 1, 2, day)
            )

    _run_threads(db_url, work)

    expected_requests: Counter[str] = Counter()
    expected_prompt: Counter[str] = Counter()
    for n in range(CONNECTIONS):
        for i in range(CALLS_PER_CONNECTION):
            member = str(tenant.members[(n + i) % 3])
            expected_requests[member] += 1
            expected_prompt[member] += n + 1
    totals = _totals(conn, tenant.id)
    assert {k[0]: v[0] for k, v in totals.items()} == dict(expected_requests)
    assert {k[0]: v[1] for k, v in totals.items()} == dict(expected_prompt)
    assert all(v[3] == v[1] + v[2] for v in totals.values())  # total = prompt + completion
    cost = conn.execute(
        "select sum(cost_usd) from usage_metrics where tenant_id = %s", (tenant.id,)
    ).fetchone()
    assert cost is not None
    assert str(cost[0]) == f"{CONNECTIONS * CALLS_PER_CONNECTION / 1_000_000:.6f}"


@pytest.mark.slow
def test_concurrent_batches_finish_without_deadlock_and_add_up(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    tenant = make_tenant(conn, members=8)
    days = [date(2026, 2, d) for d in (1, 2, 3)]
    batches: list[list[dict[str, Any]]] = []
    rng = random.Random(7)
    for _ in range(CONNECTIONS):
        # each batch touches the shared keys in its own random order: without the fixed
        # key order inside the function, two such batches could deadlock
        keys = [(m, d) for m in tenant.members for d in days]
        rng.shuffle(keys)
        batches.append(
            [
                {
                    "tenant_id": str(tenant.id),
                    "user_id": str(m),
                    "usage_date": d.isoformat(),
                    "prompt_tokens": rng.randint(0, 100),
                    "completion_tokens": 1,
                }
                for m, d in keys
            ]
            * 2  # repeated keys inside one batch are summed, not rejected
        )

    def work(c: psycopg.Connection[Any], n: int) -> None:
        for _ in range(5):
            c.execute("select increment_usage_batch(%s::jsonb)", (json.dumps(batches[n]),))

    _run_threads(db_url, work)

    expected: Counter[tuple[str, str]] = Counter()
    expected_requests: Counter[tuple[str, str]] = Counter()
    for batch in batches:
        for item in batch:
            expected[(item["user_id"], item["usage_date"])] += 5 * item["prompt_tokens"]
            expected_requests[(item["user_id"], item["usage_date"])] += 5
    totals = _totals(conn, tenant.id)
    assert {(k[0], k[1].isoformat()): v[1] for k, v in totals.items()} == dict(expected)
    assert {(k[0], k[1].isoformat()): v[0] for k, v in totals.items()} == dict(expected_requests)


@pytest.mark.parametrize(
    "payload",
    [
        '[{"tenant_id": null, "user_id": null}]',
        '{"not": "an array"}',
    ],
)
def test_bad_batches_are_refused_whole(conn: psycopg.Connection[Any], payload: str) -> None:
    tenant = make_tenant(conn)
    good = {"tenant_id": str(tenant.id), "user_id": str(tenant.members[0]), "prompt_tokens": 1}
    mixed = json.dumps(
        [good, {"tenant_id": str(tenant.id), "user_id": str(tenant.members[0]), "prompt_tokens": -5}]
    )
    for bad in (payload, mixed):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select increment_usage_batch(%s::jsonb)", (bad,))
        conn.rollback()
    assert _totals(conn, tenant.id) == {}  # nothing half-written
    conn.execute("select increment_usage_batch(%s::jsonb)", (json.dumps([good]),))
    assert len(_totals(conn, tenant.id)) == 1


def test_negative_single_increment_is_refused(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("select increment_usage(%s, %s, -1, 0, 0)", (tenant.id, tenant.members[0]))
    conn.rollback()
    row = conn.execute(
        "select prompt_tokens from increment_usage(%s, %s, 1, 0, 0)", (tenant.id, tenant.members[0])
    ).fetchone()
    assert row == (1,)
