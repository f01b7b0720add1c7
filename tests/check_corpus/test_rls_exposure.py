"""RLS and exposure: one broken migration set each."""

from __future__ import annotations

from pathlib import Path

from tests.check_corpus import NOTES, found

NEW = "20270101000000"
F = f"{NEW}_notes.sql"


def test_rls_off_on_an_exposed_table(tmp_path: Path) -> None:
    sql = NOTES.replace("alter table public.notes enable row level security;\n", "")
    assert found(tmp_path, {F: sql}) == [("rls-disabled", F, 1)]
    off = "alter table public.messages disable row level security;\n"
    assert found(tmp_path / "off", {F: off}) == [("rls-disabled", F, 1)]


def test_table_in_an_unexposed_schema_needs_no_rls(tmp_path: Path) -> None:
    sql = "create table if not exists private.jobs (id uuid primary key, payload jsonb);\n"
    assert found(tmp_path, {F: sql}) == []


def test_permissive_policy_without_tenant_condition(tmp_path: Path) -> None:
    sql = NOTES + (
        'create policy "Authors edit their notes" on public.notes for update to authenticated\n'
        "  using (author_id = any (array(select s.member_id from private.caller_scopes() s)));\n"
    )
    # and without the tenant, notes_tenant_id_author_id_idx cannot serve author_id
    assert found(tmp_path, {F: sql}) == [
        ("policy-column-unindexed", F, 27),
        ("policy-without-tenant-condition", F, 27),
    ]


def test_policy_reading_its_own_table(tmp_path: Path) -> None:
    sql = NOTES + (
        'create policy "Authors remove their notes" on public.notes for delete to authenticated\n'
        "  using (tenant_id in (select n.tenant_id from public.notes n where n.author_id = (select auth.uid())));\n"
    )
    assert found(tmp_path, {F: sql}) == [("policy-reads-own-table", F, 27)]


def test_policy_reading_its_own_table_through_an_invoker_helper(tmp_path: Path) -> None:
    sql = """\
    create or replace function private.my_note_tenants() returns setof uuid
    language plpgsql stable
    set search_path = ''
    as $$
    begin
      return query select n.tenant_id from public.notes n where n.author_id = (select auth.uid());
    end
    $$;
    revoke all on function private.my_note_tenants() from public;
    create policy "Authors remove their notes" on public.notes for delete to authenticated
      using (tenant_id in (select private.my_note_tenants()));
    """
    assert found(tmp_path, {F: NOTES + sql}) == [("policy-reads-own-table", F, 36)]
    definer = sql.replace("language plpgsql stable", "language plpgsql stable security definer")
    assert found(tmp_path / "definer", {F: NOTES + definer}) == []


def test_auth_uid_and_helpers_not_wrapped_in_select(tmp_path: Path) -> None:
    sql = NOTES.replace(
        "using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));",
        "using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)) "
        "and private.role_bypasses_rls(private.invoker_role()) is false and auth.uid() is not null);",
    )
    assert found(tmp_path, {F: sql}) == [
        ("policy-call-not-wrapped", F, 20),
        ("policy-call-not-wrapped", F, 20),
        ("policy-call-not-wrapped", F, 20),
    ]


def test_policy_column_with_no_index(tmp_path: Path) -> None:
    sql = NOTES.replace(
        "using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));",
        "using ((tenant_id, body) in (select s.tenant_id, s.member_id::text from private.caller_scopes() s));",
    )
    assert found(tmp_path, {F: sql}) == [("policy-column-unindexed", F, 20)]


def test_security_definer_without_search_path(tmp_path: Path) -> None:
    sql = """\
    create or replace function private.note_count(p_tenant_id uuid) returns bigint
    language sql stable security definer
    as $$ select count(*) from public.notes n where n.tenant_id = p_tenant_id $$;
    revoke all on function private.note_count(uuid) from public;
    """
    assert found(tmp_path, {F: NOTES + sql})[-1:] == [("security-definer-search-path", F, 27)]
    assert len(found(tmp_path / "again", {F: NOTES + sql})) == 1


def test_function_executable_by_anon(tmp_path: Path) -> None:
    sql = """\
    create or replace function public.note_count(p_tenant_id uuid) returns bigint
    language sql stable
    set search_path = ''
    as $$ select count(*) from public.notes n where n.tenant_id = p_tenant_id $$;
    revoke all on function public.note_count(uuid) from public;
    """
    assert found(tmp_path, {F: NOTES + sql}) == [("function-executable-by-anon", F, 27)]


def test_view_without_security_invoker(tmp_path: Path) -> None:
    sql = """\
    create or replace view public.note_bodies as select tenant_id, id, body from public.notes;
    revoke all on public.note_bodies from anon;
    """
    assert found(tmp_path, {F: NOTES + sql}) == [("view-security-invoker", F, 27)]


def test_materialized_view_reachable_by_the_api(tmp_path: Path) -> None:
    sql = """\
    create materialized view if not exists public.note_counts as
      select tenant_id, count(*) as notes from public.notes group by tenant_id;
    """
    assert found(tmp_path, {F: NOTES + sql}) == [("matview-exposed", F, 27)]


def test_refresh_concurrently_without_unique_index(tmp_path: Path) -> None:
    sql = """\
    create materialized view if not exists private.note_counts as
      select tenant_id, count(*) as notes from public.notes group by tenant_id;
    create index if not exists note_counts_tenant_id_idx on private.note_counts (tenant_id);
    create or replace function private.refresh_note_counts() returns void
    language plpgsql security definer
    set search_path = ''
    as $$
    begin
      refresh materialized view concurrently private.note_counts;
    end
    $$;
    revoke all on function private.refresh_note_counts() from public;
    """
    assert found(tmp_path, {F: NOTES + sql}) == [("refresh-concurrently-without-unique", F, 30)]


def test_extension_in_public(tmp_path: Path) -> None:
    sql = """\
    create extension if not exists pg_trgm;
    create extension if not exists citext with schema extensions;
    """
    assert found(tmp_path, {F: sql}) == [("extension-in-public", F, 1)]
