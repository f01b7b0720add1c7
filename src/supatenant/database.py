"""Bring a database to the current schema: Supabase compatibility where needed, then
``supabase db push`` with the real CLI."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from supatenant import bundle
from supatenant.errors import DatabaseUnreachable, MigrationFailed, SetupError
from supatenant.project import run_supabase, supabase_dir


def check_reachable(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.OperationalError as e:
        raise DatabaseUnreachable(f"cannot connect to {redact(url)}: {e}".strip()) from e


def redact(url: str) -> str:
    """The URL with any password replaced, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostpart}"


def _has_auth_schema(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select exists (select 1 from pg_namespace where nspname = 'auth')").fetchone()
    return bool(row and row[0])


def apply_supabase_compat(url: str) -> bool:
    """Apply supatenant's ``supabase/local/`` (shipped with the package) when the target has no
    ``auth`` schema; True when applied.

    The files run in one transaction: a failure leaves nothing behind.
    """
    with psycopg.connect(url) as conn, conn.transaction():
        if _has_auth_schema(conn):
            return False
        for path in bundle.compat_files():
            conn.execute(path.read_text())  # trusted project file, no parameters
    return True


def push(url: str) -> str:
    """Run ``supabase db push`` against ``url``; return the CLI's output."""
    result = run_supabase("db", "push", f"--remote={url}", "--yes")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise MigrationFailed(
            "supabase db push failed; the failing migration was rolled back as a whole and "
            f"the ones before it stay applied:\n{output.strip()}"
        )
    return output


def prepare(url: str) -> str:
    """Make ``url`` hold the current schema: reachable check, compatibility layer, push."""
    check_reachable(url)
    apply_supabase_compat(url)
    return push(url)


def rollback_scripts() -> dict[str, Path]:
    """Down scripts by migration version."""
    return {path.name.split("_", 1)[0]: path for path in (supabase_dir() / "rollbacks").glob("*.down.sql")}


def _parser() -> Any:
    """PostgreSQL's own parser (pglast, in the ``local`` extra), loaded when first needed."""
    try:
        import pglast
        import pglast.parser
    except ImportError as e:
        raise SetupError(
            f"running SQL scripts needs PostgreSQL's parser: pip install 'supatenant[local]' ({e})"
        ) from e
    return pglast


def statements(script: str) -> list[str]:
    """The statements of ``script``, split by PostgreSQL's own parser."""
    pglast = _parser()
    try:
        return [str(s) for s in pglast.split(script)]
    except pglast.parser.ParseError as e:
        raise MigrationFailed(f"cannot parse the script: {e}") from e


def outside_transaction(statement: Any) -> bool:
    """True for a statement (text, or a parsed pglast node) PostgreSQL refuses inside a
    transaction block."""
    pglast = _parser()
    ast = pglast.ast
    node = pglast.parse_sql(statement)[0].stmt if isinstance(statement, str) else statement
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return any(p.defname == "concurrently" for p in node.params or ())
    return isinstance(node, ast.VacuumStmt | ast.CreatedbStmt | ast.DropdbStmt | ast.AlterSystemStmt)


def run_script(
    conn: psycopg.Connection[Any], script: str, then: Sequence[tuple[LiteralString, Sequence[Any]]] = ()
) -> None:
    """Run a migration or rollback script as the Supabase CLI runs a migration file.

    A script is one transaction, together with the statements in ``then`` (the history
    bookkeeping), unless it holds a statement that cannot run in one (``concurrently``,
    ``vacuum``): then each statement runs on its own, in order, as the CLI does.
    ``conn`` is left in autocommit mode.
    """
    parts = statements(script)
    conn.autocommit = True
    if any(outside_transaction(s) for s in parts):
        for statement in parts:
            conn.execute(statement.encode())  # trusted project file
        for query, params in then:
            conn.execute(query, params)
        return
    with conn.transaction():
        conn.execute(script.encode())  # trusted project file
        for query, params in then:
            conn.execute(query, params)


def rollback(url: str, to_version: str | None = None) -> list[str]:
    """Undo applied migrations newer than ``to_version`` (all when None), newest first.

    Each down script runs on its own, as the CLI runs a migration: in one transaction with
    the removal of its row from the CLI's migration history (so ``supabase db push``
    re-applies exactly what was undone), or statement by statement when it holds one that
    cannot run in a transaction (``drop index concurrently``). A failure stops there: the
    scripts before it stay undone. Returns the versions undone. This destroys the data in
    the dropped tables.
    """
    check_reachable(url)
    scripts = rollback_scripts()
    undone: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        has_history = conn.execute(
            "select to_regclass('supabase_migrations.schema_migrations') is not null"
        ).fetchone()
        if not has_history or not has_history[0]:
            return undone
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations"
            " where version > %s order by version desc",
            (to_version or "",),
        ).fetchall()
        missing = [v for (v,) in rows if v not in scripts]
        if missing:
            raise MigrationFailed(f"no rollback script for migration {missing[0]} in supabase/rollbacks/")
        for (version,) in rows:
            forget = "delete from supabase_migrations.schema_migrations where version = %s"
            try:
                run_script(conn, scripts[version].read_text(), then=[(forget, (version,))])
            except psycopg.Error as e:
                done = f" ({', '.join(undone)} stay rolled back)" if undone else ""
                raise MigrationFailed(f"rolling back {version} failed{done}: {e}") from e
            undone.append(version)
    return undone


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(server_url: str, prefix: str) -> str:
    """Create an empty database named ``<prefix>_<random>`` on the server; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, disconnecting anyone still in it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
