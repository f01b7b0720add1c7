"""Findings from the live database the files are meant for, read only.

Its migration history (``supabase_migrations.schema_migrations``, with the statements the
CLI stored) against the project's files: a file under review older than the newest applied
version, an applied migration edited afterwards, an applied version with no file. And its
catalog against a scratch database migrated by the real CLI with exactly the files the
target has applied: whatever differs was changed outside the migrations (drift).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from supatenant import database, embedded, facts, history
from supatenant.check.findings import CheckContext, Finding
from supatenant.reference import migrated


@contextmanager
def _read_only(url: str) -> Iterator[psycopg.Connection[Any]]:
    database.check_reachable(url)
    with psycopg.connect(url) as conn:
        conn.read_only = True
        with conn.transaction():
            yield conn


def _applied(url: str) -> list[history.Applied]:
    with _read_only(url) as conn:
        return history.applied_migrations(conn) or []


def unapplied(target_url: str, migrations: Sequence[Path]) -> tuple[Path, ...]:
    """The files among ``migrations`` whose version the target has not applied: those under
    review. All of them when the target has no migration history."""
    done = {a.version for a in _applied(target_url)}
    return tuple(p for p in migrations if history.version_of(p) not in done)


def _files(migrations: Sequence[Path]) -> list[history.MigrationFile]:
    return [
        history.MigrationFile(history.version_of(p), p.stem.split("_", 1)[-1], p)
        for p in migrations
        if p.name.split("_", 1)[0].isdigit()
    ]


def _history_findings(ctx: CheckContext, applied: list[history.Applied]) -> Iterator[Finding]:
    cmp = history.compare(_files(ctx.migrations), applied)
    reviewed = set(ctx.under_review)
    newest = applied[-1].version if applied else None
    for f in cmp.out_of_order:
        if f.path in reviewed:
            yield Finding(
                "version-out-of-order",
                "error",
                f"{f.path.name} is older than {newest}, the newest migration the target has applied:"
                " `supabase db push` refuses it, and with --include-all applies it after newer ones",
                "rename the file to a version newer than every applied one",
                file=str(f.path),
                line=1,
            )
    for f in cmp.edited:
        yield Finding(
            "migration-edited",
            "error",
            f"{f.path.name} was edited after the target applied it: the target ran other statements,"
            " and the change never reaches it",
            "restore the file as applied and put the change in a new migration",
            file=str(f.path),
            line=1,
        )
    for a in cmp.unknown:
        yield Finding(
            "applied-version-without-file",
            "warning",
            f"the target has applied migration {a.version} ({a.name or 'no name'}),"
            " which the project has no file for",
            "restore the file (supabase migration fetch), or repair the history (supabase migration repair)",
            object=f"supabase_migrations.schema_migrations {a.version}",
        )


def _drift(ctx: CheckContext, applied: list[history.Applied]) -> Iterator[Finding]:
    done = {a.version for a in applied}
    known = {history.version_of(p) for p in ctx.migrations}
    if not done or not done <= known:
        return  # without every applied file, what the migrations give is unknown
    server = ctx.server_url or embedded.start()
    assert ctx.target_url is not None
    keep = {p.name for p in ctx.migrations if history.version_of(p) in done}
    with migrated(server, ctx.project, keep=lambda p: p.name in keep) as url, psycopg.connect(url) as ref:
        expected = facts.read(ref)
    with _read_only(ctx.target_url) as conn:
        actual = facts.read(conn)
    for d in facts.diff(expected, actual):
        if d.kind == "extension" and d.change == "extra":
            continue  # extensions enabled on the platform are not the project's business
        yield Finding(
            "drift",
            "warning",
            f"changed outside the migrations: {d.describe()}",
            "put the change in a migration, or undo it on the target",
            object=f"{d.kind} {d.object}",
        )


def target_findings(ctx: CheckContext) -> Iterable[Finding]:
    if ctx.target_url is None:
        return []
    applied = _applied(ctx.target_url)
    return [*_history_findings(ctx, applied), *_drift(ctx, applied)]
