"""The static source: every rule the migration files decide on their own, read by PostgreSQL's
parser and replayed into a schema model in the order the CLI applies them."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from pglast import ast

from supatenant.check import rules
from supatenant.check.findings import CheckContext, Finding
from supatenant.check.model import Model, Replayer
from supatenant.check.names import rel_key, show
from supatenant.check.rules import FILE_RULES, RULES, STATEMENT_RULES, FileReview, Hit, rule
from supatenant.check.rules.references import surviving_policies
from supatenant.check.sqlfile import SqlFile, Statement, long_identifiers, parse_file

MIGRATION_NAME = re.compile(r"^([0-9]+)_(.*)\.sql$")
"""The names the Supabase CLI applies; it skips every other file in migrations/."""
OLD_INIT = re.compile(r"([0-9]{14})_init\.sql")
"""A first file named so, older than 2021-12-09, the CLI skips (an early CLI's initial schema)."""
MIGRATION_FOLDER = re.compile(r"^([0-9]+)_")


def _skipped_init(name: str) -> bool:
    m = OLD_INIT.search(name)
    return m is not None and int(m.group(1)) < 20211209000000


# provided by Supabase: the files do not create them, and the model does not know them whole
PLATFORM_SCHEMAS = frozenset(
    {
        "auth", "extensions", "storage", "realtime", "graphql", "graphql_public", "vault", "net", "cron",
        "supabase_functions", "supabase_migrations", "pgsodium", "pgsodium_masks", "pgbouncer", "pgmq",
    }
)  # fmt: skip

rule("duplicate-version", "error", "history", "two migration files with the same version")
rule("skipped-file", "error", "history", "a file in migrations/ the CLI silently skips")
rule(
    "missing-rollback",
    "error",
    "history",
    "a migration without its rollback (in a project that keeps supabase/rollbacks/)",
)
rule("version-out-of-order", "error", "history", "a new migration older than one already applied")
rule("suppression-without-reason", "error", "execution", "a suppression comment without its reason")
rule("parse-error", "error", "execution", "a file PostgreSQL cannot parse")


def migration_files(project: Path) -> tuple[Path, ...]:
    """The migration files the CLI applies, in its order."""
    folder = project / "supabase" / "migrations"
    if not folder.is_dir():
        return ()
    entries = sorted(folder.iterdir())
    return tuple(
        p
        for i, p in enumerate(entries)
        if p.is_file() and MIGRATION_NAME.match(p.name) and not (i == 0 and _skipped_init(p.name))
    )


def exposed_schemas(project: Path) -> tuple[str, ...]:
    config = project / "supabase" / "config.toml"
    try:
        data = tomllib.loads(config.read_text())
        schemas = data.get("api", {}).get("schemas")
    except (OSError, tomllib.TOMLDecodeError):
        schemas = None
    return tuple(schemas) if isinstance(schemas, list) else ("public", "graphql_public")


def platform_model(project: Path) -> Model:
    """What Supabase provides before any migration: its schemas and the API roles' defaults, plus
    whatever the project's compatibility layer (supabase/local/*.sql) declares of it."""
    m = Model()
    m.schemas |= PLATFORM_SCHEMAS
    api = {"anon", "authenticated", "service_role"}
    m.schema_usage["public"] = set(api)
    m.default_table_grants["public"] = set(api)
    m.default_function_grants["public"] = set(api)
    replay = Replayer(m)
    local = project / "supabase" / "local"
    if local.is_dir():
        for path in sorted(local.glob("*.sql")):
            sql = parse_file(path, str(path))
            for s in sql.statements:
                replay.apply(s.node, "", s.line)
    m.opaque_schemas = (m.schemas | PLATFORM_SCHEMAS) - {"public"}
    return m


def _rel(project: Path, path: Path) -> str:
    try:
        return str(path.relative_to(project))
    except ValueError:
        return str(path)


def _skipped_folder(ctx: CheckContext, folder: Path) -> Iterator[Finding]:
    for p in sorted(folder.rglob("*.sql")):
        yield _finding(
            "skipped-file",
            f"the Supabase CLI never applies {p.name}: it is in the subfolder {folder.name}/",
            "move it directly into supabase/migrations/ as <digits>_<name>.sql",
            _rel(ctx.project, p),
            None,
        )


def history(ctx: CheckContext) -> Iterator[Finding]:
    folder = ctx.project / "supabase" / "migrations"
    if folder.is_dir():
        entries = sorted(folder.iterdir())
        for i, p in enumerate(entries):
            why = None
            if p.is_dir():
                sql = [x for x in p.iterdir() if x.is_file() and x.suffix == ".sql"]
                if not MIGRATION_FOLDER.match(p.name) or len(sql) != 1:
                    yield from _skipped_folder(ctx, p)
                continue
            if p.name.startswith("."):
                continue
            if i == 0 and _skipped_init(p.name):
                why = "an early CLI's first <timestamp>_init.sql is never applied"
            elif not MIGRATION_NAME.match(p.name):
                why = "its name is not <version>_<name>.sql"
            if why:
                yield _finding(
                    "skipped-file",
                    f"the Supabase CLI never applies {p.name}: {why}",
                    "rename it to <digits>_<name>.sql directly in supabase/migrations/ (or move it out)",
                    _rel(ctx.project, p),
                    None,
                )
    versions: dict[str, list[Path]] = {}
    for p in ctx.migrations:
        m = MIGRATION_NAME.match(p.name)
        if m:
            versions.setdefault(m.group(1), []).append(p)
    for version, paths in versions.items():
        for p in paths[1:]:
            yield _finding(
                "duplicate-version",
                f"version {version} is also {paths[0].name}: the CLI records a version once, so one "
                "of them never runs where the other already did",
                "give this file a new, later version (supabase migration new)",
                _rel(ctx.project, p),
                1,
            )
    review = set(ctx.under_review)
    applied = [p for p in ctx.migrations if p not in review]
    newest = max((MIGRATION_NAME.match(p.name).group(1) for p in applied), default=None, key=int)  # type: ignore[union-attr]
    for p in ctx.under_review:
        m = MIGRATION_NAME.match(p.name)
        if m and newest is not None and int(m.group(1)) < int(newest):
            yield _finding(
                "version-out-of-order",
                f"version {m.group(1)} is older than {newest}, already applied: `db push` refuses it "
                "(or, with --include-all, runs it after newer ones)",
                "give it a version newer than every applied migration",
                _rel(ctx.project, p),
                1,
            )
        rollback = ctx.rollbacks / (p.name[: -len(".sql")] + ".down.sql")
        if ctx.rollbacks.is_dir() and not rollback.is_file():
            yield _finding(
                "missing-rollback",
                f"no rollback for {p.name}: `supatenant rollback` cannot undo it",
                f"write its exact inverse in {_rel(ctx.project, rollback)}",
                _rel(ctx.project, p),
                1,
            )


def _finding(rule_id: str, message: str, fix: str, file: str | None, line: int | None) -> Finding:
    return Finding(rule_id, RULES[rule_id].severity, message, fix, file=file, line=line)


def _emit(hit: Hit, sql: SqlFile, stmt: Statement | None) -> Finding | None:
    if stmt is not None and hit.rule in stmt.allowed:
        return None
    line = hit.line if hit.line is not None else (stmt.line if stmt else None)
    return _finding(hit.rule, hit.message, hit.fix, sql.rel, line)


def _touches(node: object) -> tuple[str, str] | None:
    if isinstance(node, (ast.CreateStmt, ast.AlterTableStmt)):
        return rel_key(node.relation)
    if isinstance(node, ast.ViewStmt):
        return rel_key(node.view)
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return rel_key(node.into.rel)
    return None


def _replay(replay: Replayer, model: Model, s: Statement, rel: str) -> None:
    if isinstance(s.node, ast.DoStmt):
        model.dynamic.append(s.text)
    replay.apply(s.node, rel, s.line, s.text)


def static_source(ctx: CheckContext) -> Iterator[Finding]:
    """Findings from the files alone, for the files under review."""
    rules.load()
    exposed = exposed_schemas(ctx.project)
    model = platform_model(ctx.project)
    replay = Replayer(model)
    yield from history(ctx)
    review = set(ctx.under_review)
    reviewed: dict[tuple[str, int], tuple[SqlFile, Statement]] = {}
    # tables that hold rows when the push starts: those of the files already applied. Tables the
    # files under review create are empty while the rest of the push runs.
    existing: frozenset[tuple[str, str]] | None = None
    timeline: list[tuple[str, Statement]] = []  # every statement of every file, in order
    for path in ctx.migrations:
        rel = _rel(ctx.project, path)
        sql = parse_file(path, rel)
        timeline.extend((rel, s) for s in sql.statements)
        if path not in review:
            for s in sql.statements:
                _replay(replay, model, s, rel)
            continue
        if sql.error is not None:
            yield sql.error
            continue
        yield from sql.bad_suppressions
        if existing is None:
            existing = frozenset(model.relations)
        f = FileReview(
            sql=sql,
            model=model,
            exposed=exposed,
            existing=existing,
            start_checks={k: dict(r.checks) for k, r in model.relations.items()},
        )
        by_line: dict[int, Statement] = {}
        for i, s in enumerate(sql.statements):
            f.position = i
            by_line.setdefault(s.line, s)
            reviewed[(rel, s.line)] = (sql, s)
            for check in STATEMENT_RULES:
                for hit in check(f, s):
                    found = _emit(hit, sql, s)
                    if found:
                        yield found
            _replay(replay, model, s, rel)
            key = _touches(s.node)
            if key is not None:
                f.touched.setdefault(key, s.line)
        for check_file in FILE_RULES:
            for hit in check_file(f):
                found = _emit(hit, sql, by_line.get(hit.line or 0))
                if found:
                    yield found
    yield from _long_policy_names(model, reviewed, timeline)


def _long_policy_names(
    model: Model,
    reviewed: dict[tuple[str, int], tuple[SqlFile, Statement]],
    timeline: list[tuple[str, Statement]],
) -> Iterator[Finding]:
    """A policy's name is judged by what is left at the end: a later migration that renames it
    (or names it by its stored, cut-off name, as a dynamic rename in a ``do`` block does) fixes
    the file that wrote it too long."""
    where = {(rel, s.line): i for i, (rel, s) in enumerate(timeline)}
    for file, line, stored, table in surviving_policies(model):
        if (file, line) not in reviewed:
            continue
        sql, stmt = reviewed[(file, line)]
        for name in long_identifiers(stmt.text):
            if name.encode()[:63] != stored.encode():
                continue
            later = timeline[where[(file, line)] + 1 :]
            if any(stored in s.text and name not in s.text for _, s in later):
                continue
            found = _emit(
                Hit(
                    "name-too-long",
                    f'policy "{name}" on {show(table)} is {len(name.encode())} bytes; PostgreSQL stores '
                    f'only the first 63 ("{stored}"), so the catalog never shows the name the files use',
                    f'rename it: alter policy "{stored}" on {show(table)} rename to "<at most 63 bytes>"',
                ),
                sql,
                stmt,
            )
            if found:
                yield found
