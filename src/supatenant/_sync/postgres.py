# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""The psycopg backend: operations run on a pooled connection, as PostgREST would run them.

Each call is one transaction that first sets ``role`` and ``request.jwt.claims`` with
``set_config(..., true)``, so RLS decides exactly as it does behind the Data API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from supatenant import _sql
from supatenant.auth import Identity
from supatenant.backends.postgres import ACT_AS
from supatenant.errors import Unavailable, database_error
from supatenant.ops import Op, Result, Select

Pool = ConnectionPool[psycopg.Connection[DictRow]]


def open_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    pool: Pool = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        open=False,
    )
    try:
        pool.open(wait=True, timeout=10)
    except Exception as e:
        pool.close()
        raise Unavailable(f"cannot open a connection pool to the database: {e}") from e
    return pool


def _execute(conn: psycopg.Connection[DictRow], op: Op, what: str) -> Result:
    query, params = _sql.statement(op)
    try:
        cursor = conn.execute(query, params)
        rows = cursor.fetchall() if cursor.description else []
        total = None
        if isinstance(op, Select) and op.count:
            counted = (conn.execute(*_sql.count(op))).fetchone()
            total = int(counted["count"]) if counted else 0
    except psycopg.OperationalError as e:
        raise Unavailable(f"{what}: the database connection failed: {e}") from e
    except psycopg.Error as e:
        raise database_error(e.diag.message_primary or str(e), e.sqlstate, what) from e
    if isinstance(op, Select) and op.single and len(rows) != 1:
        raise database_error("no row", "PGRST116", what)
    value = next(iter(rows[0].values())) if rows and getattr(op, "returns", None) == "value" else None
    return Result(rows, total, value)


class PostgresBackend:
    """Runs operations as ``identity`` on connections from ``pool``."""

    def __init__(
        self, pool: Pool, identity: Identity, conn: psycopg.Connection[DictRow] | None = None
    ) -> None:
        self.pool = pool
        self.identity = identity
        self._conn = conn  # set inside a unit of work: every call joins its transaction

    def with_identity(self, identity: Identity) -> PostgresBackend:
        return PostgresBackend(self.pool, identity)

    def run(self, op: Op, what: str) -> Result:
        if self._conn is not None:
            return _execute(self._conn, op, what)
        try:
            with self.pool.connection() as conn, conn.transaction():
                self._begin(conn)
                return _execute(conn, op, what)
        except psycopg.OperationalError as e:
            raise Unavailable(f"{what}: the database connection failed: {e}") from e

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresBackend]:
        """A backend whose calls share one transaction, rolled back at the end unless committed."""
        with self.pool.connection() as conn:
            self._begin(conn)
            try:
                yield PostgresBackend(self.pool, self.identity, conn)
            finally:
                # whatever was not committed goes; the pool gets a clean connection back
                conn.rollback()

    def commit(self) -> None:
        """Commit a unit of work's transaction; later calls run in a new one as the same identity."""
        if self._conn is None:
            raise RuntimeError("commit() belongs to a unit of work")
        self._conn.commit()
        self._begin(self._conn)

    def _begin(self, conn: psycopg.Connection[DictRow]) -> None:
        # the first statement opens the transaction that the settings are local to
        conn.execute(ACT_AS, (self.identity.role, self.identity.claims_json()))

    def close(self) -> None:
        self.pool.close()
