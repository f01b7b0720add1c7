"""History and execution classes: one broken migration set each."""

from __future__ import annotations

from pathlib import Path

from tests.check_corpus import NOTES, found, make_project, review

NEW = "20270101000000"


def test_duplicate_version(tmp_path: Path) -> None:
    new = {f"{NEW}_a.sql": "select 1;\n", f"{NEW}_b.sql": "select 2;\n"}
    assert found(tmp_path, new) == [("duplicate-version", f"{NEW}_b.sql", 1)]


def test_files_the_cli_skips(tmp_path: Path) -> None:
    new = {
        "add_notes.sql": NOTES,  # no version
        f"{NEW}-notes.sql": NOTES,  # a dash, not an underscore
        f"{NEW}_notes.SQL": NOTES,  # the CLI wants .sql
        f"later/{NEW}_notes.sql": NOTES,  # a subfolder
        "00000000000000_init.sql": NOTES,  # first, and an early CLI's initial schema
    }
    project = make_project(tmp_path, new, rollbacks=False)
    got = sorted((f.rule, Path(f.file or "").name, f.line) for f in review(project, set()))
    assert got == [
        ("skipped-file", "00000000000000_init.sql", None),
        ("skipped-file", f"{NEW}-notes.sql", None),
        ("skipped-file", f"{NEW}_notes.SQL", None),
        ("skipped-file", f"{NEW}_notes.sql", None),
        ("skipped-file", "add_notes.sql", None),
    ]


def test_missing_rollback(tmp_path: Path) -> None:
    assert found(tmp_path, {f"{NEW}_notes.sql": NOTES}, rollbacks=False) == [
        ("missing-rollback", f"{NEW}_notes.sql", 1)
    ]


def test_version_older_than_an_applied_one(tmp_path: Path) -> None:
    assert found(tmp_path, {"20250101000000_check.sql": "select 1;\n"}) == [
        ("version-out-of-order", "20250101000000_check.sql", 1)
    ]


def test_concurrently_mixed_with_other_statements(tmp_path: Path) -> None:
    sql = """\
    create index concurrently if not exists messages_tenant_id_model_idx
      on public.messages (tenant_id, model);
    comment on index public.messages_tenant_id_model_idx is 'Messages by model.';
    """
    assert found(tmp_path, {f"{NEW}_idx.sql": sql}) == [("concurrently-mixed", f"{NEW}_idx.sql", 1)]


def test_begin_and_commit_in_a_file(tmp_path: Path) -> None:
    sql = "begin;\n" + NOTES + "commit;\n"
    assert found(tmp_path, {f"{NEW}_notes.sql": sql}) == [
        ("transaction-control", f"{NEW}_notes.sql", 1),
        ("transaction-control", f"{NEW}_notes.sql", 28),
    ]


def test_drop_and_recreate_truncate_and_delete_as_idempotency(tmp_path: Path) -> None:
    sql = """\
    drop table if exists public.invitations;
    create table public.invitations (tenant_id uuid not null references public.tenants (id), id uuid not null, primary key (tenant_id, id));
    alter table public.invitations enable row level security;
    truncate public.feedback;
    delete from public.usage_metrics;
    delete from public.messages where role = 'tool';
    """
    assert found(tmp_path, {f"{NEW}_reset.sql": sql}) == [
        ("destructive-idempotency", f"{NEW}_reset.sql", 1),
        ("destructive-idempotency", f"{NEW}_reset.sql", 4),
        ("destructive-idempotency", f"{NEW}_reset.sql", 5),
    ]


def test_if_not_exists_hides_a_different_table(tmp_path: Path) -> None:
    sql = """\
    -- a second "feedback" table, meant to be new
    create table if not exists public.feedback (
      tenant_id uuid not null references public.tenants (id),
      id uuid not null default gen_random_uuid(),
      score integer not null,
      primary key (tenant_id, id)
    );
    create unique index if not exists users_tenant_id_email_key on public.users (tenant_id, email);
    """
    assert found(tmp_path, {f"{NEW}_fb.sql": sql}) == [
        ("if-not-exists-clash", f"{NEW}_fb.sql", 2),
        ("if-not-exists-clash", f"{NEW}_fb.sql", 8),
    ]


def test_drop_if_exists_of_a_misspelled_name(tmp_path: Path) -> None:
    sql = """\
    drop index if exists public.mesages_tenant_id_user_id_idx;
    drop policy if exists "Members can read their own tenants" on public.tenants;
    drop function if exists private.caller_scope();
    drop index if exists public.messages_tenant_id_user_id_idx;
    """
    assert found(tmp_path, {f"{NEW}_drop.sql": sql}) == [
        ("drop-if-exists-unknown", f"{NEW}_drop.sql", 1),
        ("drop-if-exists-unknown", f"{NEW}_drop.sql", 2),
        ("drop-if-exists-unknown", f"{NEW}_drop.sql", 3),
    ]


def test_drop_cascade_names_what_it_takes(tmp_path: Path) -> None:
    project = make_project(tmp_path, {f"{NEW}_drop.sql": "drop table public.invitations cascade;\n"})
    (finding,) = review(project, {f"{NEW}_drop.sql"})
    assert (finding.rule, finding.line) == ("drop-cascade", 1)
    assert (
        "foreign key invitation_tokens_tenant_id_invitation_id_fkey on private.invitation_tokens"
        in finding.message
    )


def test_seed_rows_in_a_migration(tmp_path: Path) -> None:
    sql = """\
    insert into public.tenants (name, slug, plan)
    values ('Acme', 'acme', 'pro'), ('Globex', 'globex', 'free');
    """
    assert found(tmp_path, {f"{NEW}_seed.sql": sql}) == [("seed-rows", f"{NEW}_seed.sql", 1)]


def test_unbatched_backfill_of_an_existing_table(tmp_path: Path) -> None:
    sql = """\
    alter table public.messages add column provider varchar(50);
    update public.messages set provider = 'openai' where model like 'gpt-%';
    """
    assert found(tmp_path, {f"{NEW}_fill.sql": sql}) == [("unbatched-backfill", f"{NEW}_fill.sql", 2)]
