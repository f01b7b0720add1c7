"""Wall time of the full ``supatenant check`` (scratch database) on a project of 100 migrations.

    .venv/bin/python -m bench.bench_check_full [--migrations 100] [--review N]

The project is this one plus generated migrations up to ``--migrations`` in all, each of a
kind a team adds (a tenant-owned table with RLS, a policy and an indexed key; a nullable
column; an index built concurrently alone in its file; a widened check; a documented
function), each with its rollback: all correct, so the check must report nothing. Every
file is under review (no target), or the last ``--review`` ones. The baseline, in the same
process, is what a push costs anyway: ``supabase db push`` of the same files into a new
database. Figures only; nothing here asserts a speed. Uses DATABASE_URL when set, else
the embedded server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from supatenant import database, embedded, history
from supatenant.check.findings import CheckContext
from supatenant.check.scratch import scratch_findings
from supatenant.project import supabase_dir
from supatenant.reference import push_project


def _table(n: int) -> tuple[str, str]:
    t = f"public.bench_items_{n}"
    up = f"""create table if not exists {t} (
  tenant_id uuid not null references public.tenants (id),
  id uuid not null default gen_random_uuid(),
  label text,
  size int check (size >= 0),
  primary key (tenant_id, id)
);
comment on table {t} is 'Generated for the check benchmark.';
alter table {t} enable row level security;
drop policy if exists "Members read their tenant's items" on {t};
create policy "Members read their tenant's items" on {t} for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));
"""
    return up, f"drop table if exists {t};\n"


def _column(n: int) -> tuple[str, str]:
    t = f"public.bench_items_{n}"
    return (
        f"alter table {t} add column if not exists note text;\ncomment on column {t}.note is 'Free text.';\n",
        f"alter table {t} drop column if exists note;\n",
    )


def _index(n: int) -> tuple[str, str]:
    t = f"public.bench_items_{n}"
    return (
        f"create index concurrently if not exists bench_items_{n}_label_idx on {t} (tenant_id, label);\n",
        f"drop index concurrently if exists public.bench_items_{n}_label_idx;\n",
    )


def _widen(n: int) -> tuple[str, str]:
    t = f"public.bench_items_{n}"
    check = f"bench_items_{n}_size_check"
    return (
        f"alter table {t} drop constraint if exists {check};\n"
        f"alter table {t} add constraint {check} check (size >= -1);\n",
        f"alter table {t} drop constraint if exists {check};\n"
        f"alter table {t} add constraint {check} check (size >= 0);\n",
    )


def _function(n: int) -> tuple[str, str]:
    f = f"public.bench_item_count_{n}"
    return (
        f"""create or replace function {f}()
returns bigint
language sql stable
set search_path = ''
as $$ select count(*) from public.bench_items_{n} $$;
comment on function {f}() is 'Rows of bench_items_{n} the caller may read.';
revoke execute on function {f}() from public, anon;
grant execute on function {f}() to authenticated, service_role;
""",
        f"drop function if exists {f}();\n",
    )


KINDS = (_table, _column, _index, _widen, _function)


def build(root: Path, total: int) -> Path:
    project = root / "project"
    shutil.copytree(supabase_dir(), project / "supabase", ignore=shutil.ignore_patterns(".temp", ".branches"))
    have = len(list((project / "supabase" / "migrations").glob("*.sql")))
    for i in range(max(0, total - have)):
        n, kind = divmod(i, len(KINDS))
        up, down = KINDS[kind](n)
        name = f"{20270101000000 + i * 100}_bench_{n}_{KINDS[kind].__name__.strip('_')}"
        (project / "supabase" / "migrations" / f"{name}.sql").write_text(up)
        (project / "supabase" / "rollbacks" / f"{name}.down.sql").write_text(down)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=100)
    parser.add_argument("--review", type=int, default=None, help="only the last N files (default: all)")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or embedded.start()
    with tempfile.TemporaryDirectory(prefix="supatenant-bench-") as tmp:
        project = build(Path(tmp), args.migrations)
        files = tuple(f.path for f in history.migration_files(project))
        reviewed = files if args.review is None else files[-args.review :]
        ctx = CheckContext(project, files, reviewed, server_url=server)

        url = database.create_database(server, "supatenant_bench_check")
        try:
            start = time.perf_counter()
            push_project(url, project)
            push = time.perf_counter() - start
        finally:
            database.drop_database(url)

        start = time.perf_counter()
        findings = list(scratch_findings(ctx))
        check = time.perf_counter() - start
    report = {
        "migrations": len(files),
        "under_review": len(reviewed),
        "findings": len(findings),
        "check_scratch_s": round(check, 2),
        "baseline_db_push_s": round(push, 2),
        "ratio_check_to_push": round(check / push, 2),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))
    for f in findings:
        print(f"{f.rule} {f.file}:{f.line} {f.message}")


if __name__ == "__main__":
    main()
