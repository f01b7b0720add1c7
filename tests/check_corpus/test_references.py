"""References and values: one broken migration set each."""

from __future__ import annotations

from pathlib import Path

from tests.check_corpus import NOTES, found

NEW = "20270101000000"
F = f"{NEW}_notes.sql"


def test_fk_type_differs_from_its_target(tmp_path: Path) -> None:
    sql = NOTES.replace(
        "  author_id uuid not null,\n",
        "  author_id uuid not null,\n  reviewer text references auth.users (id),\n",
    )
    assert found(tmp_path, {F: sql}) == [("fk-type-mismatch", F, 1)]


def test_tenant_by_code_or_without_foreign_key(tmp_path: Path) -> None:
    sql = """\
    create table public.labels (
      tenant_slug varchar(63) not null,
      id uuid primary key default gen_random_uuid(),
      name text not null
    );
    alter table public.labels enable row level security;
    create table public.tags (
      tenant_id uuid not null,
      id uuid not null default gen_random_uuid(),
      primary key (tenant_id, id)
    );
    alter table public.tags enable row level security;
    """
    assert found(tmp_path, {F: sql}) == [("tenant-reference", F, 1), ("tenant-reference", F, 7)]


def test_reference_to_what_does_not_exist_yet(tmp_path: Path) -> None:
    sql = """\
    create index if not exists mesages_model_idx on public.mesages (model);
    create table app.notes (id uuid primary key);
    alter table public.conversations add column topic_id uuid references public.topics (id);
    create index if not exists conversations_subject_idx on public.conversations (subject);
    create policy "Members read their own invitations" on public.invitations for select to authenticated
      using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)) and invitee = (select auth.uid()));
    """
    assert found(tmp_path, {F: sql}) == [
        ("index-not-concurrent", F, 4),  # conversations holds rows, subject or not
        ("unknown-reference", F, 1),
        ("unknown-reference", F, 2),
        ("unknown-reference", F, 3),
        ("unknown-reference", F, 4),
        ("unknown-reference", F, 5),
    ]


def test_auth_users_is_provided_by_supabase(tmp_path: Path) -> None:
    sql = NOTES.replace(
        "  author_id uuid not null,\n",
        "  author_id uuid not null,\n  reviewer uuid references auth.users (id),\n",
    )
    assert found(tmp_path, {F: sql}) == []


def test_child_references_a_tenant_owned_parent_by_id_alone(tmp_path: Path) -> None:
    sql = NOTES.replace(
        "foreign key (tenant_id, conversation_id) references public.conversations (tenant_id, id)",
        "foreign key (conversation_id) references public.conversations (id)",
    )
    assert found(tmp_path, {F: sql}) == [("cross-tenant-reference", F, 1)]


def test_serial_and_non_uuid_keys_on_a_tenant_table(tmp_path: Path) -> None:
    sql = NOTES.replace("  id uuid not null default gen_random_uuid(),\n", "  id bigserial,\n")
    assert found(tmp_path, {F: sql}) == [("tenant-key-type", F, 1)]


def test_check_literal_longer_than_its_varchar(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages add column channel varchar(5)
      check (channel in ('web', 'email', 'whatsapp'));
    """
    assert found(tmp_path, {F: sql}) == [("check-exceeds-varchar", F, 1)]


def test_check_narrowed_so_existing_rows_fail(tmp_path: Path) -> None:
    sql = """\
    alter table public.tenants drop constraint if exists tenants_plan_check;
    alter table public.tenants add constraint tenants_plan_check
      check (plan in ('free', 'pro', 'enterprise')) not valid;
    """
    assert found(tmp_path, {F: sql}) == [("check-narrowed", F, 2)]


def test_timestamp_without_time_zone(tmp_path: Path) -> None:
    sql = "alter table public.conversations add column pinned_at timestamp;\n"
    assert found(tmp_path, {F: sql}) == [("timestamp-without-time-zone", F, 1)]


def test_quoted_camel_case_identifiers(tmp_path: Path) -> None:
    sql = 'alter table public.conversations add column "pinnedAt" timestamptz;\n'
    assert found(tmp_path, {F: sql}) == [("quoted-camelcase", F, 1)]


def test_names_longer_than_63_bytes(tmp_path: Path) -> None:
    long_policy = "Members read the notes of the conversations of their own tenant only"
    sql = NOTES.replace("Members read their tenant's notes", long_policy) + (
        "alter table public.notes add column "
        "a_column_name_that_goes_on_and_on_well_past_what_postgres_keeps_of_it text;\n"
    )
    assert found(tmp_path, {F: sql}) == [("name-too-long", F, 20), ("name-too-long", F, 27)]


def test_a_later_rename_fixes_a_long_policy_name(tmp_path: Path) -> None:
    long_policy = "Members read the notes of the conversations of their own tenant only"
    sql = NOTES.replace("Members read their tenant's notes", long_policy)
    rename = (
        f'alter policy "{long_policy[:63]}" on public.notes rename to "Members read their tenant\'s notes";\n'
    )
    new = {F: sql, f"{NEW[:-1]}1_rename.sql": rename}
    assert found(tmp_path, new) == []
