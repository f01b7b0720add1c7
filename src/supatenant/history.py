"""A project's migration files against a database's migration history.

The Supabase CLI records each migration it applies in ``supabase_migrations.schema_migrations``
(version, name, and the statements it ran). Comparing that with ``supabase/migrations/``
says which files are pending, which applied versions have no file any more, which files
were edited after they were applied, and which pending files are older than the newest
applied one (``supabase db push`` refuses those unless told to include them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# the CLI's own rule: <digits>_<name>.sql; anything else in migrations/ is skipped
_FILE = re.compile(r"^(?P<version>\d+)_(?P<name>.*)\.sql$")
_IGNORED_TOKENS = {"SQL_COMMENT", "C_COMMENT", "ASCII_59"}  # comments and ';'


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path


@dataclass(frozen=True)
class Applied:
    version: str
    name: str | None
    statements: tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    """Files against history. ``edited`` and ``out_of_order`` hold files; ``unknown`` versions."""

    files: tuple[MigrationFile, ...]
    applied: tuple[Applied, ...]
    pending: tuple[MigrationFile, ...]
    unknown: tuple[Applied, ...]
    edited: tuple[MigrationFile, ...]
    out_of_order: tuple[MigrationFile, ...]


def migration_files(project: Path) -> list[MigrationFile]:
    """The files the CLI applies, in its order (by version)."""
    found = []
    for path in (project / "supabase" / "migrations").glob("*.sql"):
        if m := _FILE.match(path.name):
            found.append(MigrationFile(m.group("version"), m.group("name"), path))
    return sorted(found, key=lambda f: (f.version, f.name))


def version_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def applied_migrations(conn: psycopg.Connection[Any]) -> list[Applied] | None:
    """The database's migration history, oldest first; None when it has none."""
    row = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
    if not row or not row[0]:
        return None
    columns = {
        r[0]
        for r in conn.execute(
            "select attname from pg_attribute"
            " where attrelid = 'supabase_migrations.schema_migrations'::regclass and attnum > 0"
        ).fetchall()
    }
    name = "name" if "name" in columns else "null::text"
    statements = "statements" if "statements" in columns else "null::text[]"
    query = (
        f"select version, {name}, {statements} from supabase_migrations.schema_migrations order by version"
    )
    return [
        Applied(str(v), n, tuple(s) if s is not None else None)
        for v, n, s in conn.execute(query.encode()).fetchall()
    ]


def normalized(statements: Iterable[str]) -> tuple[str, ...]:
    """The tokens of ``statements`` without comments, whitespace or semicolons: two texts
    that differ only in those run the same SQL."""
    import pglast  # PostgreSQL's scanner: the `local` extra, loaded when first needed
    from pglast.parser import scan

    tokens: list[str] = []
    for statement in statements:
        data = statement.encode()
        try:
            scanned = scan(statement)
        except pglast.parser.ParseError:
            tokens.append(" ".join(statement.split()))
            continue
        tokens.extend(data[t.start : t.end + 1].decode() for t in scanned if t.name not in _IGNORED_TOKENS)
    return tuple(tokens)


def file_statements(path: Path) -> list[str]:
    import pglast

    text = path.read_text()
    try:
        return [str(s) for s in pglast.split(text)]
    except pglast.parser.ParseError:
        return [text]


def is_edited(file: MigrationFile, applied: Applied) -> bool:
    """True when the stored statements differ from the file's (beyond comments and layout)."""
    if applied.statements is None:
        return False
    return normalized(applied.statements) != normalized(file_statements(file.path))


def compare(files: Sequence[MigrationFile], applied: Sequence[Applied]) -> Comparison:
    by_version = {a.version: a for a in applied}
    file_versions = {f.version for f in files}
    pending = tuple(f for f in files if f.version not in by_version)
    newest = max(by_version, default="")
    return Comparison(
        files=tuple(files),
        applied=tuple(applied),
        pending=pending,
        unknown=tuple(a for a in applied if a.version not in file_versions),
        edited=tuple(f for f in files if f.version in by_version and is_edited(f, by_version[f.version])),
        out_of_order=tuple(f for f in pending if f.version < newest),
    )
