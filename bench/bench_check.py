"""``supatenant check`` benchmark: static rules only, on this project grown to 100 migrations.

    .venv/bin/python -m bench.bench_check [--migrations 100] [--rounds 5]

Copies the project's supabase/ folder into a temporary directory and adds generated
migrations (new tenant tables with RLS, policies and indexed foreign keys; nullable columns;
concurrent indexes alone in their files) until it holds ``--migrations`` files. Then times:

- the whole command, ``supatenant check --project DIR`` in a fresh process (interpreter start
  and imports included), every file under review;
- the static source alone in this process, every file under review, and with only the newest
  file under review (as with a target that applied the rest).

Reports figures only (best and median of ``--rounds``); nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from supatenant.check.findings import CheckContext
from supatenant.check.static import migration_files, static_source

ROOT = Path(__file__).resolve().parents[1]

TABLE = """\
-- Generated table {n}: a tenant-owned record attached to a conversation.
create table if not exists public.records_{n} (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  conversation_id uuid not null,
  author_id uuid not null,
  title varchar(200) not null check (length(btrim(title)) > 0),
  status varchar(20) not null default 'open' check (status in ('open', 'closed')),
  body text,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, conversation_id) references public.conversations (tenant_id, id) on delete cascade,
  foreign key (tenant_id, author_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.records_{n} is 'Generated for the benchmark.';
create index if not exists records_{n}_tenant_id_conversation_id_idx
  on public.records_{n} (tenant_id, conversation_id);
create index if not exists records_{n}_tenant_id_author_id_idx on public.records_{n} (tenant_id, author_id);
alter table public.records_{n} enable row level security;
revoke all on public.records_{n} from anon, authenticated, service_role;
grant select, insert on public.records_{n} to authenticated;
grant select, insert, update, delete on public.records_{n} to service_role;
drop policy if exists "Members read their tenant's records" on public.records_{n};
create policy "Members read their tenant's records" on public.records_{n}
  for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));
drop policy if exists "Members add records of their own" on public.records_{n};
create policy "Members add records of their own" on public.records_{n}
  for insert to authenticated
  with check ((tenant_id, author_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));
"""
COLUMN = """\
alter table public.records_{m} add column if not exists note_{n} text;
comment on column public.records_{m}.note_{n} is 'Generated for the benchmark.';
"""
INDEX = """\
create index concurrently if not exists records_{m}_tenant_id_created_at_{n}_idx
  on public.records_{m} (tenant_id, created_at);
"""


def grow(project: Path, total: int) -> int:
    """Add generated migrations to ``project`` until it has ``total``; returns how many lines."""
    shutil.copytree(
        ROOT / "supabase", project / "supabase", ignore=shutil.ignore_patterns(".temp", ".branches")
    )
    migrations, downs = project / "supabase" / "migrations", project / "supabase" / "rollbacks"
    existing = len(migration_files(project))
    tables: list[int] = []
    for n in range(total - existing):
        if not tables or n % 3 == 0:
            sql = TABLE.format(n=n)
            tables.append(n)
        elif n % 3 == 1:
            sql = COLUMN.format(n=n, m=tables[-1])
        else:
            sql = INDEX.format(n=n, m=tables[-1])
        name = f"2027{n:06d}000000_generated_{n}"
        (migrations / f"{name}.sql").write_text(sql)
        (downs / f"{name}.down.sql").write_text("-- the inverse\n")
    return sum(len(p.read_text().splitlines()) for p in migration_files(project))


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """Best and median wall time, and median CPU time (this process and its children), in s."""
    walls, cpus = [], []
    for _ in range(rounds):
        start, cpu = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        lines = grow(project, args.migrations)
        migrations = migration_files(project)
        command = [
            sys.executable,
            "-m",
            "supatenant.cli",
            "check",
            "--static-only",  # the files alone; bench_check_full times the scratch database
            "--project",
            str(project),
            "--format",
            "json",
        ]
        found = json.loads(subprocess.run(command, capture_output=True, text=True, check=False).stdout)
        cli = timed(lambda: subprocess.run(command, capture_output=True, check=False), args.rounds)
        every = CheckContext(project, migrations, migrations)
        newest = CheckContext(project, migrations, migrations[-1:])
        all_files = timed(lambda: list(static_source(every)), args.rounds)
        last_file = timed(lambda: list(static_source(newest)), args.rounds)
    print(f"project: {len(migrations)} migrations, {lines} lines of SQL; {len(found['findings'])} findings")
    for label, (best, median, cpu) in (
        ("supatenant check --static-only, new process, all files", cli),
        ("static source in process, all files", all_files),
        ("static source in process, newest file only", last_file),
    ):
        print(f"{label:<44} wall best {best:.3f} s  median {median:.3f} s  cpu {cpu:.3f} s")
    print(f"(the machine's load average: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
