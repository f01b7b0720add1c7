"""A corpus of migration sets for ``supatenant check``'s static rules.

Each case adds migration files to a copy of this project (its own migrations count as already
applied), reviews only the added files, and asserts which rule fires on which file and line.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

from supatenant.check.findings import CheckContext, Finding
from supatenant.check.static import migration_files, static_source

ROOT = Path(__file__).resolve().parents[2]

Found = list[tuple[str, str, int | None]]

# a new, correct tenant table: RLS, one policy per command, indexed foreign keys
NOTES = """\
create table if not exists public.notes (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  conversation_id uuid not null,
  author_id uuid not null,
  body text not null check (length(body) <= 10000),
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, conversation_id) references public.conversations (tenant_id, id) on delete cascade,
  foreign key (tenant_id, author_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.notes is 'A member''s note on a conversation.';
create index if not exists notes_tenant_id_conversation_id_idx on public.notes (tenant_id, conversation_id);
create index if not exists notes_tenant_id_author_id_idx on public.notes (tenant_id, author_id);
alter table public.notes enable row level security;
revoke all on public.notes from anon, authenticated, service_role;
grant select, insert on public.notes to authenticated;
grant select, insert, update, delete on public.notes to service_role;
drop policy if exists "Members read their tenant's notes" on public.notes;
create policy "Members read their tenant's notes" on public.notes
  for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));
drop policy if exists "Members add notes of their own" on public.notes;
create policy "Members add notes of their own" on public.notes
  for insert to authenticated
  with check ((tenant_id, author_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));
"""


def make_project(tmp: Path, new: dict[str, str], *, rollbacks: bool = True, base: bool = True) -> Path:
    """A copy of this project's supabase/ folder plus the ``new`` migration files."""
    sup = tmp / "supabase"
    shutil.copytree(ROOT / "supabase" / "local", sup / "local")
    shutil.copy(ROOT / "supabase" / "config.toml", sup / "config.toml")
    migrations, downs = sup / "migrations", sup / "rollbacks"
    if base:
        shutil.copytree(ROOT / "supabase" / "migrations", migrations)
        shutil.copytree(ROOT / "supabase" / "rollbacks", downs)
    migrations.mkdir(parents=True, exist_ok=True)
    downs.mkdir(parents=True, exist_ok=True)
    for name, sql in new.items():
        path = migrations / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(sql))
        if rollbacks and name.endswith(".sql"):
            (downs / (name[: -len(".sql")] + ".down.sql")).write_text("-- the inverse\n")
    return tmp


def review(project: Path, names: set[str]) -> list[Finding]:
    """The static findings for the files named, the others counting as applied."""
    migrations = migration_files(project)
    under = tuple(p for p in migrations if p.name in names)
    return list(static_source(CheckContext(project, migrations, under)))


def found(tmp: Path, new: dict[str, str], **kwargs: bool) -> Found:
    """(rule, file name, line) of each finding on the ``new`` files, sorted."""
    project = make_project(tmp, new, **kwargs)
    return sorted((f.rule, Path(f.file or "").name, f.line) for f in review(project, set(new)))
