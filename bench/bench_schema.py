"""Schema benchmark: the RLS cost of typical reads, and usage increments.

    .venv/bin/python -m bench.bench_schema [--messages 1000000] [--conversations-per-tenant 15000]
        [--seconds 3] [--rounds 2000] [--read-seconds 5] [--search "refund -shipping"]

Loads the data of ``bench.dataset`` (100 tenants, ``--messages`` messages), runs the
read comparisons of ``bench.bench_rls`` (member or admin against the service role with an
explicit tenant filter), then measures ``increment_usage`` at 1, 4 and 16 connections
and ``increment_usage_batch``.

Reports figures only; nothing here asserts a speed. Uses DATABASE_URL when set, else the
embedded server, in a database of its own that is dropped at the end. Every ratio
compares two runs made in this same process against the same database.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from typing import Any

import psycopg

from bench import bench_rls
from bench.dataset import load, scratch_database


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
    bench_rls.add_arguments(parser)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per throughput measurement")
    args = parser.parse_args()

    results: dict[str, Any] = {"run": str(uuid.uuid4())[:8]}
    with scratch_database() as url:
        start = time.monotonic()
        load(url, args.messages, args.conversations_per_tenant)
        with psycopg.connect(url) as conn:
            counted = conn.execute("select count(*), count(distinct tenant_id) from messages").fetchone()
        assert counted is not None
        results["messages"], results["tenants"] = counted
        results["load_seconds"] = round(time.monotonic() - start, 1)
        results["rls_reads"] = bench_rls.run(url, args.rounds, args.read_seconds, args.search)
        for connections in (1, 4, 16):
            rate = single_increments_per_second(url, connections, args.seconds)
            results[f"increment_usage_per_s_{connections}_conn"] = round(rate)
        batched = batched_increments_per_second(url, 1000, args.seconds)
        results["batched_increments_per_s_1_conn"] = round(batched)
        results["batched_over_single_1_conn"] = round(batched / results["increment_usage_per_s_1_conn"], 1)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
