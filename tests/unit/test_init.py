"""``supatenant init`` on app projects made here: what it writes, and each refusal writing nothing.

The files alone decide (no database, no Docker, no network).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supatenant import bundle, cli
from supatenant.init import MARKER, InitRefused, init, pending
from supatenant.sqlnames import Name, created_names

OWN = {
    "20240301120000_notes.sql": "create table public.notes (id bigint primary key, body text);",
    "20240302120000_tags.sql": "create table public.tags (id bigint primary key, note_id bigint);",
}
MIGRATIONS = bundle.migrations()


def make_project(root: Path, own: dict[str, str] = OWN) -> Path:
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "supabase" / "config.toml").write_text('project_id = "app"\n')
    for name, sql in own.items():
        (root / "supabase" / "migrations" / name).write_text(sql)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(project: Path, *, upgrade: bool = False) -> str:
    before = snapshot(project)
    with pytest.raises(InitRefused) as caught:
        init(project, upgrade=upgrade)
    assert snapshot(project) == before, "a refused init wrote something"
    return str(caught.value)


def forget_newest(project: Path) -> None:
    """Make ``project`` look installed from a version without supatenant's newest migration."""
    newest = MIGRATIONS[-1]
    marker_file = project / "supabase" / MARKER
    marker = json.loads(marker_file.read_text())
    for rel in (f"migrations/{newest.up.name}", f"rollbacks/{newest.down.name if newest.down else ''}"):
        (project / "supabase" / rel).unlink()
        del marker["files"][rel]
    marker_file.write_text(json.dumps(marker))


def test_init_adds_every_migration_and_rollback_unchanged_and_records_them(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    outcome = init(project)
    assert len(outcome.written) == 2 * len(MIGRATIONS)
    for m in MIGRATIONS:
        assert (project / "supabase" / "migrations" / m.up.name).read_bytes() == m.up.read_bytes()
        assert m.down is not None
        assert (project / "supabase" / "rollbacks" / m.down.name).read_bytes() == m.down.read_bytes()
    for name, sql in OWN.items():
        assert (project / "supabase" / "migrations" / name).read_text() == sql
    marker = json.loads((project / "supabase" / MARKER).read_text())
    assert marker["version"] == bundle.version()
    assert len(marker["files"]) == 2 * len(MIGRATIONS)
    assert pending(project) == []


def test_init_twice_is_refused_and_upgrade_with_nothing_new_adds_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    init(project)
    assert "already installed" in refused(project)
    before = snapshot(project)
    assert init(project, upgrade=True).written == []
    assert {k: v for k, v in snapshot(project).items() if MARKER not in k} == {
        k: v for k, v in before.items() if MARKER not in k
    }


def test_upgrade_adds_only_the_new_migrations(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    assert pending(project) == [MIGRATIONS[-1].up.name]
    outcome = init(project, upgrade=True)
    assert sorted(p.name for p in outcome.written) == sorted(
        [MIGRATIONS[-1].up.name, MIGRATIONS[-1].down.name if MIGRATIONS[-1].down else ""]
    )
    assert pending(project) == []


def test_upgrade_before_init_is_refused(tmp_path: Path) -> None:
    assert "run `supatenant init`" in refused(make_project(tmp_path), upgrade=True)


def test_a_version_clash_is_refused(tmp_path: Path) -> None:
    clash = MIGRATIONS[2].up.name.split("_", 1)[0] + "_mine.sql"
    message = refused(make_project(tmp_path, OWN | {clash: "select 1;"}))
    assert f"supatenant's {MIGRATIONS[2].up.name} has the version of your {clash}" in message


def test_a_migration_sorting_before_the_apps_newest_is_refused(tmp_path: Path) -> None:
    message = refused(make_project(tmp_path, OWN | {"20990101000000_later.sql": "select 1;"}))
    assert f"supatenant's {MIGRATIONS[0].up.name} sorts before your 20990101000000_later.sql" in message


def test_an_upgrade_whose_new_migration_sorts_before_the_apps_newer_one_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    later = "29990101000000_after_install.sql"
    (project / "supabase" / "migrations" / later).write_text("select 1;")
    assert f"supatenant's {MIGRATIONS[-1].up.name} sorts before your {later}" in refused(
        project, upgrade=True
    )


@pytest.mark.parametrize(
    ("sql", "taken"),
    [
        ("create table users (id uuid primary key);", "relation public.users"),
        ("create table if not exists public.tenants (id uuid);", "relation public.tenants"),
        (
            "create or replace function public.increment_usage() returns void language sql as $$ $$;",
            "function public.increment_usage",
        ),
        ("create view public.current_day_usage as select 1 as n;", "relation public.current_day_usage"),
    ],
)
def test_a_name_the_apps_schema_already_takes_is_refused(tmp_path: Path, sql: str, taken: str) -> None:
    message = refused(make_project(tmp_path, OWN | {"20240303120000_mine.sql": sql}))
    assert f"{taken} is created both by your supabase/migrations/20240303120000_mine.sql" in message


def test_names_in_declarative_schemas_count_too(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "supabase" / "schemas").mkdir()
    (project / "supabase" / "schemas" / "app.sql").write_text("create table public.messages (id int);")
    assert "relation public.messages is created both by your supabase/schemas/app.sql" in refused(project)


def test_names_in_comments_and_strings_are_not_names(tmp_path: Path) -> None:
    sql = "-- create table public.users (id int);\nselect 'create table public.tenants (id int)';"
    init(make_project(tmp_path, OWN | {"20240303120000_mine.sql": sql}))


def test_sql_the_parser_rejects_is_refused_clearly(tmp_path: Path) -> None:
    message = refused(make_project(tmp_path, OWN | {"20240303120000_bad.sql": "create tabel x ();"}))
    assert "supabase/migrations/20240303120000_bad.sql is not SQL that PostgreSQL's parser reads" in message


@pytest.mark.parametrize("change", ["edit", "remove"])
def test_an_installed_file_edited_or_removed_is_refused(tmp_path: Path, change: str) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    installed = project / "supabase" / "migrations" / MIGRATIONS[1].up.name
    if change == "edit":
        installed.write_text(installed.read_text() + "\n-- mine\n")
    else:
        installed.unlink()
    verb = "edited" if change == "edit" else "removed"
    assert f"supabase/migrations/{MIGRATIONS[1].up.name} was installed by supatenant and has been {verb}" in (
        refused(project, upgrade=True)
    )


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    down = MIGRATIONS[0].down
    assert down is not None
    (project / "supabase" / "rollbacks").mkdir()
    (project / "supabase" / "rollbacks" / down.name).write_text("-- the app's own\n")
    assert f"supabase/rollbacks/{down.name} is already there; supatenant never overwrites" in refused(project)


def test_a_folder_without_a_supabase_project_is_refused(tmp_path: Path) -> None:
    assert "npx supabase init" in refused(tmp_path)


def test_supatenants_own_repository_is_refused() -> None:
    with pytest.raises(InitRefused, match="supatenant's own repository"):
        init(bundle.root())


def test_the_command_inits_and_up_asks_for_init_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.delenv("SUPATENANT_PROJECT_DIR", raising=False)
    assert cli.main(["up", "--database-url", "postgresql://x@127.0.0.1:1/db"]) == 1
    assert "supatenant's migrations are not in" in capsys.readouterr().err
    assert cli.main(["init"]) == 0
    out = capsys.readouterr().out
    assert f"added supabase/migrations/{MIGRATIONS[0].up.name}" in out
    assert cli.main(["init"]) == 1
    assert "already installed" in capsys.readouterr().err


def test_created_names_reads_every_kind() -> None:
    sql = """
        create table a.t (id int); create view v as select 1; create materialized view m as select 1;
        create index i on a.t (id); create sequence s; create type e as enum ('x');
        create type c as (x int); create domain d as int; create function f.g() returns int
        language sql as $$ select 1 $$; create table if not exists t2 as select 1;
    """
    assert {str(n) for n in created_names(sql, "x")} == {
        "relation a.t",
        "relation public.v",
        "relation public.m",
        "relation a.i",
        "relation public.s",
        "type public.e",
        "type public.c",
        "type public.d",
        "function f.g",
        "relation public.t2",
    }
    assert Name("relation", "public", "v") in created_names(sql, "x")


def test_a_new_project_without_a_migrations_folder_gets_one(tmp_path: Path) -> None:
    (tmp_path / "supabase").mkdir()
    (tmp_path / "supabase" / "config.toml").write_text('project_id = "new"\n')
    assert len(init(tmp_path).written) == 2 * len(MIGRATIONS)


def test_up_says_when_the_package_has_migrations_the_project_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    monkeypatch.chdir(project)
    monkeypatch.delenv("SUPATENANT_PROJECT_DIR", raising=False)
    assert cli.main(["up", "--database-url", "postgresql://x@127.0.0.1:1/db"]) == 1  # nothing listens
    err = capsys.readouterr().err
    assert f"({MIGRATIONS[-1].up.name}): `supatenant init --upgrade` adds them" in err
