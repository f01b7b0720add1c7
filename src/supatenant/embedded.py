"""The embedded default database: the PostgreSQL that the ``pgserver`` wheel ships.

pgserver initialises the data folder (creating an unprivileged system user when run as
root); supatenant then runs the server on a loopback TCP port, because the Supabase CLI
connects over TCP only. The server keeps running between commands until ``stop()``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import psycopg

from supatenant.errors import SetupError
from supatenant.project import project_dir

DEFAULT_PORT = 54330


def data_dir() -> Path:
    return project_dir() / ".supatenant" / "pgdata"


def port() -> int:
    return int(os.environ.get("SUPATENANT_EMBEDDED_PORT", DEFAULT_PORT))


def url(database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port()}/{database}"


def _answers(target: str) -> bool:
    try:
        with psycopg.connect(target, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _system_user() -> str | None:
    # pgserver runs PostgreSQL as this user when started as root (PostgreSQL refuses root)
    return "pgserver" if os.geteuid() == 0 else None


def _pg_ctl(args: list[str], pgdata: Path) -> str:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder at import; where XDG_RUNTIME_DIR is
        # unset that only warns, and supatenant does not use that folder
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

    output: str = pg_ctl(args, pgdata=pgdata, user=_system_user(), timeout=60)
    return output


def _initialise(pgdata: Path) -> None:
    from pgserver import get_server  # type: ignore[attr-defined]  # not re-exported

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)  # initdb, then a socket-only start
    del server
    _pg_ctl(["-w", "stop"], pgdata)


def start() -> str:
    """Start the embedded server if it is not running; return its URL."""
    target = url()
    if _answers(target):
        return target
    pgdata = data_dir()
    if not (pgdata / "PG_VERSION").is_file():
        _initialise(pgdata)
    log = pgdata / "server.log"
    options = f"-h 127.0.0.1 -p {port()} -k {pgdata}"
    _pg_ctl(["-w", "-o", options, "-l", str(log), "start"], pgdata)
    deadline = time.monotonic() + 30
    while not _answers(target):
        if time.monotonic() > deadline:
            raise SetupError(f"the embedded PostgreSQL did not start; see {log}")
        time.sleep(0.2)
    return target


def stop() -> bool:
    """Stop the embedded server; False when it was not running."""
    pgdata = data_dir()
    if not (pgdata / "postmaster.pid").is_file():
        return False
    _pg_ctl(["-w", "stop", "-m", "fast"], pgdata)
    return True
