"""The assistant turn: streaming, record_turn throughput, the quota check and thread reads.

    .venv/bin/python -m bench.bench_turns [--rounds 30] [--seconds 3] [--messages 200000]

1. A 2,000-chunk streamed reply (``messages.stream``, default buffer) against storing the
   same text whole (``messages.append``): round trips and median wall time, and their ratio.
2. ``record_turn`` per second at 1, 4 and 16 connections against the pair it replaces
   (``messages.append`` of the reply, then ``usage.increment``), each thread on a store of
   its own, for ``--seconds`` each.
3. The quota check's cost: ``record_turn`` medians for a tenant whose plan sets limits
   against one whose plan sets none.
4. The thread read (latest 50 by ``seq``) as a member against the service role on the
   ``bench.dataset`` data (``--messages``), medians and ratio.

Reports figures only; nothing here asserts a speed. Uses DATABASE_URL when set, else the
embedded server, in a database of its own that is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg

from bench.dataset import BIG_TENANT_SLUG, load, scratch_database
from supatenant import Store
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as

CHUNKS = [f"tok{n % 97} " for n in range(2000)]  # about 6 bytes each, like streamed tokens


def _tenant(url: str, plan: str, members: int = 16) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    """A tenant on ``plan`` with ``members`` members, each owning one conversation."""
    tenant = uuid.uuid4()
    ids, convs = [], []
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into tenants (id, name, slug, plan) values (%s, 'Bench', %s, %s)",
            (tenant, f"turns-{tenant.hex[:12]}", plan),
        )
        for n in range(members):
            member, conv = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                "insert into users (id, tenant_id, email) values (%s, %s, %s)",
                (member, tenant, f"m{n}-{tenant.hex[:8]}@example.test"),
            )
            conn.execute(
                "insert into conversations (id, tenant_id, user_id) values (%s, %s, %s)",
                (conv, tenant, member),
            )
            ids.append(member)
            convs.append(conv)
    return tenant, ids, convs


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def streaming(url: str, rounds: int) -> dict[str, Any]:
    tenant, members, convs = _tenant(url, "pro", 1)
    text = "".join(CHUNKS)
    trips: list[int] = []
    with Store.connect(url, service_role=True, max_size=1) as service:
        back = service.for_member(tenant, members[0])

        def streamed() -> None:
            with back.messages.stream(convs[0], model="bench") as s:
                for chunk in CHUNKS:
                    s.append(chunk)
                s.set_usage(prompt_tokens=800, completion_tokens=2000, cost_usd=Decimal("0.001"))
            trips.append(s.round_trips)

        def whole() -> None:
            back.messages.append(convs[0], role="assistant", content=text, model="bench", token_count=2000)

        stream_ms, whole_ms = [], []
        for _ in range(rounds):  # interleaved, so drift hits both alike
            stream_ms.append(_median_ms(streamed, 1))
            whole_ms.append(_median_ms(whole, 1))
    s_ms, w_ms = statistics.median(stream_ms), statistics.median(whole_ms)
    return {
        "chunks": len(CHUNKS),
        "bytes": len(text),
        "stream_round_trips": max(trips),
        "whole_round_trips": 1,
        "stream_ms": round(s_ms, 3),
        "whole_ms": round(w_ms, 3),
        "stream_over_whole": round(s_ms / w_ms, 2),
    }


def _throughput(url: str, connections: int, seconds: float, turn: bool) -> float:
    tenant, members, convs = _tenant(url, "pro", connections)
    done = [0] * connections
    barrier = threading.Barrier(connections + 1)
    stop = threading.Event()

    def work(n: int) -> None:
        with Store.connect(url, service_role=True, max_size=1) as service:
            back = service.for_member(tenant, members[n])
            barrier.wait()
            while not stop.is_set():
                if turn:
                    back.messages.record_turn(
                        convs[n],
                        user_content="q",
                        assistant_content="a",
                        model="bench",
                        prompt_tokens=800,
                        completion_tokens=160,
                        cost_usd=Decimal("0.003"),
                    )
                else:
                    back.messages.append(
                        convs[n], role="assistant", content="a", model="bench", token_count=160
                    )
                    service.usage.increment(
                        tenant,
                        members[n],
                        prompt_tokens=800,
                        completion_tokens=160,
                        cost_usd=Decimal("0.003"),
                    )
                done[n] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def record_turn_rate(url: str, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for connections in (1, 4, 16):
        turns = _throughput(url, connections, seconds, turn=True)
        pairs = _throughput(url, connections, seconds, turn=False)
        out[f"{connections}_connections"] = {
            "record_turn_per_s": round(turns, 1),
            "append_plus_increment_per_s": round(pairs, 1),
            "ratio": round(turns / pairs, 2),
        }
    return out


def quota_cost(url: str, rounds: int) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        conn.execute(
            "update private.plans set monthly_tokens = 1000000000000, monthly_cost_usd = 1000000000,"
            " requests_per_day = 2000000000 where plan = 'team'"
        )
    limited = _tenant(url, "team", 1)
    free = _tenant(url, "pro", 1)
    with Store.connect(url, service_role=True, max_size=1) as service:

        def turn(who: tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]) -> Callable[[], object]:
            back = service.for_member(who[0], who[1][0])
            return lambda: back.messages.record_turn(
                who[2][0], user_content="q", assistant_content="a", prompt_tokens=10, completion_tokens=5
            )

        checked, unchecked = turn(limited), turn(free)
        with_ms, without_ms = [], []
        for _ in range(rounds):
            with_ms.append(_median_ms(checked, 5))
            without_ms.append(_median_ms(unchecked, 5))
    w, wo = statistics.median(with_ms), statistics.median(without_ms)
    with psycopg.connect(url) as conn:
        conn.execute(
            "update private.plans set monthly_tokens = null, monthly_cost_usd = null, requests_per_day = null"
            " where plan = 'team'"
        )
    return {
        "turn_with_quota_ms": round(w, 3),
        "turn_without_quota_ms": round(wo, 3),
        "quota_share_of_turn": round((w - wo) / w, 3),
    }


THREAD = (
    "select id, role, content, created_at from messages"
    " where tenant_id = %s and conversation_id = %s order by seq desc limit 50"
)


def thread_read(url: str, messages: int, rounds: int) -> dict[str, Any]:
    load(url, messages)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select u.tenant_id, u.auth_id, c.id from users u"
            " join conversations c on c.tenant_id = u.tenant_id and c.user_id = u.id"
            " where u.tenant_id = (select id from tenants where slug = %s) and u.role = 'member'"
            " and u.auth_id is not null and c.message_count > 0 order by u.email, c.id limit 1",
            (BIG_TENANT_SLUG,),
        ).fetchone()
        assert row is not None
        tenant, auth_id, conversation = row
        timings: dict[str, list[float]] = {"member": [], "service_role": []}
        identities = {"member": Identity.user(auth_id), "service_role": Identity.service()}
        for _ in range(rounds * 10):
            for name, identity in identities.items():
                start = time.perf_counter()
                with conn.transaction():
                    act_as(conn, identity)
                    got = conn.execute(THREAD, (tenant, conversation)).fetchall()
                timings[name].append(time.perf_counter() - start)
                assert len(got) == 50
    member, service = (statistics.median(timings[n]) * 1000 for n in ("member", "service_role"))
    return {
        "messages": messages,
        "member_ms": round(member, 3),
        "service_role_ms": round(service, 3),
        "member_over_service": round(member / service, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    with scratch_database("supatenant_bench_turns") as url:
        report = {
            "streamed_reply": streaming(url, args.rounds),
            "record_turn": record_turn_rate(url, args.seconds),
            "quota_check": quota_cost(url, args.rounds),
        }
    # the benchmark data set fills every conversation of its database: one of its own
    with scratch_database("supatenant_bench_turns") as url:
        report["thread_read"] = thread_read(url, args.messages, args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
