"""Scratch databases migrated from a project's files by the real Supabase CLI.

A copy of the project holding only the chosen migrations is pushed with ``supabase db
push`` to a new database on a server, exactly as a real database would be migrated; the
database is dropped when the block ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
            push_project(url, copy_project(project, Path(tmp), keep))
        yield url
    finally:
        database.drop_database(url)
