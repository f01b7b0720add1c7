"""Locks on tables that hold rows (created by applied migrations): one broken set each."""

from __future__ import annotations

from pathlib import Path

from tests.check_corpus import NOTES, found

NEW = "20270101000000"
F = f"{NEW}_change.sql"


def test_not_null_column_without_default(tmp_path: Path) -> None:
    sql = "alter table public.messages add column provider varchar(50) not null;\n"
    assert found(tmp_path, {F: sql}) == [("not-null-without-default", F, 1)]


def test_index_without_concurrently_on_an_existing_table(tmp_path: Path) -> None:
    sql = "create index if not exists messages_tenant_id_model_idx on public.messages (tenant_id, model);\n"
    assert found(tmp_path, {F: sql}) == [("index-not-concurrent", F, 1)]


def test_index_on_a_table_the_same_push_creates_is_fine(tmp_path: Path) -> None:
    later = f"{NEW[:-1]}1_index.sql"
    sql = "create index if not exists notes_created_at_idx on public.notes (tenant_id, created_at);\n"
    assert found(tmp_path, {f"{NEW}_notes.sql": NOTES, later: sql}) == []


def test_type_change_that_rewrites(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages alter column token_count type bigint;
    alter table public.tenants alter column name type varchar(300);
    alter table public.messages alter column model type varchar(50);
    """
    assert found(tmp_path, {F: sql}) == [("rewriting-type-change", F, 1), ("rewriting-type-change", F, 3)]


def test_renaming_a_column_or_table(tmp_path: Path) -> None:
    sql = """\
    alter table public.conversations rename column title to subject;
    alter table public.feedback rename to ratings;
    """
    assert found(tmp_path, {F: sql}) == [("rename", F, 1), ("rename", F, 2)]


def test_volatile_default_on_an_existing_table(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages add column public_id uuid default gen_random_uuid();
    alter table public.messages add column received_at timestamptz default now();
    """
    assert found(tmp_path, {F: sql}) == [("volatile-default", F, 1)]


def test_constraint_without_not_valid(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages add constraint messages_model_check check (model <> '');
    alter table public.messages add constraint messages_latency_check check (latency_ms < 600000) not valid;
    alter table public.messages validate constraint messages_latency_check;
    """
    assert found(tmp_path, {F: sql}) == [("constraint-not-valid", F, 1)]


def test_set_not_null_without_a_validated_check(tmp_path: Path) -> None:
    sql = "alter table public.conversations alter column title set not null;\n"
    assert found(tmp_path, {F: sql}) == [("set-not-null-unvalidated", F, 1)]


def test_set_not_null_after_a_validated_check_is_fine(tmp_path: Path) -> None:
    first = """\
    alter table public.conversations add constraint conversations_title_not_null check (title is not null) not valid;
    """
    second = f"{NEW[:-1]}1_validate.sql"
    rest = """\
    alter table public.conversations validate constraint conversations_title_not_null;
    alter table public.conversations alter column title set not null;
    """
    assert found(tmp_path, {F: first, second: rest}) == []


def test_redundant_index(tmp_path: Path) -> None:
    sql = "create index concurrently if not exists conversations_tenant_id_user_id_idx on public.conversations (tenant_id, user_id);\n"
    assert found(tmp_path, {F: sql}) == [("redundant-index", F, 1)]


def test_drop_column(tmp_path: Path) -> None:
    sql = "alter table public.messages drop column if exists latency_ms;\n"
    assert found(tmp_path, {F: sql}) == [("drop-column", F, 1)]
