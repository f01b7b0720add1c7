"""The scratch-database source of ``supatenant check``: small projects, each file a mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from supatenant.check.scratch import scratch_findings
from tests.integration.check_projects import context, make_project, where

BASE = """create table if not exists public.items (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  status text not null default 'a' constraint items_status_check check (status in ('a', 'b', 'c'))
);
alter table public.items enable row level security;
comment on table public.items is 'Things.';
drop policy if exists "Anyone signed in reads items" on public.items;
create policy "Anyone signed in reads items" on public.items for select to authenticated using (true);
"""
BASE_DOWN = "drop table if exists public.items;\n"


def test_the_project_s_own_migrations_give_nothing(server_url: str) -> None:
    from supatenant.project import project_dir

    ctx = context(project_dir(), server_url=server_url)
    assert list(scratch_findings(ctx)) == []


def test_each_mistake_is_found_at_its_file_and_line(tmp_path: Path, server_url: str) -> None:
    files = {
        "20260101000000_base.sql": BASE,
        # line 2: a second run fails (no if not exists)
        "20260101000100_notes.sql": "-- notes\ncreate table public.notes (id uuid primary key);\n"
        "alter table public.notes enable row level security;\n",
        # line 1: an unnamed index: every run adds another
        "20260101000200_index.sql": "create index on public.items (name);\n",
        # line 2: items exists with other columns, so this does nothing
        "20260101000300_clash.sql": "\ncreate table if not exists public.items (id uuid primary key, title text);\n",
        # line 1: a misspelled name; line 2-3: the re-runnable idiom, silent
        "20260101000400_drops.sql": "drop index if exists public.itmes_name_idx;\n"
        'drop policy if exists "Signed in users read items" on public.items;\n'
        'create policy "Signed in users read items" on public.items for select to authenticated using (true);\n',
        # line 2: 'c' was allowed and is refused now
        "20260101000500_narrow.sql": "alter table public.items drop constraint if exists items_status_check;\n"
        "alter table public.items add constraint items_status_check check (status in ('a', 'b'));\n",
        # the rollback leaves the column behind (the file applies again all the same)
        "20260101000600_column.sql": "alter table public.items add column if not exists note text;\n",
        # line 1: exposed with RLS off; line 3: a policy that reads its own table; line 5: anon may execute
        "20260101000700_exposed.sql": "create table if not exists public.open (id int primary key);\n"
        "create table if not exists public.docs (id int primary key, owner uuid);\n"
        "alter table public.docs enable row level security;\n"
        "create policy docs_read on public.docs for select to authenticated"
        " using (exists (select 1 from public.docs d where d.owner = (select auth.uid())));\n"
        "create or replace function public.ping() returns int language sql set search_path = '' as 'select 1';\n",
        # "idempotency" by dropping: line 2 drops the table a second run empties
        "20260101000750_rebuild.sql": "create table if not exists public.cache (id int primary key);\n"
        "drop table if exists public.cache;\ncreate table public.cache (id int primary key);\n"
        "alter table public.cache enable row level security;\n",
        # line 3: a table that does not exist at this point; the files after it are not run
        "20260101000800_unknown.sql": "-- x\n\nalter table public.nope add column x int;\n",
        "20260101000900_after.sql": "create table public.later (id int);\n",
    }
    rollbacks = {
        "20260101000000_base.down.sql": BASE_DOWN,
        "20260101000600_column.down.sql": "select 1;\n",
    }
    project = make_project(tmp_path / "broken", files, rollbacks)
    found = list(scratch_findings(context(project, "20260101000100", server_url)))
    got = where(found)
    expected = {
        ("not-rerunnable", "20260101000100_notes.sql", 2),
        ("rls-without-policy", "20260101000100_notes.sql", 2),
        ("not-rerunnable", "20260101000200_index.sql", 1),
        ("if-not-exists-clash", "20260101000300_clash.sql", 2),
        ("drop-if-exists-unknown", "20260101000400_drops.sql", 1),
        ("check-narrowed", "20260101000500_narrow.sql", 2),
        ("rollback-not-inverse", "20260101000600_column.down.sql", 1),
        ("rls-disabled", "20260101000700_exposed.sql", 1),
        ("policy-reads-own-table", "20260101000700_exposed.sql", 2),
        ("not-rerunnable", "20260101000700_exposed.sql", 4),  # create policy without a guard
        ("function-executable-by-anon", "20260101000700_exposed.sql", 5),
        ("destructive-idempotency", "20260101000750_rebuild.sql", 2),
        ("rls-without-policy", "20260101000750_rebuild.sql", 1),
        ("unknown-reference", "20260101000800_unknown.sql", 3),
    }
    assert expected <= got, sorted(got)
    unexpected = {g for g in got if g not in expected and not g[0].startswith("advisor-")}
    assert unexpected == set()
    assert not any(f.file and f.file.endswith("20260101000900_after.sql") for f in found)
    messages = {(f.rule, f.object): f.message for f in found}
    assert "'c'" in messages[("check-narrowed", "public.items.items_status_check")]
    assert "itmes_name_idx" in messages[("drop-if-exists-unknown", "public.itmes_name_idx")]
    # Supabase's advisors are delegated: the table exposed without RLS is theirs too
    assert any(f.rule.startswith("advisor-") and f.object == "public.open" for f in found)


CLEAN = {
    "20260101000000_base.sql": BASE,
    # expand: a new column beside the old one, filled from it; nullable
    "20260101000100_expand.sql": "alter table public.items add column if not exists title text;\n"
    "comment on column public.items.title is 'Replaces name.';\n",
    "20260101000200_index.sql": "create index concurrently if not exists items_title_idx on public.items (title);\n",
    # a widened check
    "20260101000300_widen.sql": "alter table public.items drop constraint if exists items_status_check;\n"
    "alter table public.items add constraint items_status_check check (status in ('a', 'b', 'c', 'd'));\n",
    # a new table with RLS, a policy per command and an indexed foreign key
    "20260101000400_parts.sql": """create table if not exists public.parts (
  id uuid primary key default gen_random_uuid(),
  item_id uuid not null references public.items (id)
);
create index if not exists parts_item_id_idx on public.parts (item_id);
alter table public.parts enable row level security;
comment on table public.parts is 'Parts of items.';
drop policy if exists "Signed in users read parts" on public.parts;
create policy "Signed in users read parts" on public.parts for select to authenticated using (true);
""",
    # names without a schema resolve through the search path, on every run
    "20260101000500_plain.sql": """create table if not exists plain_notes (id uuid primary key default gen_random_uuid());
comment on table plain_notes is 'Notes, named without a schema.';
alter table plain_notes enable row level security;
drop policy if exists "Signed in users read notes" on plain_notes;
create policy "Signed in users read notes" on plain_notes for select to authenticated using (true);
""",
}
CLEAN_DOWN = {
    "20260101000000_base.down.sql": BASE_DOWN,
    "20260101000100_expand.down.sql": "alter table public.items drop column if exists title;\n",
    "20260101000200_index.down.sql": "drop index concurrently if exists public.items_title_idx;\n",
    "20260101000300_widen.down.sql": "alter table public.items drop constraint if exists items_status_check;\n"
    "alter table public.items add constraint items_status_check check (status in ('a', 'b', 'c'));\n",
    "20260101000400_parts.down.sql": "drop table if exists public.parts;\n",
    "20260101000500_plain.down.sql": "drop table if exists plain_notes;\n",
}


@pytest.mark.parametrize("review_from", [None, "20260101000200"])
def test_correct_migrations_give_nothing(tmp_path: Path, server_url: str, review_from: str | None) -> None:
    project = make_project(tmp_path / "clean", CLEAN, CLEAN_DOWN)
    found = list(scratch_findings(context(project, review_from, server_url)))
    assert [(f.rule, f.file, f.line, f.message) for f in found] == []


def test_models_out_of_date_with_the_migrations(tmp_path: Path, server_url: str) -> None:
    from supatenant.project import project_dir

    project = tmp_path / "stale"
    shutil.copytree(project_dir() / "supabase", project / "supabase", ignore=shutil.ignore_patterns(".temp"))
    shutil.copytree(project_dir() / "types", project / "types")
    newest = sorted((project / "supabase" / "migrations").glob("*.sql"))[-1]
    name = "29990101000000_nickname.sql"
    (project / "supabase" / "migrations" / name).write_text(
        "alter table public.tenants add column if not exists nickname text;\n"
        "comment on column public.tenants.nickname is 'Short name.';\n"
    )
    (project / "supabase" / "rollbacks" / name.replace(".sql", ".down.sql")).write_text(
        "alter table public.tenants drop column if exists nickname;\n"
    )
    ctx = context(project, "29990101000000", server_url)
    assert ctx.migrations[-2] == newest
    assert where(list(scratch_findings(ctx))) == {("models-out-of-date", "schema.json", None)}
