"""Repository overhead and usage-recorder throughput on the psycopg backend.

    .venv/bin/python -m bench.bench_store [--rounds 2000] [--increments 200000]

1. Per-call time of typical repository operations through ``Store`` against the very same
   SQL (the statements the store sends, from the same operation objects) run with bare
   psycopg on one connection: ``set_config`` of role and claims, the statement, commit.
   Medians of ``--rounds`` calls each, interleaved, and their ratio.
2. ``UsageRecorder`` throughput: ``--increments`` records over 50 members from 4 threads,
   timed from the first record to ``close()`` returning (everything written), then the
   totals are read back and compared exactly.

Reports figures only; nothing here asserts a speed. Uses DATABASE_URL when set, else the
embedded server, in a database of its own that is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from supatenant import Store, UsageRecorder, _sql, database, embedded
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.ops import Insert, Op, Select, eq
from supatenant.paging import newest_first


def _setup(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """A tenant with 50 members; the first owns a conversation of 200 messages."""
    tenant, auth_id = uuid.uuid4(), uuid.uuid4()
    members = [uuid.uuid4() for _ in range(50)]
    with psycopg.connect(url) as conn:
        conn.execute("insert into tenants (id, name, slug) values (%s, 'Bench', 'bench')", (tenant,))
        conn.execute("insert into auth.users (id, email) values (%s, 'bench@example.test')", (auth_id,))
        for i, member in enumerate(members):
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email) values (%s, %s, %s, %s)",
                (member, tenant, auth_id if i == 0 else None, f"m{i}@example.test"),
            )
        conversation = uuid.uuid4()
        conn.execute(
            "insert into conversations (id, tenant_id, user_id, title) values (%s, %s, %s, 'bench')",
            (conversation, tenant, members[0]),
        )
        conn.execute(
            "insert into messages (tenant_id, conversation_id, user_id, role, content, created_at)"
            " select %s, %s, %s, 'user', 'message ' || n, now() - n * interval '1 second'"
            " from generate_series(1, 200) n",
            (tenant, conversation, members[0]),
        )
    return tenant, auth_id, conversation, members


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def overhead(url: str, rounds: int) -> dict[str, dict[str, float]]:
    tenant, auth_id, conversation, members = _setup(url)
    identity = Identity.user(auth_id)
    bare = psycopg.connect(url, row_factory=dict_row)

    def run_bare(op: Op) -> list[dict[str, Any]]:
        query, params = _sql.statement(op)
        with bare.transaction():
            act_as(bare, identity)
            return bare.execute(query, params).fetchall()

    key = (eq("tenant_id", str(tenant)),)
    get_op = Select("conversations", (*key, eq("id", str(conversation))), single=True)
    page_op = Select(
        "messages", (*key, eq("conversation_id", str(conversation))), newest_first("created_at"), 51
    )
    list_op = Select("conversations", (*key, eq("user_id", str(members[0]))), newest_first("updated_at"), 21)

    def append_op() -> Op:
        row = {
            "tenant_id": str(tenant),
            "conversation_id": str(conversation),
            "role": "user",
            "content": "hi",
        }
        return Insert("messages", (row,))

    results: dict[str, dict[str, float]] = {}
    with Store.connect(url, auth_user_id=auth_id, max_size=1) as store:
        store.me()  # the membership lookup happens once per store, not per call
        cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "conversations.get": (lambda: store.conversations.get(conversation), lambda: run_bare(get_op)),
            "messages.list(50)": (
                lambda: store.messages.list(conversation, limit=50),
                lambda: run_bare(page_op),
            ),
            "conversations.list(20)": (lambda: store.conversations.list(limit=20), lambda: run_bare(list_op)),
            "messages.append": (
                lambda: store.messages.append(conversation, role="user", content="hi"),
                lambda: run_bare(append_op()),
            ),
        }
        for name, (through_store, through_bare) in cases.items():
            for fn in (through_store, through_bare):  # warm both: plans, pool, caches
                for _ in range(50):
                    fn()
            store_ms, bare_ms = [], []
            for _ in range(5):  # interleave to share any drift of the machine
                store_ms.append(_median_ms(through_store, rounds // 5))
                bare_ms.append(_median_ms(through_bare, rounds // 5))
            s, b = statistics.median(store_ms), statistics.median(bare_ms)
            results[name] = {"store_ms": round(s, 4), "bare_ms": round(b, 4), "ratio": round(s / b, 3)}
    bare.close()
    return results


def recorder_throughput(url: str, increments: int) -> dict[str, Any]:
    tenant, members = _setup_recorder_tenant(url)
    threads = 4
    per_thread = increments // threads
    with Store.connect(url, service_role=True, max_size=2) as service:
        recorder = UsageRecorder(service, max_keys=1000, interval=0.25)

        def work(offset: int) -> None:
            for i in range(per_thread):
                recorder.record(
                    tenant, members[(i + offset) % len(members)], prompt_tokens=3, completion_tokens=1
                )

        start = time.perf_counter()
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        recorder.close()
        elapsed = time.perf_counter() - start
    total = per_thread * threads
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select sum(request_count), sum(prompt_tokens), sum(completion_tokens) from usage_metrics"
            " where tenant_id = %s",
            (tenant,),
        ).fetchone()
    assert row is not None
    exact = (int(row[0]), int(row[1]), int(row[2])) == (total, 3 * total, total)
    return {
        "increments": total,
        "seconds": round(elapsed, 3),
        "increments_per_s": round(total / elapsed),
        "totals_exact": exact,
    }


def _setup_recorder_tenant(url: str) -> tuple[uuid.UUID, list[uuid.UUID]]:
    tenant = uuid.uuid4()
    members = [uuid.uuid4() for _ in range(50)]
    with psycopg.connect(url) as conn:
        conn.execute("insert into tenants (id, name, slug) values (%s, 'Recorder', 'recorder')", (tenant,))
        for i, member in enumerate(members):
            conn.execute(
                "insert into users (id, tenant_id, email) values (%s, %s, %s)",
                (member, tenant, f"r{i}@example.test"),
            )
    return tenant, members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--increments", type=int, default=200_000)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or embedded.start()
    url = database.create_database(server, "supatenant_bench")
    try:
        database.prepare(url)
        report = {
            "repository_vs_bare_psycopg": overhead(url, args.rounds),
            "usage_recorder": recorder_throughput(url, args.increments),
        }
        print(json.dumps(report, indent=2))
    finally:
        database.drop_database(url)


if __name__ == "__main__":
    main()
