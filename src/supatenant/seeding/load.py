"""Write planned tenants into a database: one transaction per tenant, tables loaded with COPY."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from supatenant.database import check_reachable, redact
from supatenant.errors import Conflict, SetupError
from supatenant.seeding.plan import Sizes, TenantRows, members, tenant_rows

COLUMNS = {
    "tenants": ("id", "name", "slug", "plan", "is_active", "settings", "created_at", "updated_at"),
    "users": (
        "id", "tenant_id", "auth_id", "email", "display_name", "role", "is_active",
        "created_at", "updated_at",
    ),
    "conversations": (
        "id", "tenant_id", "user_id", "title", "metadata", "is_archived",
        "message_count", "last_message_at", "created_at", "updated_at",
    ),
    "messages": (
        "id", "tenant_id", "conversation_id", "user_id", "role", "content",
        "tool_calls", "model", "token_count", "latency_ms", "metadata", "created_at",
        "seq", "status", "prompt_tokens", "completion_tokens", "cost_usd", "completed_at", "metered_at",
    ),
    "feedback": ("id", "tenant_id", "message_id", "user_id", "rating", "comment", "created_at", "updated_at"),
    "usage_metrics": (
        "tenant_id", "user_id", "usage_date", "request_count",
        "prompt_tokens", "completion_tokens", "cost_usd", "updated_at",
    ),
}  # fmt: skip


# an auth.users row as Supabase Auth writes one for a confirmed email user: it scans the
# token columns as strings, so they hold '' (a null there breaks sign-in and the admin API)
AUTH_COLUMNS = (
    "instance_id", "id", "aud", "role", "email", "email_confirmed_at", "raw_app_meta_data",
    "raw_user_meta_data", "created_at", "updated_at", "confirmation_token", "recovery_token",
    "email_change_token_new", "email_change",
)  # fmt: skip


def auth_rows(rows: TenantRows) -> list[dict[str, Any]]:
    at = rows.tenant["created_at"]
    return [
        {
            "instance_id": UUID(int=0),
            "id": a["id"],
            "aud": "authenticated",
            "role": "authenticated",
            "email": a["email"],
            "email_confirmed_at": at,
            "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
            "raw_user_meta_data": {"seeded": True},
            "created_at": at,
            "updated_at": at,
            "confirmation_token": "",
            "recovery_token": "",
            "email_change_token_new": "",
            "email_change": "",
        }
        for a in rows.auth_users
    ]


def adapt(value: Any) -> Any:
    """A planned value as a query parameter: dicts and lists are jsonb."""
    return Jsonb(value) if isinstance(value, dict | list) else value


@dataclass
class Report:
    tenants_written: int = 0
    tenants_present: int = 0
    messages_written: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Layout:
    """What the target's catalog says, read once per connection: each table's column types
    for binary COPY, and the ``auth.users`` columns to write (a database set up by an older
    supatenant has fewer; none when Supabase Auth creates the members itself)."""

    types: dict[str, list[int]]
    auth_columns: tuple[str, ...]
    # each table's columns the target has (a database of an older supatenant has fewer)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # whether the target keeps per-tenant daily totals, which the triggers skipped here would fill
    tenant_totals: bool = False

    @classmethod
    def read(cls, conn: psycopg.Connection[Any], auth_users: bool = True) -> Layout:
        tables = [f"public.{table}" for table in COLUMNS] + ["auth.users"]
        found = conn.execute(
            "select n.nspname || '.' || c.relname, a.attname, a.atttypid::int"
            " from pg_attribute a join pg_class c on c.oid = a.attrelid"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname || '.' || c.relname = any(%s) and a.attnum > 0 and not a.attisdropped",
            (tables,),
        ).fetchall()
        oids = {(table, column): oid for table, column, oid in found}
        present = {
            table: tuple(c for c in columns if (f"public.{table}", c) in oids)
            for table, columns in COLUMNS.items()
        }
        totals = conn.execute("select to_regclass('private.tenant_daily_usage') is not null").fetchone()
        return cls(
            {table: [oids[(f"public.{table}", c)] for c in columns] for table, columns in present.items()},
            tuple(c for c in AUTH_COLUMNS if ("auth.users", c) in oids) if auth_users else (),
            present,
            bool(totals and totals[0]),
        )


def _copy(cur: psycopg.Cursor[Any], layout: Layout, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Binary COPY: the server parses no text, which is most of its work on these rows."""
    if not rows:
        return
    columns = layout.columns[table]
    statement = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier("public", table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        copy.set_types(layout.types[table])
        write = copy.write_row
        for row in rows:
            write([row[c] for c in columns])


def check_target(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "select to_regclass('public.messages') is not null, to_regclass('auth.users') is not null"
    ).fetchone()
    if not row or not all(row):
        raise SetupError(
            "the database has no supatenant schema: run `supatenant up --database-url URL` first"
        )


def refuse_conflicts(
    heads: list[TenantRows],
    tenants: Iterable[tuple[str, Any]] = (),
    auth_users: Iterable[tuple[str, Any]] = (),
) -> None:
    """Raise Conflict when a tenant (slug, id) or auth user (email, id) found in the target
    holds a slug or email the seed needs under another id: a row the seed did not write."""
    slugs = {h.tenant["slug"]: str(h.tenant["id"]) for h in heads}
    for slug, tenant_id in tenants:
        if slug in slugs and slugs[slug] != str(tenant_id):
            raise Conflict(
                f"tenant slug {slug!r} is taken by a tenant this seed did not write ({tenant_id})", "23505"
            )
    emails = {u["email"]: str(u["id"]) for h in heads for u in h.auth_users}
    for email, auth_id in auth_users:
        if email in emails and emails[email] != str(auth_id):
            raise Conflict(
                f"auth user {email!r} exists and was not written by this seed ({auth_id})", "23505"
            )


def check_conflicts(conn: psycopg.Connection[Any], heads: list[TenantRows]) -> None:
    """Refuse, before writing anything, when a non-seed row holds a slug or email the seed needs."""
    slugs = [h.tenant["slug"] for h in heads]
    emails = [u["email"] for h in heads for u in h.auth_users]
    refuse_conflicts(
        heads,
        conn.execute("select slug, id from public.tenants where slug = any(%s)", (slugs,)).fetchall(),
        conn.execute("select email, id from auth.users where email = any(%s)", (emails,)).fetchall(),
    )


def write_tenant(conn: psycopg.Connection[Any], layout: Layout, rows: TenantRows) -> bool:
    """Write one tenant and everything in it in one transaction; False when it is already there."""
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute("select 1 from public.tenants where id = %s", (rows.tenant["id"],)).fetchone():
            return False
        # tenants and members go in with their triggers, which write the audit log's events
        _copy(cur, layout, "tenants", [rows.tenant])
        if layout.auth_columns:
            columns = layout.auth_columns
            cur.executemany(
                sql.SQL("insert into auth.users ({}) values ({}) on conflict (id) do nothing").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                ),
                [[adapt(a[c]) for c in columns] for a in auth_rows(rows)],
            )
        _copy(cur, layout, "users", rows.users)
        # the rest carry the counters the triggers would keep; skip the triggers for speed
        cur.execute("set local session_replication_role = replica")
        for table in ("conversations", "messages", "feedback"):
            _copy(cur, layout, table, getattr(rows, table))
        _copy(cur, layout, "usage_metrics", rows.usage)
        if layout.tenant_totals:
            cur.execute(TENANT_TOTALS, (rows.tenant["id"],))
    return True


# what the usage_metrics triggers would have added to the tenant's daily totals
TENANT_TOTALS = """\
insert into private.tenant_daily_usage as t
  (tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
select tenant_id, usage_date, sum(request_count), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)
  from public.usage_metrics where tenant_id = %s group by 1, 2
on conflict (tenant_id, usage_date) do update
  set request_count = excluded.request_count, prompt_tokens = excluded.prompt_tokens,
      completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd"""


@dataclass(frozen=True)
class Plan:
    """What a run seeds. ``heads`` hold each tenant and its members only; the rest of a
    tenant is planned when it is written, so a large run never holds it all at once."""

    sizes: Sizes
    seed: int
    end: datetime
    heads: list[TenantRows]

    def tenant(self, index: int) -> TenantRows:
        return tenant_rows(self.sizes, self.seed, index, self.end)


def plan(sizes: Sizes, seed: int, end: datetime) -> Plan:
    problems = sizes.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return Plan(sizes, seed, end, [members(sizes, seed, i, end) for i in range(sizes.tenants)])


class Target(Protocol):
    """Where the planned tenants go: a database over a direct connection, or a project's APIs."""

    def check(self, heads: list[TenantRows]) -> None:
        """Refuse before anything is written: no schema, or a row the seed needs held by another."""

    def complete(self, heads: list[TenantRows]) -> set[int]:
        """The positions of the tenants already there in full (a cheap look before planning rows)."""

    def write_tenants(self, seeding: Plan, indexes: list[int]) -> Iterator[int | None]:
        """Write these tenants; for each, as it finishes, the messages written, or None when
        it turned out to be there already."""

    def finish(self) -> None:
        """Refresh the summaries."""


def one_by_one(
    write_tenant: Callable[[TenantRows], bool], seeding: Plan, indexes: list[int]
) -> Iterator[int | None]:
    for index in indexes:
        rows = seeding.tenant(index)
        yield len(rows.messages) if write_tenant(rows) else None


# one worker process's connection and the layout it was given, set by _open_worker
_worker: tuple[psycopg.Connection[Any], Layout] | None = None


def _open_worker(url: str, layout: Layout) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the pool
    _worker = (psycopg.connect(url), layout)


def _write_in_worker(task: tuple[Sizes, int, datetime, int]) -> int | None:
    sizes, seed, end, index = task
    assert _worker is not None
    rows = tenant_rows(sizes, seed, index, end)
    try:
        return len(rows.messages) if write_tenant(*_worker, rows) else None
    except psycopg.Error as e:  # travels back to the parent as a plain, picklable error
        raise SetupError(f"writing tenant {rows.tenant['slug']} failed: {e}") from None


class Members(Protocol):
    """Creates members' auth users elsewhere (the Auth admin API) before their rows are loaded."""

    def check_members(self, heads: list[TenantRows]) -> None: ...

    def create_members(self, rows: TenantRows) -> None: ...


class PostgresTarget:
    """A direct connection: one transaction per tenant, tables loaded with COPY.

    Tenants are written by ``jobs`` worker processes, each on its own connection, so that
    planning rows in Python and loading them on the server run side by side; by default
    (None) as many as there are CPUs (up to 4), and only when each gets at least
    ``PER_WORKER`` messages. Ending the run (Ctrl-C) ends the workers; their open
    transactions roll back. With ``members``, the auth users are created there first (so
    they can sign in), and the load finds them in place.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        url: str,
        jobs: int | None = None,
        members: Members | None = None,
    ) -> None:
        self.conn = conn
        self.url = url
        self.jobs = jobs
        self.members = members
        self.layout = Layout({}, ())  # read by check()

    def check(self, heads: list[TenantRows]) -> None:
        check_target(self.conn)
        if self.members:
            self.members.check_members(heads)
        check_conflicts(self.conn, heads)
        # with members, Supabase Auth writes their auth.users rows: that table is its own
        self.layout = Layout.read(self.conn, auth_users=self.members is None)
        self.conn.commit()

    def complete(self, heads: list[TenantRows]) -> set[int]:
        # a tenant is written in one transaction: there means whole
        ids = [h.tenant["id"] for h in heads]
        with self.conn.transaction():
            found = self.conn.execute("select id from public.tenants where id = any(%s)", (ids,)).fetchall()
        there = {tenant_id for (tenant_id,) in found}
        return {n for n, tenant_id in enumerate(ids) if tenant_id in there}

    def write_tenants(self, seeding: Plan, indexes: list[int]) -> Iterator[int | None]:
        if self.members:
            for index in indexes:
                self.members.create_members(seeding.heads[index])
        sizes = seeding.sizes
        per_tenant = sizes.users_per_tenant * sizes.conversations_per_user * sizes.messages_per_conversation
        if self.jobs is None:
            workers = min(default_jobs(), len(indexes), max(1, len(indexes) * per_tenant // PER_WORKER))
        else:
            workers = min(self.jobs, len(indexes))
        if workers <= 1:
            yield from one_by_one(lambda rows: write_tenant(self.conn, self.layout, rows), seeding, indexes)
            return
        tasks = [(sizes, seeding.seed, seeding.end, i) for i in indexes]
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(workers, _open_worker, (self.url, self.layout)) as pool:
            yield from pool.imap_unordered(_write_in_worker, tasks)

    def finish(self) -> None:
        self.conn.execute("select public.refresh_summaries()")
        self.conn.commit()


# a run spreads over worker processes only when each gets at least this many messages
PER_WORKER = 50_000


def default_jobs() -> int:
    return min(4, os.cpu_count() or 1)


def run(target: Target, seeding: Plan, progress: Callable[[int, int], None] | None = None) -> Report:
    """Check, then write tenant by tenant, then refresh; a re-run skips the finished tenants."""
    report = Report()
    started = time.perf_counter()
    total = len(seeding.heads)
    target.check(seeding.heads)
    done = target.complete(seeding.heads)
    todo = [i for i in range(total) if i not in done]
    report.tenants_present = total - len(todo)
    for written in target.write_tenants(seeding, todo):
        if written is None:
            report.tenants_present += 1
        else:
            report.tenants_written += 1
            report.messages_written += written
        if progress:
            progress(report.tenants_present + report.tenants_written, total)
    target.finish()
    report.seconds = time.perf_counter() - started
    return report


def seed_database(
    url: str,
    sizes: Sizes,
    seed: int,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
    members: Members | None = None,
) -> tuple[Report, Plan]:
    """Seed ``url`` over a direct connection; returns the report and the plan."""
    seeding = plan(sizes, seed, end)
    if jobs is not None and jobs < 1:
        raise ValueError("jobs must be at least 1")
    check_reachable(url)
    try:
        with psycopg.connect(url) as conn:
            report = run(PostgresTarget(conn, url, jobs, members), seeding, progress)
    except psycopg.Error as e:
        raise SetupError(
            f"seeding {redact(url)} failed; finished tenants stay, a re-run completes the rest: {e}"
        ) from e
    return report, seeding
