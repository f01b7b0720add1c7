"""Schema benchmark: usage increments and the RLS cost of reading a thread.

    .venv/bin/python -m bench.bench_schema [--messages 1000000] [--seconds 3]

Reports figures only; nothing here asserts a speed. Uses DATABASE_URL when set, else the
embedded server, in a database of its own that is dropped at the end. Every ratio
compares two runs made in this same process against the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg

from supatenant import database, embedded
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as

TENANTS = 100
MEMBERS_PER_TENANT = 10


def load(url: str, messages: int) -> None:
    """Bulk-load TENANTS tenants with MEMBERS_PER_TENANT members and ``messages`` messages.

    Triggers are bypassed for the load (session_replication_role = replica) and the
    conversation counters they would keep are set in one statement afterwards.
    """
    per_conversation = 100
    conversations_per_member = max(1, messages // (TENANTS * MEMBERS_PER_TENANT * per_conversation))
    with psycopg.connect(url) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute(
            "insert into tenants (id, name, slug) select gen_random_uuid(), 'Bench ' || t, 'bench-' || t"
            " from generate_series(1, %s) t",
            (TENANTS,),
        )
        conn.execute(
            "insert into auth.users (id, email) select gen_random_uuid(), 'bench' || n || '@example.test'"
            " from generate_series(1, %s) n",
            (TENANTS * MEMBERS_PER_TENANT,),
        )
        conn.execute(
            "insert into users (tenant_id, auth_id, email, role)"
            " select t.id, a.id, a.email, 'member'"
            " from (select id, row_number() over (order by id) - 1 as n from tenants) t"
            " join (select id, email, row_number() over (order by id) - 1 as n from auth.users) a"
            "   on a.n / %s = t.n",
            (MEMBERS_PER_TENANT,),
        )
        conn.execute(
            "insert into conversations (tenant_id, user_id, title)"
            " select u.tenant_id, u.id, 'c' || g from users u, generate_series(1, %s) g",
            (conversations_per_member,),
        )
        conn.execute(
            "insert into messages (tenant_id, conversation_id, user_id, role, content, token_count,"
            " created_at)"
            " select c.tenant_id, c.id, c.user_id, case when g %% 2 = 0 then 'assistant' else 'user' end,"
            "  repeat('lorem ipsum ', 8), 40, now() - (g || ' seconds')::interval"
            " from conversations c, generate_series(1, %s) g",
            (per_conversation,),
        )
        conn.execute(
            "update conversations c set message_count = m.n, last_message_at = m.last"
            " from (select tenant_id, conversation_id, count(*) n, max(created_at) last"
            "       from messages group by 1, 2) m"
            " where m.tenant_id = c.tenant_id and m.conversation_id = c.id"
        )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")


def thread_read_ratio(url: str, rounds: int) -> dict[str, float]:
    """Median time of reading one conversation's latest 50 messages, member vs service role."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select c.tenant_id, c.id, u.auth_id from conversations c join users u"
            " on u.tenant_id = c.tenant_id and u.id = c.user_id order by c.id limit 1"
        ).fetchone()
        assert row is not None
        tenant_id, conversation_id, auth_id = row
        query = (
            "select id, role, content, created_at from messages"
            " where tenant_id = %s and conversation_id = %s order by created_at desc, id desc limit 50"
        )
        timings: dict[str, list[float]] = {"service_role": [], "member": []}
        identities = {"service_role": Identity.service(), "member": Identity.user(auth_id)}
        for _ in range(rounds):
            for name, identity in identities.items():  # alternate, so drift hits both alike
                with conn.transaction():
                    act_as(conn, identity)
                    start = time.perf_counter()
                    rows = conn.execute(query, (tenant_id, conversation_id), prepare=True).fetchall()
                    timings[name].append(time.perf_counter() - start)
                assert len(rows) == 50
    service = statistics.median(timings["service_role"])
    member = statistics.median(timings["member"])
    return {
        "service_role_ms": service * 1e3,
        "member_ms": member * 1e3,
        "member_over_service": member / service,
    }


def _member_keys(url: str, n: int) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [
            (str(r[0]), str(r[1])) for r in conn.execute("select tenant_id, id from users limit %s", (n,))
        ]


def single_increments_per_second(url: str, connections: int, seconds: float) -> float:
    keys = _member_keys(url, 16)
    counts = [0] * connections
    deadline = time.monotonic() + seconds
    barrier = threading.Barrier(connections)

    def work(n: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            i = 0
            while time.monotonic() < deadline:
                tenant_id, user_id = keys[(n + i) % len(keys)]
                conn.execute(
                    "select increment_usage(%s, %s, 10, 5, 0.0001)", (tenant_id, user_id), prepare=True
                )
                i += 1
            counts[n] = i

    threads = [threading.Thread(target=work, args=(n,)) for n in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def batched_increments_per_second(url: str, batch_size: int, seconds: float) -> float:
    keys = _member_keys(url, 1000)
    payload = json.dumps(
        [
            {
                "tenant_id": keys[i % len(keys)][0],
                "user_id": keys[i % len(keys)][1],
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cost_usd": 0.0001,
            }
            for i in range(batch_size)
        ]
    )
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            conn.execute("select increment_usage_batch(%s::jsonb)", (payload,), prepare=True)
            done += batch_size
        return done / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or embedded.start()
    url = database.create_database(server, "supatenant_bench")
    results: dict[str, Any] = {"run": str(uuid.uuid4())[:8]}
    try:
        database.prepare(url)
        start = time.monotonic()
        load(url, args.messages)
        with psycopg.connect(url) as conn:
            counted = conn.execute("select count(*), count(distinct tenant_id) from messages").fetchone()
        assert counted is not None
        results["messages"], results["tenants"] = counted
        results["load_seconds"] = round(time.monotonic() - start, 1)
        results["thread_read"] = thread_read_ratio(url, args.rounds)
        for connections in (1, 4, 16):
            rate = single_increments_per_second(url, connections, args.seconds)
            results[f"increment_usage_per_s_{connections}_conn"] = round(rate)
        batched = batched_increments_per_second(url, 1000, args.seconds)
        results["batched_increments_per_s_1_conn"] = round(batched)
        results["batched_over_single_1_conn"] = round(batched / results["increment_usage_per_s_1_conn"], 1)
    finally:
        database.drop_database(url)
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
