"""Direct PostgreSQL access with psycopg 3, with the same RLS semantics as PostgREST.

Each unit of work runs in one transaction that first does what PostgREST does for a
request: ``set_config('role', ..., true)`` and ``set_config('request.jwt.claims', ..., true)``.
The settings end with the transaction, so a pooled connection carries nothing over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from supatenant.auth import Identity

# role and claims for this transaction; the single-claim settings that auth.uid(), auth.role()
# and auth.jwt() read first are blanked, so nothing a connection carries session-wide counts;
# so are the caller's tenant and member ids, which only the membership lookup sets (see _sql)
ACT_AS = (
    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    " set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claim.role', '', true),"
    " set_config('request.jwt.claim', '', true),"
    " set_config('supatenant.tenant_id', '', true), set_config('supatenant.member_id', '', true)"
)
# the caller's ids blanked, before a membership lookup inside a unit of work (ACT_AS ran at its
# start, and a call since may have set them)
FORGET_CALLER = (
    "select set_config('supatenant.tenant_id', '', true), set_config('supatenant.member_id', '', true)"
)


def _not_the_aborted_pipeline(record: logging.LogRecord) -> bool:
    # a statement that fails in a pipeline aborts the rest of it; psycopg then reports that
    # ending the pipeline failed too, after the error the backends raise as a typed one
    return not record.getMessage().startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_not_the_aborted_pipeline)


_JSON = json.JSONDecoder()


def json_loads(data: str | bytes) -> Any:
    """A json or jsonb value as psycopg hands it over (UTF-8 bytes), read as ``json.loads``
    reads it, without guessing the bytes' encoding each time (half its cost on the small
    documents that rows carry)."""
    return _JSON.decode(data if isinstance(data, str) else data.decode("utf-8", "surrogatepass"))


def connection_lost(e: psycopg.Error) -> bool:
    """Whether ``e`` means the connection is gone (no SQLSTATE, class 08, or the server
    shutting down), as opposed to an error about the statement. psycopg files both under
    OperationalError (a too complex search, SQLSTATE 54000, is one), so decide by SQLSTATE."""
    return e.sqlstate is None or e.sqlstate.startswith("08") or e.sqlstate in ("57P01", "57P02", "57P03")


def act_as(conn: psycopg.Connection[Any], identity: Identity) -> None:
    """Switch the current transaction to ``identity``; the caller must be inside a transaction."""
    conn.execute(ACT_AS, (identity.role, identity.claims_json()))


@contextmanager
def transaction_as(conn: psycopg.Connection[Any], identity: Identity) -> Iterator[psycopg.Connection[Any]]:
    """A transaction acting as ``identity``: committed on success, rolled back on error."""
    with conn.transaction():
        act_as(conn, identity)
        yield conn
