"""Bring a database to the current schema: Supabase compatibility where needed, then
``supabase db push`` with the real CLI."""

from __future__ import annotations

import subprocess

import psycopg

from supatenant.errors import DatabaseUnreachable, MigrationFailed
from supatenant.project import supabase_cli, supabase_dir


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


def has_auth_schema(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("select exists (select 1 from pg_namespace where nspname = 'auth')").fetchone()
    return bool(row and row[0])


def apply_supabase_compat(url: str) -> bool:
    """Apply ``supabase/local/`` when the target has no ``auth`` schema; True when applied.

    The files run in one transaction: a failure leaves nothing behind.
    """
    if has_auth_schema(url):
        return False
    files = sorted((supabase_dir() / "local").glob("*.sql"))
    with psycopg.connect(url) as conn, conn.transaction():
        for path in files:
            conn.execute(path.read_text())  # type: ignore[arg-type]  # trusted project file, no parameters
    return True


def push(url: str) -> str:
    """Run ``supabase db push`` against ``url``; return the CLI's output."""
    command = [*supabase_cli(), "db", "push", f"--remote={url}", "--yes", "--workdir", str(supabase_dir().parent)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
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
