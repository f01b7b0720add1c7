"""Small Supabase CLI projects written into a temporary folder, for ``supatenant check``."""

from __future__ import annotations

import shutil
from pathlib import Path

from supatenant import history
from supatenant.check.findings import CheckContext, Finding
from supatenant.project import supabase_dir


def make_project(root: Path, migrations: dict[str, str], rollbacks: dict[str, str] | None = None) -> Path:
    """A project at ``root`` with the project's config.toml and the given files, by name."""
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "supabase" / "rollbacks").mkdir()
    shutil.copy(supabase_dir() / "config.toml", root / "supabase" / "config.toml")
    for name, text in migrations.items():
        (root / "supabase" / "migrations" / name).write_text(text)
    for name, text in (rollbacks or {}).items():
        (root / "supabase" / "rollbacks" / name).write_text(text)
    return root


def context(
    project: Path,
    review_from: str | None = None,
    server_url: str | None = None,
    target_url: str | None = None,
) -> CheckContext:
    """Every migration, those from version ``review_from`` on under review (all without it)."""
    files = tuple(f.path for f in history.migration_files(project))
    reviewed = tuple(p for p in files if review_from is None or history.version_of(p) >= review_from)
    return CheckContext(project, files, reviewed, server_url=server_url, target_url=target_url)


def where(findings: list[Finding]) -> set[tuple[str, str | None, int | None]]:
    """(rule, file name, line) of each finding."""
    return {(f.rule, Path(f.file).name if f.file else None, f.line) for f in findings}
