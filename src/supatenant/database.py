"""Bring a database to the current schema: Supabase compatibility where needed, then
``supabase db push`` with the real CLI."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from supatenant import bundle
from supatenant.errors import DatabaseUnreachable, MigrationFailed
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


def rollback(url: str, to_version: str | None = None) -> list[str]:
    """Undo applied migrations newer than ``to_version`` (all when None), newest first.

    Runs each down script and removes its row from the CLI's migration history, all in one
    transaction, so ``supabase db push`` re-applies exactly what was undone. Returns the
    versions undone. This destroys the data in the dropped tables.
    """
    check_reachable(url)
    scripts = rollback_scripts()
    undone: list[str] = []
    with psycopg.connect(url) as conn, conn.transaction():
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
        for (version,) in rows:
            script = scripts.get(version)
            if script is None:
                raise MigrationFailed(f"no rollback script for migration {version} in supabase/rollbacks/")
            try:
                conn.execute(script.read_text())  # trusted project file
            except psycopg.Error as e:
                raise MigrationFailed(f"rolling back {version} failed, nothing was rolled back: {e}") from e
            conn.execute("delete from supabase_migrations.schema_migrations where version = %s", (version,))
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
