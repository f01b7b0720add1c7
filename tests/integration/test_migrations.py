"""Migrations: re-runnable, exactly reversible, pushed once, and free of data-losing statements."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from supatenant import database
from supatenant.errors import MigrationFailed
from supatenant.project import supabase_dir

MIGRATIONS = sorted((supabase_dir() / "migrations").glob("*.sql"))
SCHEMAS = ("public", "private")


def _pg_dump(url: str) -> str:
    """A schema-only dump of the project's schemas, by a pg_dump of the server's major version."""
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/pg_dump")]
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(Path(POSTGRES_BIN_PATH) / "pg_dump")
    except ImportError:
        pass
    for exe in candidates:
        if exe.is_file():
            version = subprocess.run(
                [str(exe), "--version"], capture_output=True, text=True, check=True
            ).stdout
            if f" {major}." in version:
                break
    else:
        pytest.skip(f"no pg_dump for PostgreSQL {major} on this machine")
    schema_args = [f"--schema={s}" for s in SCHEMAS]
    out = subprocess.run(
        [str(exe), "--schema-only", "--no-owner", *schema_args, "--dbname", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # pg_dump 15.x+ writes a random \restrict key per run; it is not part of the schema
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def test_migration_names_are_unique_utc_timestamps_with_a_rollback() -> None:
    versions = [p.name.split("_", 1)[0] for p in MIGRATIONS]
    assert MIGRATIONS, "no migrations found"
    assert all(re.fullmatch(r"\d{14}_[a-z0-9_]+\.sql", p.name) for p in MIGRATIONS)
    assert len(set(versions)) == len(versions)
    rollbacks = database.rollback_scripts()
    assert sorted(rollbacks) == versions
    for p in MIGRATIONS:
        assert rollbacks[p.name.split("_", 1)[0]].name == p.name.replace(".sql", ".down.sql")


# the body of a function or procedure definition: statements it runs when called, not while
# the migration runs (a `do` block runs at once, so it is not one)
_ROUTINE_BODY = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:function|procedure)\b.*?\bas\s+(\$\w*\$).*?\1", re.DOTALL
)


def destructive_statements(migration: str) -> list[str]:
    """What a migration would destroy data with when it runs: dropping a table, schema,
    materialized view or column, or truncating, anywhere in its text; deleting rows anywhere
    but inside the definition of a function that deletes only when called (an erasure)."""
    text = re.sub(r"--[^\n]*", "", migration.lower())
    found = re.findall(r"\bdrop\s+(?:table|schema|materialized\s+view|column)\b", text)
    found += re.findall(r"\btruncate\b", text)
    found += re.findall(r"\bdelete\s+from\b", _ROUTINE_BODY.sub("", text))
    return found


@pytest.mark.parametrize(
    "migration",
    [
        "drop table if exists public.messages;",  # "idempotency" by dropping the table
        "create table t (id int);\nalter table t drop column id;",
        "truncate public.usage_metrics;",
        "delete from public.messages where true;",
        "do $$ begin delete from public.messages; end $$;",  # runs while migrating
        "create function f() returns void language sql as $$ select 1 $$;\ndelete from public.users;",
        "create function f() returns void language plpgsql as $body$ begin drop table public.users; end $body$;",
    ],
)
def test_the_rule_catches_data_losing_statements(migration: str) -> None:
    assert destructive_statements(migration)


def test_the_rule_lets_a_function_define_a_delete() -> None:
    erase = (
        "create or replace function public.erase(p uuid) returns void language plpgsql\n"
        "set search_path = '' as $$\nbegin\n  delete from public.messages m where m.id = p;\nend\n$$;"
    )
    assert destructive_statements(erase) == []


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_forward_migrations_never_drop_or_truncate_tables(path: Path) -> None:
    assert destructive_statements(path.read_text()) == []


def test_every_migration_runs_a_second_time_and_changes_nothing(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    database.prepare(url)
    before = _pg_dump(url)
    with psycopg.connect(url) as conn:
        for path in MIGRATIONS:
            database.run_script(conn, path.read_text())  # as the CLI runs it
    assert _pg_dump(url) == before


def test_a_concurrent_index_migration_runs_a_second_time_and_rolls_back(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    # a correct migration that must run outside a transaction, and its rollback likewise
    project = tmp_path / "project"
    shutil.copytree(supabase_dir(), project / "supabase", ignore=shutil.ignore_patterns(".temp", ".branches"))
    up = "create index concurrently if not exists tenants_name_idx on public.tenants (name);\n"
    down = "drop index concurrently if exists public.tenants_name_idx;\n"
    (project / "supabase" / "migrations" / "29990101000000_tenant_names.sql").write_text(up)
    (project / "supabase" / "rollbacks" / "29990101000000_tenant_names.down.sql").write_text(down)
    url = fresh_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(project))
        database.prepare(url)
        before = _pg_dump(url)
        with psycopg.connect(url) as conn:
            database.run_script(conn, up)
        assert _pg_dump(url) == before
        assert database.rollback(url, "20261231000000") == ["29990101000000"]
    with psycopg.connect(url) as conn:
        gone = conn.execute("select to_regclass('public.tenants_name_idx') is null").fetchone()
        versions = conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()
    assert gone == (True,)
    assert versions is not None
    assert versions[0] < "29990101000000"


def test_up_down_up_restores_the_schema_exactly(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    database.prepare(url)
    after_up = _pg_dump(url)
    undone = database.rollback(url)
    assert undone == sorted(undone, reverse=True)
    assert len(undone) == len(MIGRATIONS)
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = any(%s)",
            (list(SCHEMAS),),
        ).fetchone()
    assert left == (0,)
    database.push(url)
    assert _pg_dump(url) == after_up


def test_a_second_push_applies_nothing(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        before = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
    output = database.push(db_url)
    assert "Applying migration" not in output
    assert "up to date" in output
    with psycopg.connect(db_url) as conn:
        after = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
    assert before == after == (len(MIGRATIONS),)


def test_a_failing_migration_leaves_nothing_half_applied(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    # a copy of the project whose last migration fails halfway through
    project = tmp_path / "project"
    shutil.copytree(supabase_dir(), project / "supabase", ignore=shutil.ignore_patterns(".temp", ".branches"))
    broken = project / "supabase" / "migrations" / "29990101000000_broken.sql"
    broken.write_text("create table public.half_applied (id uuid primary key);\nselect 1/0;\n")
    url = fresh_database()
    database.apply_supabase_compat(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUPATENANT_PROJECT_DIR", str(project))
        with pytest.raises(MigrationFailed, match="division by zero"):
            database.push(url)
    with psycopg.connect(url) as conn:
        row = conn.execute("select to_regclass('public.half_applied') is null").fetchone()
        applied = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
    assert row == (True,)
    assert applied == (len(MIGRATIONS),)  # the good ones stayed applied, the broken one not at all
