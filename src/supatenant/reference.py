"""Scratch databases migrated from a project's files by the real Supabase CLI.

A copy of the project holding only the chosen migrations is pushed with ``supabase db
push`` to a new database on a server, exactly as a real database would be migrated; the
database is dropped when the block ends.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from supatenant import database
from supatenant.errors import MigrationFailed
from supatenant.project import run_supabase

_SKIP = shutil.ignore_patterns(".temp", ".branches", "seed.sql", "tests")


def copy_project(project: Path, into: Path, keep: Callable[[Path], bool]) -> Path:
    """A copy of ``project``'s ``supabase/`` folder whose migrations are those ``keep`` accepts."""
    target = into / "project"
    shutil.copytree(project / "supabase", target / "supabase", ignore=_SKIP)
    for path in (target / "supabase" / "migrations").iterdir():
        if path.is_file() and not keep(path):
            path.unlink()
    return target


def push_project(url: str, project: Path) -> str:
    """``supabase db push`` of ``project`` onto ``url`` (Supabase compatibility first)."""
    database.check_reachable(url)
    database.apply_supabase_compat(url)
    result = run_supabase("db", "push", f"--remote={url}", "--yes", "--include-all", workdir=project)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise MigrationFailed(f"supabase db push failed:\n{output.strip()}")
    return output


@contextmanager
def migrated(server_url: str, project: Path, keep: Callable[[Path], bool] = lambda _: True) -> Iterator[str]:
    """A new database on ``server_url`` holding ``project``'s migrations that ``keep`` accepts."""
    url = database.create_database(server_url, "supatenant_scratch")
    try:
        with tempfile.TemporaryDirectory(prefix="supatenant-") as tmp:
            copy = copy_project(project, Path(tmp), keep)
            if any((copy / "supabase" / "migrations").glob("*.sql")):
                push_project(url, copy)
            else:  # nothing for the CLI to apply
                database.check_reachable(url)
                database.apply_supabase_compat(url)
        yield url
    finally:
        database.drop_database(url)


def clone(url: str, prefix: str = "supatenant_scratch") -> str:
    """A new database on the same server, a copy of ``url`` (which nobody may be connected to)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    source = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(source))
        )
    return database.with_database(url, name)
