"""Runs the sources of findings over a project and merges what they report."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from supatenant.check.findings import SEVERITIES, CheckContext, Finding, Severity, Source
from supatenant.check.sqlfile import SqlFile, parse_file
from supatenant.check.static import migration_files, static_source


def _scratch(ctx: CheckContext) -> Iterable[Finding]:
    from supatenant.check.scratch import scratch_findings  # a scratch database: psycopg, the CLI

    return scratch_findings(ctx)


def _target(ctx: CheckContext) -> Iterable[Finding]:
    from supatenant.check.target import target_findings  # the live database, read only

    return target_findings(ctx)


STATIC: list[Source] = [static_source]
# each source sees what the one before cannot: the files; the files run on a scratch database
# migrated up to them; the target's history and catalog
SOURCES: list[Source] = [static_source, _scratch, _target]


class CannotRun(Exception):
    """The check could not run (no project, an unreachable database): exit status 2."""


def under_review(migrations: tuple[Path, ...], target_url: str | None) -> tuple[Path, ...]:
    """Without a target, every file; with one, those it has not applied (read by the target
    inspection, ``supatenant.check.target.unapplied(target_url, migrations)``)."""
    if target_url is None:
        return migrations
    try:
        target = importlib.import_module("supatenant.check.target")
    except ImportError as e:
        raise CannotRun(f"reading the target needs the target inspection: {e}") from e
    try:
        unapplied = set(target.unapplied(target_url, migrations))
    except Exception as e:  # an unreachable target: the check cannot tell what is new
        raise CannotRun(f"cannot read the target's migration history: {type(e).__name__}: {e}") from e
    return tuple(p for p in migrations if p in unapplied)


def context(project: Path, target_url: str | None = None, server_url: str | None = None) -> CheckContext:
    if not (project / "supabase" / "migrations").is_dir():
        raise CannotRun(f"{project} is not a Supabase CLI project: it has no supabase/migrations/")
    migrations = migration_files(project)
    return CheckContext(
        project=project,
        migrations=migrations,
        under_review=under_review(migrations, target_url),
        server_url=server_url,
        target_url=target_url,
    )


def run(ctx: CheckContext, sources: Sequence[Source] | None = None) -> list[Finding]:
    """Every source's findings (default: :data:`SOURCES`) in file and line order. Files are shown
    relative to the project; where two sources report the same rule at the same place, the
    earlier source's stands."""
    seen: set[tuple[str, str | None, int | None, str | None]] = set()
    out: list[Finding] = []
    files: dict[str, SqlFile | None] = {}
    for source in SOURCES if sources is None else sources:
        try:
            found = list(source(ctx))
        except CannotRun:
            raise
        except Exception as e:  # a source that breaks must not pass the check silently
            name = getattr(source, "__name__", repr(source))
            raise CannotRun(f"{name} failed: {type(e).__name__}: {e}") from e
        for f in found:
            f = _relative(ctx.project, f)
            key = (f.rule, f.file, f.line, f.object)
            if key not in seen and not suppressed(ctx.project, f, files):
                seen.add(key)
                out.append(f)
    out.sort(key=lambda f: (f.file or "", f.line or 0, f.object or "", f.rule))
    return out


def suppressed(project: Path, f: Finding, files: dict[str, SqlFile | None]) -> bool:
    """Whether the statement at the finding's line (any line of it) suppresses its rule, with
    a reason: the same comment silences a rule whichever source reports it."""
    if f.file is None or f.line is None or not f.file.endswith(".sql"):
        return False
    if f.file not in files:
        path = project / f.file
        files[f.file] = parse_file(path, f.file) if path.is_file() else None
    sql = files[f.file]
    if sql is None:
        return False
    for s in sql.statements:
        if s.line <= f.line <= s.line + s.text.count("\n"):
            return f.rule in s.allowed
    return False


def _relative(project: Path, f: Finding) -> Finding:
    if f.file is None or not Path(f.file).is_absolute():
        return f
    try:
        return dataclasses.replace(f, file=str(Path(f.file).relative_to(project)))
    except ValueError:
        return f


def failing(findings: Sequence[Finding], fail_on: Severity) -> bool:
    floor = SEVERITIES.index(fail_on)
    return any(SEVERITIES.index(f.severity) >= floor for f in findings)
