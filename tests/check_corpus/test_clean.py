"""Correct migrations give nothing: the clean cases, and this project's own migrations."""

from __future__ import annotations

from pathlib import Path

from supatenant.check.findings import CheckContext
from supatenant.check.static import migration_files, static_source
from tests.check_corpus import NOTES, ROOT, found

NEW = "20270101000000"


def test_expand_contract_rename(tmp_path: Path) -> None:
    expand = """\
    -- conversations.title becomes subject: add it, keep both in step, backfill in batches
    alter table public.conversations add column if not exists subject varchar(500);
    comment on column public.conversations.subject is 'The thread''s subject; replaces title.';
    create or replace function private.sync_conversation_subject()
    returns trigger
    language plpgsql
    set search_path = ''
    as $$
    begin
      new.subject := coalesce(new.subject, new.title);
      new.title := coalesce(new.title, new.subject);
      return new;
    end
    $$;
    comment on function private.sync_conversation_subject() is 'Trigger: keeps title and subject equal.';
    revoke all on function private.sync_conversation_subject() from public;
    create or replace trigger conversations_sync_subject before insert or update on public.conversations
      for each row execute function private.sync_conversation_subject();
    update public.conversations c set subject = c.title
     where (c.tenant_id, c.id) in (
       select x.tenant_id, x.id from public.conversations x
       where x.subject is null and x.title is not null limit 1000);
    """
    assert found(tmp_path, {f"{NEW}_subject.sql": expand}) == []


def test_create_index_concurrently_alone_in_its_file(tmp_path: Path) -> None:
    sql = "create index concurrently if not exists messages_tenant_id_model_idx on public.messages (tenant_id, model);\n"
    assert found(tmp_path, {f"{NEW}_idx.sql": sql}) == []


def test_nullable_column(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages add column if not exists provider varchar(50);
    comment on column public.messages.provider is 'Who served the model.';
    """
    assert found(tmp_path, {f"{NEW}_provider.sql": sql}) == []


def test_new_table_with_rls_policies_and_indexed_foreign_keys(tmp_path: Path) -> None:
    assert found(tmp_path, {f"{NEW}_notes.sql": NOTES}) == []


def test_widened_check(tmp_path: Path) -> None:
    sql = """\
    alter table public.tenants drop constraint if exists tenants_plan_check;
    alter table public.tenants add constraint tenants_plan_check
      check (plan in ('free', 'pro', 'team', 'enterprise', 'custom'));
    """
    assert found(tmp_path, {f"{NEW}_plans.sql": sql}) == []


def test_this_projects_migrations_give_nothing() -> None:
    migrations = migration_files(ROOT)
    findings = list(static_source(CheckContext(ROOT, migrations, migrations)))
    # the four policy names over 63 bytes in 20261122210000 are renamed by 20261122222000
    assert findings == []


def test_correct_statements_near_the_rules_edges(tmp_path: Path) -> None:
    sql = """\
    -- the service role bypasses RLS: its policy needs no tenant condition
    create policy "Service role reads notes" on public.notes for select to service_role using (true);
    -- a definer view the API roles cannot read, over the catalog found on the search path
    create or replace view public.note_table_size as
      select c.relname, c.reltuples from pg_class c where c.relname = 'notes';
    revoke all on public.note_table_size from public, anon, authenticated;
    -- extensions that always go into a schema of their own
    create extension if not exists pg_cron;
    -- search_path fixed by a later statement of the same file
    create or replace function private.note_total() returns bigint
    language sql stable security definer
    as $$ select count(*) from public.notes $$;
    alter function private.note_total() set search_path = '';
    revoke all on function private.note_total() from public;
    -- the reference rows of a table the file defines
    create table if not exists public.note_kinds (kind varchar(20) primary key);
    alter table public.note_kinds enable row level security;
    insert into public.note_kinds (kind) values ('remark'), ('todo') on conflict (kind) do nothing;
    -- a name made out of the model's sight, by dynamic SQL, then dropped
    do $$ begin execute format('create index if not exists %I on public.notes (created_at)', 'notes_made_here_idx'); end $$;
    drop index if exists public.notes_made_here_idx;
    """
    assert found(tmp_path, {f"{NEW}_notes.sql": NOTES + sql}) == []


def test_every_rule_is_documented_and_exercised() -> None:
    from supatenant.check import rules

    rules.load()
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Before you push") :]
    section = section[: section.index("\n## ", 1)]
    corpus = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    for rule_id in rules.RULES:
        assert f"`{rule_id}`" in section, rule_id
        assert f'"{rule_id}"' in corpus, rule_id
