"""Seeding speed: row generation and COPY measured apart.

    .venv/bin/python -m bench.bench_seed [--tenants 20]

Plans ``--tenants`` tenants of the ``load`` preset (10,000 messages each), then writes
them with the seed's own writer into a database of its own. Reports messages per second
for generation (pure Python), for writing (COPY, one transaction per tenant), for the two
one after the other (the baseline), and for ``seed_database`` itself, which spreads the
tenants over worker processes, each planning and loading its own; the ratio is against
the baseline, run in the same process. Figures only; nothing here asserts a
speed. Uses DATABASE_URL when set, else the embedded server.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import psycopg

from supatenant import database, embedded
from supatenant.seeding.load import Layout, default_jobs, seed_database, write_tenant
from supatenant.seeding.plan import ANCHOR, PRESETS, tenant_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    args = parser.parse_args()
    sizes = dataclasses.replace(PRESETS["load"], tenants=args.tenants)
    server = os.environ.get("DATABASE_URL") or embedded.start()
    url = database.create_database(server, "supatenant_bench_seed")
    parallel_url = database.create_database(server, "supatenant_bench_seed")
    try:
        database.prepare(url)
        database.prepare(parallel_url)
        start = time.perf_counter()
        plans = [tenant_rows(sizes, 1, i, ANCHOR) for i in range(sizes.tenants)]
        planned = time.perf_counter() - start
        messages = sum(len(p.messages) for p in plans)
        with psycopg.connect(url) as conn:
            layout = Layout.read(conn)
            start = time.perf_counter()
            for plan in plans:
                write_tenant(conn, layout, plan)
            written = time.perf_counter() - start
        start = time.perf_counter()
        seed_database(parallel_url, sizes, 1, ANCHOR, jobs=default_jobs())
        parallel = time.perf_counter() - start
        report = {
            "messages": messages,
            "generate_s": round(planned, 2),
            "generate_messages_per_s": round(messages / planned),
            "copy_s": round(written, 2),
            "copy_messages_per_s": round(messages / written),
            "serial_messages_per_s": round(messages / (planned + written)),
            "seed_database_s": round(parallel, 2),
            "seed_database_messages_per_s": round(messages / parallel),
            "seed_database_vs_serial": round((planned + written) / parallel, 2),
        }
        print(json.dumps(report, indent=2))
    finally:
        database.drop_database(url)
        database.drop_database(parallel_url)


if __name__ == "__main__":
    main()
