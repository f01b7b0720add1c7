"""``supatenant init`` on app projects made here: what it writes, and each refusal writing nothing.

The files alone decide (no database, no Docker, no network).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from supatenant import bundle, cli
from supatenant.check.runner import STATIC, context, run
from supatenant.init import MARKER, InitRefused, init, installed_versions, new_versions, pending
from supatenant.sqlnames import Name, created_names

OWN = {
    "20240301120000_notes.sql": "create table public.notes (id bigint primary key, body text);",
    "20240302120000_tags.sql": "create table public.tags (id bigint primary key, note_id bigint);",
}
MIGRATIONS = bundle.migrations()
LATER = {"20270301120000_later.sql": "create table public.later (id bigint primary key);"}
NOW = datetime(2027, 1, 1, tzinfo=UTC)  # before the app's newest (LATER)


def make_project(root: Path, own: dict[str, str] = OWN) -> Path:
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "supabase" / "config.toml").write_text('project_id = "app"\n')
    for name, sql in own.items():
        (root / "supabase" / "migrations" / name).write_text(sql)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(project: Path, *, upgrade: bool = False, now: datetime | None = None) -> str:
    before = snapshot(project)
    with pytest.raises(InitRefused) as caught:
        init(project, upgrade=upgrade, now=now)
    assert snapshot(project) == before, "a refused init wrote something"
    return str(caught.value)


def forget_newest(project: Path) -> None:
    """Make ``project`` look installed from a version without supatenant's newest migration."""
    newest = MIGRATIONS[-1]
    assert newest.down is not None
    marker_file = project / "supabase" / MARKER
    marker = json.loads(marker_file.read_text())
    installed = marker["versions"].pop(newest.version)
    for rel in (
        f"migrations/{installed}_{newest.up.name.split('_', 1)[1]}",
        f"rollbacks/{installed}_{newest.down.name.split('_', 1)[1]}",
    ):
        (project / "supabase" / rel).unlink()
        del marker["files"][rel]
    marker_file.write_text(json.dumps(marker))


def installed_as(project: Path) -> list[tuple[str, str]]:
    """supatenant's migration and rollback names in ``project``, oldest first, from the marker."""
    names = []
    versions = installed_versions(project)
    for m in MIGRATIONS:
        if m.version not in versions:
            continue
        assert m.down is not None
        installed = versions[m.version]
        names.append(
            (f"{installed}_{m.up.name.split('_', 1)[1]}", f"{installed}_{m.down.name.split('_', 1)[1]}")
        )
    return names


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


def test_a_project_older_than_supatenant_keeps_its_versions(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    outcome = init(project, now=NOW)
    assert outcome.renumbered == {}
    assert installed_versions(project) == {m.version: m.version for m in MIGRATIONS}


def test_a_project_newer_than_supatenant_gets_them_after_its_newest_unchanged(tmp_path: Path) -> None:
    project = make_project(tmp_path, OWN | LATER)
    outcome = init(project, now=NOW)
    # the app's newest is 2027-03-01 12:00:00, later than now: one second after it, then on
    expected = [f"202703011200{i + 1:02d}" for i in range(len(MIGRATIONS))]
    assert list(installed_versions(project).values()) == expected
    assert installed_versions(project) == dict(zip([m.version for m in MIGRATIONS], expected, strict=True))
    assert outcome.renumbered == installed_versions(project)
    folder = project / "supabase"
    for m, (up, down) in zip(MIGRATIONS, installed_as(project), strict=True):
        assert m.down is not None
        assert (folder / "migrations" / up).read_bytes() == m.up.read_bytes()
        assert (folder / "rollbacks" / down).read_bytes() == m.down.read_bytes()
        assert not (folder / "migrations" / m.up.name).exists()
        assert not (folder / "rollbacks" / m.down.name).exists()
    newest_app = max(v.split("_", 1)[0] for v in OWN | LATER)
    applied_order = sorted(p.name for p in (folder / "migrations").glob("*.sql"))
    assert applied_order == sorted(OWN | LATER) + [up for up, _ in installed_as(project)]
    assert all(up.split("_", 1)[0] > newest_app for up, _ in installed_as(project))
    marker = json.loads((folder / MARKER).read_text())
    assert set(marker["files"]) == {f"migrations/{u}" for u, _ in installed_as(project)} | {
        f"rollbacks/{d}" for _, d in installed_as(project)
    }
    assert pending(project) == []


def test_new_versions_start_now_when_now_is_later_than_the_newest(tmp_path: Path) -> None:
    project = make_project(tmp_path, OWN | {"20260315080000_mine.sql": "select 1;"})
    init(project, now=datetime(2026, 12, 31, 23, 59, 58, 123456, tzinfo=UTC))
    versions = list(installed_versions(project).values())
    assert versions[:3] == ["20261231235958", "20261231235959", "20270101000000"]
    assert versions == sorted(versions)
    assert all(len(v) == 14 for v in versions)


def test_a_version_clash_gets_new_versions_instead(tmp_path: Path) -> None:
    clash = MIGRATIONS[2].version + "_mine.sql"
    project = make_project(tmp_path, OWN | {clash: "select 1;"})
    init(project, now=NOW)
    assert (project / "supabase" / "migrations" / clash).read_text() == "select 1;"
    assert min(installed_versions(project).values()) == NOW.strftime("%Y%m%d%H%M%S")


def test_a_newest_version_that_is_no_timestamp_and_later_than_now_is_refused(tmp_path: Path) -> None:
    message = refused(make_project(tmp_path, OWN | {"99999999999999_odd.sql": "select 1;"}))
    assert (
        "your newest migration version 99999999999999 is later than now but not a 14-digit timestamp"
        in message
    )
    with pytest.raises(InitRefused):
        new_versions(["20260101000000"], ["123456789012345"], NOW)
    assert new_versions(["20260101000000"], ["123"], NOW) == {"20260101000000": "20260101000000"}
    assert new_versions(["2", "3"], ["20280101000000"], NOW) == {"2": "20280101000001", "3": "20280101000002"}
    assert new_versions([], ["20280101000000"], NOW) == {}


def test_an_upgrade_after_renumbering_adds_the_new_migration_after_the_projects_newest(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path, OWN | LATER)
    init(project, now=NOW)
    forget_newest(project)
    assert pending(project) == [MIGRATIONS[-1].up.name]
    later = "20270401000000_after_install.sql"
    (project / "supabase" / "migrations" / later).write_text("select 1;")
    before = installed_versions(project)
    outcome = init(project, upgrade=True, now=NOW)
    after = installed_versions(project)
    assert after == before | {MIGRATIONS[-1].version: "20270401000001"}
    up, down = installed_as(project)[-1]
    assert sorted(p.name for p in outcome.written) == sorted([up, down])
    assert (project / "supabase" / "migrations" / up).read_bytes() == MIGRATIONS[-1].up.read_bytes()
    assert pending(project) == []
    assert init(project, upgrade=True, now=NOW).written == []


def test_an_upgrade_keeps_the_original_version_when_it_still_sorts_last(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    outcome = init(project, upgrade=True, now=NOW)
    assert outcome.renumbered == {}
    assert installed_versions(project)[MIGRATIONS[-1].version] == MIGRATIONS[-1].version


def test_a_marker_from_before_versions_were_recorded_reads_as_kept_versions(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    init(project)
    forget_newest(project)
    marker_file = project / "supabase" / MARKER
    marker = json.loads(marker_file.read_text())
    del marker["versions"]
    marker_file.write_text(json.dumps(marker))
    assert pending(project) == [MIGRATIONS[-1].up.name]
    init(project, upgrade=True, now=NOW)
    assert installed_versions(project) == {m.version: m.version for m in MIGRATIONS}
    assert "versions" in json.loads(marker_file.read_text())


def test_a_renumbered_install_passes_the_checks_history_rules(tmp_path: Path) -> None:
    project = make_project(tmp_path, OWN | LATER)
    init(project, now=NOW)
    history = {"skipped-file", "duplicate-version", "version-out-of-order", "missing-rollback"}
    ours = {f"supabase/migrations/{up}" for up, _ in installed_as(project)}
    found = [f for f in run(context(project), STATIC) if f.rule in history]
    assert [f for f in found if f.file in ours] == []
    # the app's own migrations have no rollbacks: the rule sees them, so it did run
    assert {f.file for f in found} == {f"supabase/migrations/{n}" for n in OWN | LATER}


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


@pytest.mark.parametrize("own", [OWN, OWN | LATER], ids=["kept", "renumbered"])
@pytest.mark.parametrize("change", ["edit", "remove"])
def test_an_installed_file_edited_or_removed_is_refused(
    tmp_path: Path, change: str, own: dict[str, str]
) -> None:
    project = make_project(tmp_path, own)
    init(project, now=NOW)
    forget_newest(project)
    up, down = installed_as(project)[1]
    installed = project / "supabase" / "migrations" / up
    if change == "edit":
        installed.write_text(installed.read_text() + "\n-- mine\n")
    else:
        installed.unlink()
    verb = "edited" if change == "edit" else "removed"
    assert f"supabase/migrations/{up} was installed by supatenant and has been {verb}" in (
        refused(project, upgrade=True, now=NOW)
    )
    (project / "supabase" / "rollbacks" / down).unlink()
    assert f"supabase/rollbacks/{down} was installed by supatenant and has been removed" in (
        refused(project, upgrade=True, now=NOW)
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


def test_a_rollback_already_under_a_new_version_is_never_overwritten(tmp_path: Path) -> None:
    project = make_project(tmp_path, OWN | LATER)
    down = MIGRATIONS[0].down
    assert down is not None
    taken = "20270301120001_" + down.name.split("_", 1)[1]
    (project / "supabase" / "rollbacks").mkdir()
    (project / "supabase" / "rollbacks" / taken).write_text("-- the app's own\n")
    assert f"supabase/rollbacks/{taken} is already there; supatenant never overwrites" in refused(
        project, now=NOW
    )


def test_the_command_says_when_it_gave_new_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, OWN | {"20990101000000_far.sql": "select 1;"})
    monkeypatch.chdir(project)
    monkeypatch.delenv("SUPATENANT_PROJECT_DIR", raising=False)
    assert cli.main(["init"]) == 0
    out = capsys.readouterr().out
    assert f"added supabase/migrations/20990101000001_{MIGRATIONS[0].up.name.split('_', 1)[1]}" in out
    last = f"2099010100{len(MIGRATIONS) // 60:02d}{len(MIGRATIONS) % 60:02d}"
    assert f"added as versions 20990101000001 to {last}, after it" in out
