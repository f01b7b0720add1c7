# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""Streamed exports of a tenant, a member or a conversation, read as the store's caller.

Each export runs in one read-only REPEATABLE READ transaction acting as the caller, exactly as
PostgREST would (so RLS decides: an export never holds a row the caller could not read), and
streams every table with ``COPY ... TO STDOUT``: nothing is held in memory but the chunk at
hand. The database first checks that the caller may export the subject (a missing subject and
a forbidden one raise the same :class:`~supatenant.errors.NotFound`), and when the last row has
been handed out it records the export (who, what, format, rows per table) in the audit log.

Only the psycopg backend exports: PostgREST has no COPY. Stop early with ``aclose()`` (or
``contextlib.aclosing``) to give the connection back at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from supatenant._sync.postgres import PostgresBackend
from supatenant.backends.postgres import ACT_AS, connection_lost
from supatenant.errors import Unavailable, Unsupported, database_error
from supatenant.governance.plan import (
    CATALOG_QUERY,
    ExportFormat,
    Query,
    Subject,
    header,
    json_line,
    queries,
    tables_from_catalog,
)

if TYPE_CHECKING:
    from supatenant._sync.store import Store

Progress = Callable[[str, int], None]  # (table, rows of it exported so far)
Conn = psycopg.Connection[DictRow]

# one JSON document per line, unquoted: no JSON text holds these bytes or a raw newline
_BLOCK = 65536
_RAW_LINES = sql.SQL("(format csv, delimiter e'\\x02', quote e'\\x01')")


def _select(q: Query, what: sql.Composable) -> sql.Composed:
    return sql.SQL("select {} from public.{} t where {}").format(what, sql.Identifier(q.table), q.where)


def _jsonl_copy(q: Query) -> sql.Composed:
    prefix = sql.Literal('{"table":"' + q.table + '","row":')
    line = sql.SQL("{} || row_to_json(t)::text || '}}'").format(prefix)
    return sql.SQL("copy ({}) to stdout with ").format(_select(q, line)) + _RAW_LINES


def _csv_copy(q: Query) -> sql.Composed:
    return sql.SQL("copy ({}) to stdout with (format csv, header)").format(_select(q, sql.SQL("t.*")))


_TRANSCRIPT = """
select c.id as conversation_id, c.title, c.created_at as started_at, c.user_id, c.is_archived,
       m.id as message_id, m.role, m.content, m.created_at
from public.conversations c
left join public.messages m on m.tenant_id = c.tenant_id and m.conversation_id = c.id
where c.tenant_id = %s and {}
order by c.created_at, c.id, m.created_at, m.id
"""


class Export:
    """``store.export``: JSONL, CSV per table, or Markdown transcripts of a subject."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _backend(self) -> PostgresBackend:
        backend = self._store.backend
        if not isinstance(backend, PostgresBackend):
            raise Unsupported("exports stream with COPY: use a psycopg store (Store.connect)")
        if self._store.acting_for is not None:
            raise Unsupported("a store working for a member does not export: use the service store")
        return backend

    def subject(
        self,
        *,
        tenant_id: UUID | None = None,
        member_id: UUID | None = None,
        conversation_id: UUID | None = None,
    ) -> Subject:
        """The subject the arguments name: a member or a conversation of the tenant, or the tenant."""
        tenant = tenant_id if tenant_id is not None else (self._store.scope()).tenant_id
        return Subject.of(tenant, member_id=member_id, conversation_id=conversation_id)

    @contextmanager
    def _reading(
        self, subject: Subject, what: str, parallel: int = 1
    ) -> Iterator[tuple[list[Conn], list[Query]]]:
        """A read-only snapshot acting as the caller, once the database allowed the export; with
        ``parallel`` > 1, that many connections sharing the one snapshot (the first is the
        one that checked)."""
        backend = self._backend()
        act_as = (backend.identity.role, backend.identity.claims_json())
        try:
            with ExitStack() as stack:
                conn = stack.enter_context(backend.pool.connection())
                stack.enter_context(conn.transaction())
                conn.execute("set transaction isolation level repeatable read, read only")
                conn.execute(ACT_AS, act_as)
                conn.execute(
                    "select public.authorize_export(%s, %s, %s)",
                    (subject.kind, subject.tenant_id, subject.subject_id),
                )
                catalog = (conn.execute(CATALOG_QUERY)).fetchall()
                conns = [conn]
                # never more connections than the pool may hold, so an export cannot wait on itself
                parallel = min(parallel, backend.pool.max_size)
                if parallel > 1:
                    exported = (conn.execute("select pg_export_snapshot() as snapshot")).fetchone()
                    snapshot = sql.SQL("set transaction snapshot {}").format(
                        sql.Literal(exported["snapshot"] if exported else "")
                    )
                    for _ in range(parallel - 1):
                        helper = stack.enter_context(backend.pool.connection())
                        stack.enter_context(helper.transaction())
                        helper.execute("set transaction isolation level repeatable read, read only")
                        helper.execute(snapshot)
                        helper.execute(ACT_AS, act_as)
                        conns.append(helper)
                yield conns, queries(subject, tables_from_catalog(list(catalog)))
        except psycopg.Error as e:
            if connection_lost(e):
                raise Unavailable(f"{what}: the database connection failed: {e}") from e
            raise database_error(e.diag.message_primary or str(e), e.sqlstate, what) from e

    def _record(self, subject: Subject, format: ExportFormat, counts: dict[str, int], what: str) -> None:
        backend = self._backend()
        try:
            with backend.pool.connection() as conn, conn.transaction():
                conn.execute(ACT_AS, (backend.identity.role, backend.identity.claims_json()))
                conn.execute(
                    "select public.record_export(%s, %s, %s, %s, %s)",
                    (subject.kind, subject.tenant_id, subject.subject_id, format, Jsonb(counts)),
                )
        except psycopg.Error as e:
            raise database_error(e.diag.message_primary or str(e), e.sqlstate, what) from e

    def _copy(
        self,
        conn: Conn,
        statement: sql.Composed,
        params: tuple[Any, ...],
        table: str,
        counts: dict[str, int],
        progress: Progress | None,
    ) -> Iterator[tuple[str, bytes]]:
        """One COPY's output as (table, block) pairs, in blocks of about 64 KiB (COPY hands out
        a row at a time); the table's rows are counted into ``counts`` as they go."""
        counts[table] = 0
        buffer = bytearray()
        with conn.cursor() as cur:
            with cur.copy(statement, params) as copy:
                for row in copy:
                    buffer += row
                    counts[table] += 1
                    if len(buffer) >= _BLOCK:
                        if progress is not None:
                            progress(table, counts[table])
                        yield table, bytes(buffer)
                        buffer.clear()
            if buffer:
                yield table, bytes(buffer)
            if cur.rowcount >= 0:  # the server's own count (a CSV header is no row)
                counts[table] = cur.rowcount
        if progress is not None:
            progress(table, counts[table])

    def _sliced(
        self, conns: list[Conn], q: Query, counts: dict[str, int], progress: Progress | None
    ) -> Iterator[tuple[str, bytes]]:
        """One table as JSON Lines, read in slices of its ids over ``conns`` (one slice each),
        round robin, a block from each in turn: every server process keeps producing while
        the others' blocks are read."""
        parts = q.sliced(len(conns)) if "id" in q.columns else [q]
        counts[q.table] = 0
        with ExitStack() as stack:
            streams = []
            for conn, part in zip(conns, parts, strict=False):
                cur = stack.enter_context(conn.cursor())
                streams.append(stack.enter_context(cur.copy(_jsonl_copy(part), part.params)))
            active = list(streams)
            while active:
                for stream in list(active):
                    buffer = bytearray()
                    while len(buffer) < _BLOCK:
                        row = stream.read()
                        if not row:
                            active.remove(stream)
                            break
                        buffer += row
                        counts[q.table] += 1
                    if buffer:
                        if progress is not None:
                            progress(q.table, counts[q.table])
                        yield q.table, bytes(buffer)

    def jsonl(
        self,
        *,
        tenant_id: UUID | None = None,
        member_id: UUID | None = None,
        conversation_id: UUID | None = None,
        progress: Progress | None = None,
        parallel: int = 4,
    ) -> Iterator[bytes]:
        """JSON Lines: a header record (schema version, subject, every table's columns), then one
        ``{"table": ..., "row": {...}}`` record per row, then ``{"type": "end", "rows": {...}}``.

        A tenant's tables are read in ``parallel`` slices (by id range, one connection each,
        all on the one snapshot), since turning rows into JSON is the server's work: the
        slices' blocks come interleaved, rows in no particular order."""
        subject = self.subject(tenant_id=tenant_id, member_id=member_id, conversation_id=conversation_id)
        what = f"export {subject.kind} {subject.subject_id}"
        counts: dict[str, int] = {}
        slices = parallel if subject.kind == "tenant" else 1
        with self._reading(subject, what, slices) as (conns, plan):
            yield json_line(header(subject, "jsonl", plan))
            for q in plan:
                for _, data in self._sliced(conns, q, counts, progress):
                    yield data
            yield json_line({"type": "end", "rows": counts})
        self._record(subject, "jsonl", counts, what)

    def csv(
        self,
        *,
        tenant_id: UUID | None = None,
        member_id: UUID | None = None,
        conversation_id: UUID | None = None,
        progress: Progress | None = None,
    ) -> Iterator[tuple[str, bytes]]:
        """CSV, one document per table (a header line of its columns first): ``(table, chunk)``
        pairs, every chunk of a table before the next table's."""
        subject = self.subject(tenant_id=tenant_id, member_id=member_id, conversation_id=conversation_id)
        what = f"export {subject.kind} {subject.subject_id}"
        counts: dict[str, int] = {}
        with self._reading(subject, what) as ([conn], plan):
            for q in plan:
                for _, data in self._copy(conn, _csv_copy(q), q.params, q.table, counts, progress):
                    yield q.table, data
        self._record(subject, "csv", counts, what)

    def markdown(
        self,
        *,
        tenant_id: UUID | None = None,
        member_id: UUID | None = None,
        conversation_id: UUID | None = None,
        progress: Progress | None = None,
    ) -> Iterator[str]:
        """Transcripts for people: each conversation the caller may read, its turns oldest first."""
        subject = self.subject(tenant_id=tenant_id, member_id=member_id, conversation_id=conversation_id)
        what = f"export {subject.kind} {subject.subject_id}"
        counts = {"conversations": 0, "messages": 0}
        condition = {
            "tenant": (sql.SQL("true"), ()),
            "member": (sql.SQL("c.user_id = %s"), (subject.subject_id,)),
            "conversation": (sql.SQL("c.id = %s"), (subject.subject_id,)),
        }[subject.kind]
        with self._reading(subject, what) as ([conn], _):
            yield f"# Export of {subject.kind} {subject.subject_id}\n\nTenant {subject.tenant_id}.\n"
            current: Any = None
            with conn.cursor(name="supatenant_transcript") as cur:
                cur.execute(sql.SQL(_TRANSCRIPT).format(condition[0]), (subject.tenant_id, *condition[1]))
                for row in cur:
                    if row["conversation_id"] != current:
                        current = row["conversation_id"]
                        counts["conversations"] += 1
                        archived = " (archived)" if row["is_archived"] else ""
                        yield (
                            f"\n## {row['title'] or 'Untitled conversation'}{archived}\n\n"
                            f"Conversation {current}, member {row['user_id']}, "
                            f"started {row['started_at'].isoformat()}.\n"
                        )
                    if row["message_id"] is not None:
                        counts["messages"] += 1
                        if progress is not None and counts["messages"] % 1000 == 0:
                            progress("messages", counts["messages"])
                        yield f"\n**{row['role']}** ({row['created_at'].isoformat()}):\n\n{row['content']}\n"
        if progress is not None:
            progress("messages", counts["messages"])
        self._record(subject, "markdown", counts, what)
