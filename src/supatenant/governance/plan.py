"""What an export reads: for a subject, one query per table that holds its data, found from the
catalog (foreign keys and columns), so a column or table added later is exported unchanged.

Pure apart from :func:`catalog_query`'s text: the exporter reads the catalog, this module turns
it into statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal
from uuid import UUID

from psycopg import sql

from supatenant import bundle
from supatenant._edge import invalid
from supatenant.errors import FieldError

SubjectKind = Literal["tenant", "member", "conversation"]
ExportFormat = Literal["jsonl", "csv", "markdown"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "markdown")

# public tables under RLS, their columns in order, and the foreign keys among them
CATALOG_QUERY = """
select c.relname as table,
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns,
       coalesce((select jsonb_agg(jsonb_build_object(
                   'parent', p.relname,
                   'columns', array(select a.attname from unnest(f.conkey) with ordinality k(n, i)
                                    join pg_attribute a on a.attrelid = f.conrelid and a.attnum = k.n
                                    order by k.i)))
                 from pg_constraint f join pg_class p on p.oid = f.confrelid
                 where f.conrelid = c.oid and f.contype = 'f'
                   and p.relnamespace = 'public'::regnamespace), '[]'::jsonb) as references
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and c.relrowsecurity
  and has_table_privilege(c.oid, 'select')
order by c.relname
"""


@dataclass(frozen=True)
class Subject:
    """What to export: a tenant, one member of it, or one conversation of it."""

    kind: SubjectKind
    tenant_id: UUID
    subject_id: UUID

    @classmethod
    def of(
        cls, tenant_id: UUID, *, member_id: UUID | None = None, conversation_id: UUID | None = None
    ) -> Subject:
        if member_id is not None and conversation_id is not None:
            both = "export a member or a conversation, not both"
            names = ("member_id", "conversation_id")
            problems = [FieldError(field=name, message=both, type="exclusive") for name in names]
            raise invalid("export", problems)
        if member_id is not None:
            return cls("member", tenant_id, member_id)
        if conversation_id is not None:
            return cls("conversation", tenant_id, conversation_id)
        return cls("tenant", tenant_id, tenant_id)

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "tenant_id": str(self.tenant_id), "id": str(self.subject_id)}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    references: tuple[tuple[str, tuple[str, ...]], ...]  # (parent table, this table's columns)

    def pointing_at(self, parent: str) -> list[str]:
        """The columns (besides tenant_id) of each foreign key from this table to ``parent``."""
        return [c for p, cols in self.references if p == parent for c in cols if c != "tenant_id"]


@dataclass(frozen=True)
class Query:
    """One table's share of an export: ``select ... from public.<table> t where <where>``."""

    table: str
    columns: tuple[str, ...]
    where: sql.Composable
    params: tuple[Any, ...]
    order: tuple[str, ...] = field(default=())

    def sliced(self, n: int) -> list[Query]:
        """The same rows as ``n`` queries, each a range of ``id`` (uuids spread evenly)."""
        if n <= 1:
            return [self]
        bounds: list[UUID | None] = [None, *(UUID(int=(i << 128) // n) for i in range(1, n)), None]
        out = []
        for low, high in pairwise(bounds):
            where, params = self.where, list(self.params)
            if low is not None:
                where += sql.SQL(" and t.id >= %s")
                params.append(low)
            if high is not None:
                where += sql.SQL(" and t.id < %s")
                params.append(high)
            out.append(Query(self.table, self.columns, where, tuple(params)))
        return out


def tables_from_catalog(rows: list[dict[str, Any]]) -> list[Table]:
    return [
        Table(
            r["table"],
            tuple(r["columns"]),
            tuple((ref["parent"], tuple(ref["columns"])) for ref in r["references"]),
        )
        for r in rows
    ]


def _eq(column: str) -> sql.Composable:
    return sql.SQL("t.{} = %s").format(sql.Identifier(column))


def queries(subject: Subject, tables: list[Table]) -> list[Query]:
    """The statements that read every row of ``subject``, a table at a time.

    - tenant: the tenant's row and every row of every table with a ``tenant_id``;
    - member: their membership row, and the rows of every table with a foreign key to
      ``users`` naming them (threads, messages, feedback, usage, invitations), plus the audit
      events about them or by them;
    - conversation: the conversation, the rows pointing at it (messages) and at those
      messages (feedback), plus audit events about it.
    """
    t, s = subject.tenant_id, subject.subject_id
    out: list[Query] = []
    by_name = {table.name: table for table in tables}
    for table in tables:
        cols = table.columns
        tenant_eq = _eq("tenant_id")
        if subject.kind == "tenant":
            if table.name == "tenants":
                out.append(Query(table.name, cols, _eq("id"), (t,)))
            elif "tenant_id" in cols:
                out.append(Query(table.name, cols, tenant_eq, (t,)))
            continue
        if "tenant_id" not in cols:
            continue
        own = subject.kind == "member" and table.name == "users"
        own = own or (subject.kind == "conversation" and table.name == "conversations")
        if own:
            out.append(Query(table.name, cols, tenant_eq + sql.SQL(" and ") + _eq("id"), (t, s)))
            continue
        if table.name == "audit_events":
            about = ["subject_id"] + (["actor_member_id"] if subject.kind == "member" else [])
            cond = sql.SQL(" or ").join(_eq(c) for c in about)
            out.append(
                Query(
                    table.name,
                    cols,
                    tenant_eq + sql.SQL(" and (") + cond + sql.SQL(")"),
                    (t, *[s] * len(about)),
                )
            )
            continue
        parent = "users" if subject.kind == "member" else "conversations"
        direct = table.pointing_at(parent)
        if direct:
            cond = sql.SQL(" or ").join(_eq(c) for c in direct)
            out.append(
                Query(
                    table.name,
                    cols,
                    tenant_eq + sql.SQL(" and (") + cond + sql.SQL(")"),
                    (t, *[s] * len(direct)),
                )
            )
            continue
        if subject.kind == "conversation" and "messages" in by_name:
            via = table.pointing_at("messages")
            if via:
                inner = sql.SQL(
                    "(select m.id from public.messages m where m.tenant_id = %s and m.conversation_id = %s)"
                )
                cond = sql.SQL(" or ").join(
                    sql.SQL("t.{} in ").format(sql.Identifier(c)) + inner for c in via
                )
                params: tuple[Any, ...] = (t,) + (t, s) * len(via)
                out.append(
                    Query(table.name, cols, tenant_eq + sql.SQL(" and (") + cond + sql.SQL(")"), params)
                )
    return out


def schema_version() -> str:
    """The newest migration this package ships (the schema the export's columns come from),
    read from the package itself: an app exports from wherever it runs."""
    versions = [m.version for m in bundle.migrations()]
    return max(versions) if versions else "unknown"


def header(subject: Subject, format: ExportFormat, plan: list[Query]) -> dict[str, Any]:
    return {
        "type": "header",
        "export": "supatenant",
        "format": format,
        "schema_version": schema_version(),
        "subject": subject.describe(),
        "exported_at": datetime.now(UTC).isoformat(),
        "tables": {q.table: list(q.columns) for q in plan},
    }


def json_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()
