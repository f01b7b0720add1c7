"""The embedded default database: the PostgreSQL that the ``pgserver`` wheel ships (the
``local`` extra: ``pip install 'supatenant[local]'``).

pgserver initialises the data folder (creating an unprivileged system user when run as
root); supatenant then runs the server on a loopback TCP port, because the Supabase CLI
connects over TCP only. The server keeps running between commands until ``stop()``.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from pathlib import Path
from types import ModuleType

import psycopg

from supatenant.errors import SetupError, SupatenantError
from supatenant.project import project_dir

DEFAULT_PORT = 54330

MISSING = (
    "no database given and the embedded PostgreSQL is not installed: pass --database-url URL "
    "or set DATABASE_URL, or install the `local` extra (pip install 'supatenant[local]')"
)


def available() -> bool:
    return importlib.util.find_spec("pgserver") is not None


def data_dir() -> Path:
    """``.supatenant/pgdata`` in the project, or in the working directory outside one."""
    try:
        base = project_dir()
    except SupatenantError:
        base = Path.cwd()
    return base / ".supatenant" / "pgdata"


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


def _import(name: str) -> ModuleType:
    """A pgserver module. Every import of pgserver goes through here: at import it asks
    platformdirs for a runtime folder, which only warns where XDG_RUNTIME_DIR is unset, and
    supatenant does not use that folder."""
    if not available():
        raise SetupError(MISSING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def _pg_ctl(args: list[str], pgdata: Path) -> str:
    commands = _import("pgserver._commands")
    output: str = commands.pg_ctl(args, pgdata=pgdata, user=_system_user(), timeout=60)
    return output


def _initialise(pgdata: Path) -> None:
    pgserver = _import("pgserver")
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)  # initdb, then a socket-only start
    del server
    _pg_ctl(["-w", "stop"], pgdata)


def start() -> str:
    """Start the embedded server if it is not running; return its URL."""
    if not available():  # without the `local` extra, never some other server on the port
        raise SetupError(MISSING)
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
