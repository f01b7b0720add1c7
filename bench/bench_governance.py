"""Governance speed: export throughput against a bare COPY of the same rows, the export's
memory, and an erase's wall time and what it makes another tenant's writer wait.

```sh
DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.bench_governance \\
    [--messages 1000000] [--members 10] [--rounds 2]
```

Loads one tenant of ``--members`` members sharing ``--messages`` messages (100 per
conversation), with a rating on every tenth turn and a month of daily usage, plus a small
second tenant, into a scratch database. Then:

- export: JSONL of the whole tenant through ``Store.export.jsonl`` (as the service role)
  against ``COPY (select * from <table> where tenant_id = ...) TO STDOUT`` of the same tables
  read by the same process, rounds alternating; rows/s of each and their ratio;
- memory: the process's resident set sampled during the export, and its peak;
- erase: ``erase_member`` of one member (``messages / members`` messages) while a writer of
  the second tenant adds a message and a usage increment in a transaction of its own, over
  and over: the erase's wall time, the writer's slowest transaction before and during the
  erase, and whether the writer was ever seen waiting on a lock.

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from bench.dataset import VOCABULARY, scratch_database
from supatenant import Store
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as

TABLES = ("tenants", "users", "conversations", "messages", "feedback", "usage_metrics", "audit_events")


def load(url: str, messages: int, members: int) -> tuple[uuid.UUID, list[uuid.UUID], uuid.UUID, uuid.UUID]:
    """The big tenant, its members, and the second tenant with one member and thread."""
    big, small = uuid.uuid4(), uuid.uuid4()
    per_member = messages // members
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Big', 'big'), (%s, 'Small', 'small')",
            (big, small),
        )
        ids = [
            r[0]
            for r in conn.execute(
                "insert into users (tenant_id, email, role) select %s, 'm' || g || '@big.test',"
                " case when g = 1 then 'owner' else 'member' end from generate_series(1, %s) g returning id",
                (big, members),
            ).fetchall()
        ]
        writer = conn.execute(
            "insert into users (tenant_id, email) values (%s, 'w@small.test') returning id", (small,)
        ).fetchone()
        assert writer is not None
        thread = conn.execute(
            "insert into conversations (tenant_id, user_id, title) values (%s, %s, 'writes') returning id",
            (small, writer[0]),
        ).fetchone()
        assert thread is not None
        conn.execute(
            "insert into conversations (tenant_id, user_id, title, message_count, last_message_at)"
            " select %s, u.id, 'thread ' || g, 100, now()"
            " from unnest(%s::uuid[]) u(id), generate_series(1, %s) g",
            (big, ids, max(per_member // 100, 1)),
        )
        conn.commit()
        # messages without the per-row triggers (the counters are set above), words from the vocabulary
        conn.execute("set session_replication_role = replica")
        conn.execute(
            "insert into messages"
            " (tenant_id, conversation_id, user_id, role, content, model, token_count, created_at)"
            " select c.tenant_id, c.id, c.user_id, case when g %% 2 = 1 then 'user' else 'assistant' end,"
            "  (select string_agg("
            "     (%s::text[])[1 + ((g::bigint * 7919 + w * 104729 + hashtext(c.id::text)) & 1023) %% %s],"
            "     ' ')"
            "   from generate_series(1, 8) w),"
            "  case when g %% 2 = 0 then 'gpt-4o-mini' end, case when g %% 2 = 0 then 40 + g end,"
            "  now() - interval '1 day' + g * interval '1 second'"
            " from conversations c cross join generate_series(1, 100) g where c.tenant_id = %s",
            (VOCABULARY, len(VOCABULARY), big),
        )
        conn.execute(
            "insert into feedback (tenant_id, message_id, user_id, rating)"
            " select m.tenant_id, m.id, m.user_id, 1 from messages m"
            " where m.tenant_id = %s and m.role = 'assistant' and hashtext(m.id::text) %% 5 = 0",
            (big,),
        )
        conn.execute("set session_replication_role = origin")
        conn.execute(
            "select increment_usage_batch(jsonb_agg(jsonb_build_object("
            " 'tenant_id', %s::uuid, 'user_id', u.id, 'usage_date', current_date - d,"
            " 'prompt_tokens', 800, 'completion_tokens', 160, 'cost_usd', 0.003)))"
            " from unnest(%s::uuid[]) u(id), generate_series(0, 29) d",
            (big, ids),
        )
        conn.execute("select refresh_summaries()")
        conn.commit()
        conn.autocommit = True
        conn.execute("vacuum analyze")
    return big, ids, small, thread[0]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def export_once(store: Store, tenant: uuid.UUID) -> tuple[int, float, float]:
    """Rows, seconds, and the peak resident set (MB) sampled while it ran."""
    peak = rss_mb()
    rows = 0

    def progress(_: str, __: int) -> None:
        nonlocal peak
        peak = max(peak, rss_mb())

    start = time.perf_counter()
    for chunk in store.export.jsonl(tenant_id=tenant, progress=progress):
        rows += chunk.count(b"\n")
    return rows - 2, time.perf_counter() - start, peak  # less the header and end records


def bare_copy_once(url: str, tenant: uuid.UUID) -> tuple[int, float]:
    rows = 0
    start = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table in TABLES:
            key = "id" if table == "tenants" else "tenant_id"
            query = sql.SQL("copy (select * from public.{} where {} = {}) to stdout").format(
                sql.Identifier(table), sql.Identifier(key), sql.Literal(str(tenant))
            )
            with cur.copy(query) as copy:
                for chunk in copy:
                    rows += bytes(chunk).count(b"\n")
    return rows, time.perf_counter() - start


def writer_loop(
    url: str,
    tenant: uuid.UUID,
    member: uuid.UUID,
    thread: uuid.UUID,
    stop: threading.Event,
    out: list[tuple[float, float]],
    pid: list[int],
) -> None:
    with psycopg.connect(url) as conn:
        pid.append(conn.info.backend_pid)
        while not stop.is_set():
            start = time.perf_counter()
            with conn.transaction():
                act_as(conn, Identity.service())
                conn.execute(
                    "insert into messages (tenant_id, conversation_id, role, content)"
                    " values (%s, %s, 'assistant', 'ok')",
                    (tenant, thread),
                )
                conn.execute("select increment_usage(%s, %s, 10, 5, 0.001)", (tenant, member))
            out.append((start, time.perf_counter() - start))
            time.sleep(0.005)


def erase_with_writer(
    url: str, big: uuid.UUID, member: uuid.UUID, small: uuid.UUID, thread: uuid.UUID
) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        writer_member = conn.execute("select id from users where tenant_id = %s", (small,)).fetchone()
        erased_messages = conn.execute(
            "select count(*) from messages where tenant_id = %s and user_id = %s", (big, member)
        ).fetchone()
    assert writer_member is not None
    assert erased_messages is not None
    stop = threading.Event()
    samples: list[tuple[float, float]] = []
    pid: list[int] = []
    writer = threading.Thread(
        target=writer_loop, args=(url, small, writer_member[0], thread, stop, samples, pid)
    )
    writer.start()
    time.sleep(2.0)  # the writer's pace before the erase
    lock_waits = 0
    watching = threading.Event()

    def watch() -> None:
        nonlocal lock_waits
        with psycopg.connect(url, autocommit=True) as w:
            while not watching.is_set():
                row = w.execute(
                    "select wait_event_type from pg_stat_activity where pid = %s", (pid[0],)
                ).fetchone()
                if row and row[0] == "Lock":
                    lock_waits += 1
                time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    begun = time.perf_counter()
    with psycopg.connect(url) as conn, conn.transaction():
        act_as(conn, Identity.service())
        report = conn.execute("select erase_member(%s, %s)", (big, member)).fetchone()
    ended = time.perf_counter()
    time.sleep(0.5)
    stop.set()
    watching.set()
    writer.join()
    watcher.join()
    before = [d for s, d in samples if s < begun]
    during = [d for s, d in samples if begun <= s <= ended]
    return {
        "erased messages": erased_messages[0],
        "report": report[0] if report else None,
        "erase wall s": round(ended - begun, 2),
        "writer transactions before / during": (len(before), len(during)),
        "writer slowest before ms": round(max(before) * 1000, 1) if before else None,
        "writer median before ms": round(statistics.median(before) * 1000, 1) if before else None,
        "writer slowest during ms": round(max(during) * 1000, 1) if during else None,
        "writer median during ms": round(statistics.median(during) * 1000, 1) if during else None,
        "writer seen waiting on a lock (samples)": lock_waits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with scratch_database("supatenant_bench_gov") as url:
        started = time.perf_counter()
        big, members, small, thread = load(url, args.messages, args.members)
        print(f"loaded {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
        base_rss = rss_mb()
        exports: list[tuple[int, float]] = []
        copies: list[tuple[int, float]] = []
        peak = 0.0
        with Store.connect(url, service_role=True) as store:
            for _ in range(args.rounds):
                rows, seconds, top = export_once(store, big)
                exports.append((rows, seconds))
                peak = max(peak, top)
                copies.append(bare_copy_once(url, big))
        e_rows, e_s = min(exports, key=lambda x: x[1])
        c_rows, c_s = min(copies, key=lambda x: x[1])
        print(f"export JSONL   {e_rows:,} rows in {e_s:.2f} s: {e_rows / e_s:,.0f} rows/s")
        print(f"bare COPY      {c_rows:,} rows in {c_s:.2f} s: {c_rows / c_s:,.0f} rows/s")
        print(f"(best of {args.rounds} rounds each, alternating)")
        print(f"ratio          {(e_rows / e_s) / (c_rows / c_s):.2f}x of the bare COPY")
        print(f"RSS            {base_rss:.0f} MB before the export, peak {peak:.0f} MB during it")
        for name, value in erase_with_writer(url, big, members[1], small, thread).items():
            print(f"erase: {name}: {value}")


if __name__ == "__main__":
    main()
