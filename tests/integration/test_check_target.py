"""The target source of ``supatenant check``: a live database's history and drift, read only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from supatenant import facts
from supatenant.check.findings import CheckContext
from supatenant.check.scratch import scratch_findings
from supatenant.check.target import target_findings, unapplied
from supatenant.reference import push_project
from tests.integration.check_projects import context, make_project, where
from tests.integration.test_check_scratch import BASE

FILES = {
    "20260101000000_base.sql": BASE,
    "20260101000100_names.sql": "alter table public.items add column if not exists nickname text;\n",
    "20260101000300_later.sql": "alter table public.items add column if not exists colour text;\n",
}


def _target(tmp_path: Path, fresh_database: Callable[[], str]) -> tuple[Path, str]:
    project = make_project(tmp_path / "project", FILES)
    url = fresh_database()
    push_project(url, project)
    return project, url


def test_a_target_migrated_from_the_files_gives_nothing(
    tmp_path: Path, fresh_database: Callable[[], str], server_url: str
) -> None:
    project, url = _target(tmp_path, fresh_database)
    (project / "supabase" / "migrations" / "20260101000400_next.sql").write_text(
        "alter table public.items add column if not exists size int;\n"
    )
    ctx = context(project, "20260101000400", server_url, url)
    assert [p.name for p in unapplied(url, ctx.migrations)] == ["20260101000400_next.sql"]
    assert list(target_findings(ctx)) == []
    assert list(target_findings(context(project, server_url=server_url))) == []  # no target: nothing


def test_history_mistakes_and_drift_are_reported_without_writing(
    tmp_path: Path, fresh_database: Callable[[], str], server_url: str
) -> None:
    project, url = _target(tmp_path, fresh_database)
    migrations = project / "supabase" / "migrations"
    # edited after it was applied; and a new file older than the newest applied one
    (migrations / "20260101000100_names.sql").write_text(
        "-- a comment and new layout change nothing\nalter table public.items\n  add column if not exists nickname text;\n"
    )
    (migrations / "20260101000300_later.sql").write_text(
        "alter table public.items add column if not exists colour varchar(20);\n"
    )
    (migrations / "20260101000200_between.sql").write_text(
        "alter table public.items add column if not exists size int;\n"
    )
    with psycopg.connect(url) as conn:
        conn.execute("alter table public.items disable row level security")
        conn.execute("create index items_name_idx on public.items (name)")
        conn.commit()
        before = facts.read(conn)
    all_files = context(project, server_url=server_url, target_url=url)
    under_review = unapplied(url, all_files.migrations)
    assert [p.name for p in under_review] == ["20260101000200_between.sql"]
    ctx = CheckContext(project, all_files.migrations, under_review, server_url, url)
    found = list(target_findings(ctx))
    assert {
        ("version-out-of-order", "20260101000200_between.sql", 1),
        ("migration-edited", "20260101000300_later.sql", 1),
    } <= where(found)
    assert not any(f.file and f.file.endswith("_names.sql") for f in found)  # layout only
    drift = {f.object for f in found if f.rule == "drift"}
    assert {"table public.items", "index public.items_name_idx"} <= drift
    # the edited file gives another column type than the target holds: that shows as drift too
    assert "column public.items.colour" in drift
    with psycopg.connect(url) as conn:
        assert facts.read(conn) == before
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name) values ('20260101000050', 'lost')"
        )
        conn.commit()
    found = list(target_findings(ctx))
    lost = [f for f in found if f.rule == "applied-version-without-file"]
    assert [f.object for f in lost] == ["supabase_migrations.schema_migrations 20260101000050"]
    assert not any(f.rule == "drift" for f in found)  # not knowable without every applied file


def test_a_check_the_target_s_rows_fail(
    tmp_path: Path, fresh_database: Callable[[], str], server_url: str
) -> None:
    project, url = _target(tmp_path, fresh_database)
    with psycopg.connect(url) as conn:
        conn.execute("insert into public.items (name, status) values ('kept', 'a'), ('old', 'c')")
        conn.commit()
    migrations = project / "supabase" / "migrations"
    # refuses the stored 'c' row; and a new check every stored row passes
    (migrations / "20260101000400_narrow.sql").write_text(
        "alter table public.items drop constraint if exists items_status_check;\n"
        "alter table public.items add constraint items_status_check check (status in ('a', 'b'));\n"
    )
    (migrations / "20260101000500_named.sql").write_text(
        "alter table public.items drop constraint if exists items_name_check;\n"
        "alter table public.items add constraint items_name_check check (length(name) > 0);\n"
    )
    files = context(project, server_url=server_url, target_url=url).migrations
    ctx = CheckContext(project, files, unapplied(url, files), server_url, url)
    found = [f for f in scratch_findings(ctx) if f.rule == "check-narrowed"]
    assert where(found) == {("check-narrowed", "20260101000400_narrow.sql", 2)}
    assert found[0].severity == "error"
    assert found[0].message.startswith("1 existing rows of public.items on the target")
