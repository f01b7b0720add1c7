"""Round trips and latency per call: the store against bare psycopg, direct and over a link
with added latency.

    .venv/bin/python -m bench.bench_roundtrips [--rounds 300] [--delay-ms 0.5]

Every connection goes through a local TCP proxy (:mod:`bench.wire_proxy`) that counts round
trips (the server's ReadyForQuery messages) and, in the second pass, holds each chunk
``--delay-ms`` in each direction (1 ms of round-trip latency by default), which is what a
hosted database adds. For ``conversations.get``, ``messages.list(50)`` and
``messages.append`` it reports round trips per call, the median time and the median CPU
time of the calling thread (what the client side costs), on a store made per request
(``service.as_user(...)``: its first call also looks up the membership, in the same round
trip) and on a reused one, and for bare psycopg doing the same work as a typical app would:
a transaction that sets role and claims, runs the statement and commits (its statement
composed beforehand). Figures only; nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from bench.wire_proxy import Proxy
from supatenant import Store, _sql, database, embedded
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.ops import Insert, Select, eq
from supatenant.paging import newest_first


def _setup(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    tenant, auth_id, member, conversation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute("insert into tenants (id, name, slug) values (%s, 'Bench', 'bench-rt')", (tenant,))
        conn.execute("insert into auth.users (id, email) values (%s, 'rt@example.test')", (auth_id,))
        conn.execute(
            "insert into users (id, tenant_id, auth_id, email) values (%s, %s, %s, 'rt@example.test')",
            (member, tenant, auth_id),
        )
        conn.execute(
            "insert into conversations (id, tenant_id, user_id, title) values (%s, %s, %s, 'bench')",
            (conversation, tenant, member),
        )
        conn.execute(
            "insert into messages (tenant_id, conversation_id, role, content)"
            " select %s, %s, 'user', 'message ' || n from generate_series(1, 200) n",
            (tenant, conversation),
        )
    return tenant, auth_id, member, conversation


def _measure(proxy: Proxy, rounds: int, call: Callable[[], Any]) -> dict[str, float]:
    for _ in range(10):
        call()  # warm: pools, prepared statements, caches
    times, cpu = [], []
    start_trips = proxy.trips
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - c0)
        times.append(time.perf_counter() - t0)
    return {
        "round_trips": round((proxy.trips - start_trips) / rounds, 2),
        "median_ms": round(statistics.median(times) * 1000, 3),
        # this thread only: the proxy runs in another
        "cpu_ms": round(statistics.median(cpu) * 1000, 3),
    }


def run(url: str, rounds: int, delay_ms: float) -> dict[str, Any]:
    tenant, auth_id, _member, conversation = _setup(url)
    parts = urlsplit(url)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
    get_op = Select("conversations", (eq("tenant_id", str(tenant)), eq("id", str(conversation))), single=True)
    list_op = Select(
        "messages",
        (eq("tenant_id", str(tenant)), eq("conversation_id", str(conversation))),
        newest_first("created_at"),
        51,
    )
    results: dict[str, Any] = {}
    for label, delay in (("direct", 0.0), (f"+{2 * delay_ms:g} ms round trip", delay_ms / 1000)):
        proxy = Proxy(upstream, delay)
        results[label] = _link(
            proxy, proxy.url(url), rounds, (tenant, auth_id, conversation), (get_op, list_op)
        )
    return results


def _link(
    proxy: Proxy,
    via: str,
    rounds: int,
    ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    ops: tuple[Select, Select],
) -> dict[str, Any]:
    """Every call, measured through ``proxy``."""
    tenant, auth_id, conversation = ids
    identity = Identity.user(auth_id)
    append_op = Insert(
        "messages",
        (
            {
                "tenant_id": str(tenant),
                "conversation_id": str(conversation),
                "role": "user",
                "content": "bench",
            },
        ),
    )
    figures: dict[str, Any] = {}
    with (
        Store.connect(via, service_role=True, max_size=1) as service,
        psycopg.connect(via, row_factory=dict_row) as bare,
    ):

        def bare_call(op: Any) -> Callable[[], Any]:
            query, params = _sql.statement(op)

            def call() -> Any:
                with bare.transaction():
                    act_as(bare, identity)
                    return bare.execute(query, params).fetchall()

            return call

        reused = service.as_user(auth_id)
        reused.me()
        calls: dict[str, dict[str, Callable[[], Any]]] = {
            "conversations.get": {
                "store, reused": lambda: reused.conversations.get(conversation),
                "store, per request": lambda: service.as_user(auth_id).conversations.get(conversation),
                "bare psycopg": bare_call(ops[0]),
            },
            "messages.list(50)": {
                "store, reused": lambda: reused.messages.list(conversation, limit=50),
                "store, per request": lambda: service.as_user(auth_id).messages.list(conversation, limit=50),
                "bare psycopg": bare_call(ops[1]),
            },
            "messages.append": {
                "store, reused": lambda: reused.messages.append(conversation, role="user", content="bench"),
                "store, per request": lambda: service.as_user(auth_id).messages.append(
                    conversation, role="user", content="bench"
                ),
                "bare psycopg": bare_call(append_op),
            },
        }
        for name, variants in calls.items():
            measured = {variant: _measure(proxy, rounds, call) for variant, call in variants.items()}
            base = measured["bare psycopg"]
            for variant in ("store, reused", "store, per request"):
                measured[variant]["vs_bare"] = round(measured[variant]["median_ms"] / base["median_ms"], 2)
                measured[variant]["cpu_vs_bare"] = round(measured[variant]["cpu_ms"] / base["cpu_ms"], 2)
            figures[name] = measured
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--delay-ms", type=float, default=0.5, help="added each way (default 0.5)")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or embedded.start()
    url = database.create_database(server, "supatenant_bench_rt")
    try:
        database.prepare(url)
        print(json.dumps(run(url, args.rounds, args.delay_ms), indent=2))
    finally:
        database.drop_database(url)


if __name__ == "__main__":
    main()
