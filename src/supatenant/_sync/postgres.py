# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""The psycopg backend: operations run on a pooled connection, as PostgREST would run them.

Each call is one transaction that first sets ``role`` and ``request.jwt.claims`` with
``set_config(..., true)``, so RLS decides exactly as it does behind the Data API.

Outside such a transaction a connection runs as the pool's login role, which RLS does not
bind. So a unit of work refuses every call once its block has ended (its connection is back
in the pool, soon another request's), and the pool hands out only idle connections (one
used after it went back is discarded). Whatever role or claims a connection was left with
session-wide, the first statement of every transaction sets them all again (``ACT_AS``),
so no call ever runs with another's: the reset costs no round trip of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from supatenant import _sql
from supatenant.auth import Identity
from supatenant.backends.postgres import ACT_AS, FORGET_CALLER, connection_lost, json_loads
from supatenant.errors import InvalidInput, Unavailable, UnitOfWorkEnded, Unsupported, database_error
from supatenant.ops import Lookup, Op, Result, Select
from supatenant.settings import PoolOptions

Pool = ConnectionPool[psycopg.Connection[DictRow]]

log = logging.getLogger("supatenant.postgres")


def _checkout(conn: psycopg.Connection[DictRow]) -> None:
    """The pool's ``check``, run as it hands a connection out (after it went back, anyone
    holding it could have used it).

    A connection inside a transaction was used while in the pool: that transaction runs as
    the login role, which RLS does not bind, and the next user would commit it. It is closed,
    which rolls it back, and the pool takes another. The status is known client-side: no
    round trip.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE:
        log.warning("discarding a pooled connection used after it went back to the pool")
        conn.close()
        raise psycopg.ProgrammingError("connection used while in the pool: discarded")


def _configure(conn: psycopg.Connection[DictRow]) -> None:
    """The pool's ``configure``, run once per new connection: json and jsonb values are read
    by :func:`~supatenant.backends.postgres.json_loads` (no client-side work per round trip)."""
    set_json_loads(json_loads, conn)


def open_pool(dsn: str, options: PoolOptions | None = None) -> Pool:
    """A pool of connections to ``dsn``, open and checked.

    One connection is made first, directly: when the server is down or refuses, the error
    says why at once (as the cause of :class:`Unavailable`) instead of the pool retrying
    until its timeout and reporting only that it timed out.
    """
    options = options or PoolOptions()
    kwargs = options.connection_kwargs(dsn)
    try:
        probe = psycopg.Connection.connect(dsn, **kwargs)
    except psycopg.Error as e:
        raise Unavailable(f"cannot connect to the database: {e}") from e
    probe.close()
    pool: Pool = ConnectionPool(
        dsn,
        min_size=options.min_size,
        max_size=options.max_size,
        timeout=options.timeout,
        max_idle=options.max_idle,
        max_lifetime=options.max_lifetime,
        # autocommit: every call sends its own begin and commit, in the same round trip
        kwargs={"row_factory": dict_row, "autocommit": True, **kwargs},
        check=_checkout,
        configure=_configure,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=options.timeout)
    except Exception as e:
        pool.close()
        raise Unavailable(f"cannot open a connection pool to the database: {e}") from e
    log.debug("pool open: %s..%s connections", options.min_size, options.max_size)
    return pool


# a call inside a unit of work runs in this savepoint, so its failure undoes it alone
SAVEPOINT = "savepoint supatenant_call"
RELEASE = "release savepoint supatenant_call"
UNDO_CALL = "rollback to savepoint supatenant_call"


def _undo(conn: psycopg.Connection[DictRow], in_unit: bool) -> None:
    """After a failed call: back to where it began (its savepoint, or no transaction). A
    connection that cannot even do that is left to the pool, which discards it."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        if in_unit:
            with conn.pipeline():
                conn.execute(UNDO_CALL, prepare=False)
                conn.execute(RELEASE, prepare=False)
        else:
            conn.execute("rollback", prepare=False)


def _execute(
    conn: psycopg.Connection[DictRow],
    op: Op,
    what: str,
    act_as: tuple[str, str] | None = None,
    lookup: Lookup | None = None,
) -> Result:
    """``op`` in one round trip. Outside a unit of work (``act_as`` given: the caller's role
    and claims, as ``ACT_AS`` takes them): ``begin``, the caller's role and claims, the
    statement (and its count), ``commit``; inside one: the statement in a savepoint. All
    are sent at once in pipeline mode and answered at once.

    When ``op`` names the caller's tenant or member (:class:`~supatenant.ops.Caller`), the
    membership ``lookup`` runs just before it, as the caller, and sets the ids it reads; its
    row comes back as the result's ``member``. Without exactly one membership the statement
    fails (its ids are blank), nothing is written, and the lookup's finding is what is raised.

    Only the statement itself may be prepared: what follows it in the pipeline is skipped
    when it fails, and a statement prepared there would be taken for prepared when it is not.
    """
    query, params, names_caller = _sql.compile_op(op)
    if names_caller and lookup is None:  # only a store that acts as a user has a membership
        raise InvalidInput(f"{what}: an id stands for the caller's membership; this store acts as no user")
    lookup = lookup if names_caller else None
    in_unit = act_as is None
    looked = counter = None
    try:
        with conn.pipeline():
            conn.execute(SAVEPOINT if in_unit else "begin", prepare=False)
            if act_as is not None:
                conn.execute(ACT_AS, act_as)
            if lookup is not None:
                if in_unit:  # what an earlier call of the unit set must not stand in for a finding
                    conn.execute(FORGET_CALLER, prepare=False)
                looked = conn.execute(*_sql.lookup(lookup))
            cursor = conn.execute(query, params)
            if isinstance(op, Select) and op.count:
                counter = conn.execute(*_sql.count(op), prepare=False)
            conn.execute(RELEASE if in_unit else "commit", prepare=False)
        rows = cursor.fetchall() if _has_rows(cursor) else []
        counted = counter.fetchone() if counter is not None else None
    except psycopg.Error as e:
        members = looked.fetchall() if looked is not None and _has_rows(looked) else None
        _undo(conn, in_unit)
        if connection_lost(e):
            raise Unavailable(f"{what}: the database connection failed: {e}") from e
        if lookup is not None and members is not None and (refused := lookup.refusal(members)):
            raise refused from e
        raise database_error(e.diag.message_primary or str(e), e.sqlstate, what) from e
    member = None
    if lookup is not None and looked is not None:
        members = looked.fetchall()
        if refused := lookup.refusal(members):
            raise refused  # a read that met no row reading the blank ids: nothing was written
        member = members[0]
    total = (int(counted["count"]) if counted else 0) if counter is not None else None
    if isinstance(op, Select):
        rows = _sql.nest(op, rows)
    if isinstance(op, Select) and op.single and len(rows) != 1:
        raise database_error("no row", "PGRST116", what)
    value = next(iter(rows[0].values())) if rows and getattr(op, "returns", None) == "value" else None
    return Result(rows, total, value, member)


def _has_rows(cursor: psycopg.Cursor[DictRow]) -> bool:
    # the result's status, not ``description``: that builds every column's description anew
    return cursor.pgresult is not None and cursor.pgresult.status == ExecStatus.TUPLES_OK


class PostgresBackend:
    """Runs operations as ``identity`` on connections from ``pool``."""

    # a membership lookup runs in the same round trip as the call that needs it
    folds_lookup = True

    def __init__(
        self, pool: Pool, identity: Identity, conn: psycopg.Connection[DictRow] | None = None
    ) -> None:
        self.pool = pool
        self.identity = identity
        self._act_as = (identity.role, identity.claims_json())  # the same for every call
        self._conn = conn  # set inside a unit of work: every call joins its transaction
        self._ended = False  # set when the unit of work's block ends: every call is refused

    def with_identity(self, identity: Identity) -> PostgresBackend:
        if self._conn is not None:
            # a backend of its own would run outside the unit's transaction, and outlive it
            raise Unsupported("a unit of work acts as one identity: switch identity outside it")
        return PostgresBackend(self.pool, identity)

    def _in_unit(self, what: str) -> psycopg.Connection[DictRow] | None:
        """The unit of work's connection (None outside one); refuses once the unit has ended."""
        if self._ended:
            raise UnitOfWorkEnded(
                f"{what}: this unit of work has ended (its block is over and its connection back "
                "in the pool); use the store, or open a new unit of work"
            )
        return self._conn

    def run(self, op: Op, what: str, lookup: Lookup | None = None) -> Result:
        """Run ``op``; ``lookup`` runs with it when ``op`` names the caller (see :func:`_execute`)."""
        if (conn := self._in_unit(what)) is not None:
            # in a savepoint: a call that fails undoes itself only, and the unit of work goes
            # on (the caller may catch the error and carry on, or leave the block to undo all)
            return _execute(conn, op, what, lookup=lookup)
        try:
            with self.pool.connection() as conn:
                return _execute(conn, op, what, self._act_as, lookup)
        except psycopg.OperationalError as e:
            raise Unavailable(f"{what}: the database connection failed: {e}") from e

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresBackend]:
        """A backend whose calls share one transaction, rolled back at the end unless committed.

        It works only inside the block: afterwards its connection is another request's, so
        every call on it raises :class:`UnitOfWorkEnded`.
        """
        self._in_unit("open a unit of work")
        with contextlib.ExitStack() as stack:
            try:
                conn = stack.enter_context(self.pool.connection())
            except psycopg.OperationalError as e:  # the pool's timeout, a connection refused
                raise Unavailable(f"open a unit of work: no database connection: {e}") from e
            self._begin(conn)
            unit = PostgresBackend(self.pool, self.identity, conn)
            try:
                yield unit
            finally:
                unit._ended = True  # before the connection goes back
                # whatever was not committed goes; the pool gets a clean connection back
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("rollback", prepare=False)

    def commit(self) -> None:
        """Commit a unit of work's transaction; later calls run in a new one as the same identity."""
        conn = self._in_unit("commit")
        if conn is None:
            raise RuntimeError("commit() belongs to a unit of work")
        self._begin(conn, commit_first=True)

    def _begin(self, conn: psycopg.Connection[DictRow], *, commit_first: bool = False) -> None:
        """Open a transaction acting as this backend's identity (after committing the one
        open, with ``commit_first``), in one round trip."""
        try:
            with conn.pipeline():
                if commit_first:
                    conn.execute("commit", prepare=False)
                conn.execute("begin", prepare=False)
                conn.execute(ACT_AS, self._act_as)
        except psycopg.Error as e:
            if connection_lost(e):
                raise Unavailable(f"the database connection failed: {e}") from e
            raise database_error(e.diag.message_primary or str(e), e.sqlstate, "commit") from e

    def close(self) -> None:
        self.pool.close()
