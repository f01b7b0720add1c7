"""Findings only running the files can give: a scratch database and probes.

A new database on ``ctx.server_url`` (default: the embedded server) is migrated by the real
Supabase CLI with the project's files up to just before the first file under review. Then
each file under review runs as the CLI runs it, statement by statement, and the catalog is
compared before and after. Probes run in transactions that are rolled back: the file a
second time, its rollback and then the file again, and reads of the tables it touched as
``authenticated``. Supabase's advisors run before the first file and after the last, and
what they report new is attributed to the file that touched the object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast
from pglast.enums import ObjectType

from supatenant import embedded, facts
from supatenant.check.findings import CheckContext, Finding, Severity
from supatenant.codegen.catalog import build_schema
from supatenant.database import drop_database
from supatenant.probe.checks import check_findings
from supatenant.probe.exposure import exposure, reads_as_authenticated
from supatenant.probe.objects import clash, describe_drop, exists, storage
from supatenant.probe.sqlfile import (
    Failed,
    SqlFile,
    Statement,
    differences,
    finding,
    line_destroying,
    line_naming,
    message,
    parse,
    probe,
    run,
)
from supatenant.project import run_supabase
from supatenant.reference import clone, migrated

Conn = psycopg.Connection[Any]

# SQLSTATEs of a statement naming something that is not there
_UNDEFINED = {"42P01", "3F000", "42703", "42883", "42704", "42P02"}


def _data_lost(
    file: SqlFile, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> Iterator[Finding]:
    for table, (oid, filenode) in sorted(before.items()):
        now = after.get(table)
        if now is None or now == (oid, filenode):
            continue
        what = "drops and creates again" if now[0] != oid else "empties or rewrites"
        yield finding(
            "destructive-idempotency",
            "error",
            file,
            line_destroying(file, table),
            f"run a second time, {file.path.name} {what} {table}:"
            " on a database holding data, its rows are lost",
            "guard with if not exists (or a catalog check) instead of dropping, truncating or deleting",
            table,
        )


# --- one file ------------------------------------------------------------------------------


def _touched(diffs: Sequence[facts.Difference]) -> set[str]:
    """The relations and functions a change names (a column's or policy's table, too)."""
    out: set[str] = set()
    for d in diffs:
        name = d.object.split(" to ")[0]
        out.add(name)
        if d.kind in ("column", "policy", "trigger", "constraint") or (d.kind == "grant" and "(" not in name):
            out.add(name.rsplit(".", 1)[0])
    return out


def _probe_file(
    conn: Conn, ctx: CheckContext, file: SqlFile, before: facts.Facts | None
) -> tuple[list[Finding], facts.Facts | None]:
    """The file's findings, and the schema it leaves (None when it fails)."""
    found: list[Finding] = []
    if before is None:
        before = facts.read(conn)
    silent_drops: list[tuple[Statement, ObjectType, Any]] = []

    def before_statement(s: Statement) -> None:
        node = s.node
        if isinstance(node, ast.DropStmt) and node.missing_ok:
            kind = ObjectType(node.removeType or 0)
            for obj in node.objects or ():
                if exists(conn, kind, obj) is False:
                    silent_drops.append((s, kind, obj))
        elif isinstance(node, ast.CreateStmt) and node.if_not_exists and (found_clash := clash(conn, node)):
            table, existing, declared = found_clash
            have = ", ".join(f"{n} {t}" for n, t, _ in existing)
            want = ", ".join(f"{n} {t}" for n, t, _ in declared)
            found.append(
                finding(
                    "if-not-exists-clash",
                    "error",
                    file,
                    s.line,
                    f"create table if not exists {table} does nothing: {table} already exists as ({have}),"
                    f" not as declared here ({want})",
                    f"choose another name, or alter the existing {table} explicitly",
                    table,
                )
            )

    try:
        run(conn, file, before_statement)
    except Failed as failed:
        undefined = failed.error.sqlstate in _UNDEFINED
        found.append(
            finding(
                "unknown-reference" if undefined else "migration-fails",
                "error",
                file,
                failed.statement.line,
                f"{file.path.name} fails here on the migrated schema: {message(failed.error)}",
                "create what it names in an earlier migration, or name what exists at this point"
                if undefined
                else "make the statement valid for the schema the earlier migrations leave",
            )
        )
        return found, None
    after = facts.read(conn)
    diffs = facts.diff(before, after)
    file.touched = _touched(diffs)

    for s, kind, obj in silent_drops:
        if exists(conn, kind, obj) is False:
            name = describe_drop(kind, obj)
            found.append(
                finding(
                    "drop-if-exists-unknown",
                    "warning",
                    file,
                    s.line,
                    f"drop ... if exists {name} did nothing: no such object exists at this point",
                    "check the name; drop what exists, or remove the statement",
                    name,
                )
            )

    found += check_findings(conn, ctx, file, before, diffs)
    found += exposure(conn, file)
    found += reads_as_authenticated(conn, file)

    # run a second time: must pass and change nothing
    try:
        with probe(conn, not file.outside):
            kept = storage(conn)
            run(conn, file)
            again = facts.read(conn)
            found += _data_lost(file, kept, storage(conn))
    except Failed as failed:
        found.append(
            finding(
                "not-rerunnable",
                "error",
                file,
                failed.statement.line,
                f"{file.path.name} fails when run a second time: {message(failed.error)}",
                "guard the statement (if not exists, or replace, a check of the catalog)",
            )
        )
    else:
        if again != after:
            found.append(
                finding(
                    "not-rerunnable",
                    "error",
                    file,
                    1,
                    f"{file.path.name} changes the schema when run a second time:"
                    f" {differences(after, again)}",
                    "make each statement leave the schema as the first run did",
                )
            )
        if file.outside:
            after = again

    rollback = ctx.rollbacks / file.path.name.replace(".sql", ".down.sql")
    down = parse(rollback) if rollback.is_file() else None
    if down is not None:
        found += _rollback_probe(conn, file, down, before, after)
        if file.outside or down.outside:  # ran for real: the file was applied again
            after = facts.read(conn)
    return found, after


def _rollback_probe(
    conn: Conn, file: SqlFile, down: SqlFile, before: facts.Facts, after: facts.Facts
) -> list[Finding]:
    found = []
    real = file.outside or down.outside
    try:
        with probe(conn, not real):
            run(conn, down)
            undone = facts.read(conn)
            if undone != before:
                found.append(
                    finding(
                        "rollback-not-inverse",
                        "error",
                        down,
                        1,
                        f"{down.path.name} does not restore the schema from before {file.path.name}:"
                        f" {differences(before, undone)}",
                        "undo exactly what the migration does, in reverse order",
                    )
                )
            run(conn, file)
            redone = facts.read(conn)
            if redone != after:
                found.append(
                    finding(
                        "rollback-not-inverse",
                        "error",
                        file,
                        1,
                        f"{file.path.name} applied again after {down.path.name} gives another schema:"
                        f" {differences(after, redone)}",
                        "make the rollback remove everything the migration creates",
                    )
                )
    except Failed as failed:
        which = down if failed.statement in down.statements else file
        found.append(
            finding(
                "rollback-not-inverse",
                "error",
                which,
                failed.statement.line,
                f"{which.path.name} fails in the rollback round trip of {file.path.name}:"
                f" {message(failed.error)}",
                "the rollback must run on the schema the migration leaves, and the migration after it",
            )
        )
    return found


# --- Supabase's advisors -------------------------------------------------------------------


def advisors(url: str, project: Path) -> list[dict[str, Any]]:
    """``supabase db advisors`` at warning level and above, as the CLI reports them."""
    result = run_supabase("db", "advisors", f"--remote={url}", "--level", "warn", workdir=project)
    start = result.stdout.find("[")
    if result.returncode != 0 or start < 0:
        return []
    found: list[dict[str, Any]] = json.loads(result.stdout[start : result.stdout.rindex("]") + 1])
    return found


def _advisor_findings(
    before: list[dict[str, Any]], after: list[dict[str, Any]], files: list[SqlFile]
) -> Iterator[Finding]:
    known = {a.get("cache_key") for a in before}
    for advice in after:
        if advice.get("cache_key") in known:
            continue
        meta = advice.get("metadata") or {}
        name = ".".join(str(meta[k]) for k in ("schema", "name") if meta.get(k))
        owner = next((f for f in reversed(files) if any(t.split("(")[0] == name for t in f.touched)), None)
        owner = owner or files[-1]
        severity: Severity = "error" if advice.get("level") == "ERROR" else "warning"
        yield finding(
            "advisor-" + str(advice.get("name", "finding")).replace("_", "-"),
            severity,
            owner,
            line_naming(owner, name) if name else 1,
            str(advice.get("detail") or advice.get("title")),
            str(advice.get("remediation") or "see Supabase's database advisors"),
            name or None,
        )


def _stale_models(conn: Conn, project: Path) -> list[Finding]:
    """``types/schema.json`` against the schema every migration gives, where the project has one."""
    committed = project / "types" / "schema.json"
    if not committed.is_file():
        return []
    try:
        generated = json.dumps(build_schema(conn), indent=2) + "\n"
    except ValueError:
        return []  # a type the generator does not map: `supatenant gen` says which
    if generated == committed.read_text():
        return []
    return [
        Finding(
            "models-out-of-date",
            "warning",
            "types/schema.json (and the models and types generated with it) differs from the schema"
            " the migrations give",
            "run `supatenant gen` and commit the generated files with the migration",
            file=str(committed),
        )
    ]


def _advisors_elsewhere(url: str, project: Path) -> Future[list[dict[str, Any]]]:
    """The advisors' report on a copy of ``url`` as it is now, computed in the background
    while the files run on ``url``."""
    copy = clone(url)

    def report() -> list[dict[str, Any]]:
        try:
            return advisors(copy, project)
        finally:
            drop_database(copy)

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(report)
    pool.shutdown(wait=False)
    return future


def scratch_findings(ctx: CheckContext) -> Iterable[Finding]:
    if not ctx.under_review:
        return []
    server = ctx.server_url or embedded.start()
    reviewed = set(ctx.under_review)
    first = min(ctx.migrations.index(p) for p in ctx.under_review)
    base = {p.name for p in ctx.migrations[:first]}
    found: list[Finding] = []
    probed: list[SqlFile] = []
    with migrated(server, ctx.project, keep=lambda p: p.name in base) as url:
        advice_before = _advisors_elsewhere(url, ctx.project)
        with psycopg.connect(url, autocommit=True) as conn:
            state: facts.Facts | None = None
            for path in ctx.migrations[first:]:
                file = parse(path)
                if file is None:
                    break
                if path not in reviewed:  # applied already where it goes: just bring it in
                    try:
                        run(conn, file)
                    except Failed:
                        break
                    state = None
                    continue
                file_found, state = _probe_file(conn, ctx, file, state)
                found += file_found
                probed.append(file)
                if state is None:
                    break  # later files would fail on a schema they were not written for
            else:
                found += _stale_models(conn, ctx.project)
        before = advice_before.result()
        if probed:
            found += _advisor_findings(before, advisors(url, ctx.project), probed)
    return found
