"""Write planned tenants into a database: one transaction per tenant, tables loaded with COPY."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from seeds.plan import Sizes, TenantRows, tenant_rows
from supatenant.database import check_reachable, redact
from supatenant.errors import Conflict, SetupError

COLUMNS = {
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
    ),
    "feedback": ("id", "tenant_id", "message_id", "user_id", "rating", "comment", "created_at", "updated_at"),
    "usage_metrics": (
        "tenant_id", "user_id", "usage_date", "request_count",
        "prompt_tokens", "completion_tokens", "cost_usd", "updated_at",
    ),
}  # fmt: skip


@dataclass
class Report:
    tenants_written: int = 0
    tenants_present: int = 0
    messages_written: int = 0
    seconds: float = 0.0


def _value(v: Any) -> Any:
    return Jsonb(v) if isinstance(v, dict | list) else v


def _copy(cur: psycopg.Cursor[Any], table: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = COLUMNS[table]
    statement = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier("public", table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row([_value(row[c]) for c in columns])


def check_target(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "select to_regclass('public.messages') is not null, to_regclass('auth.users') is not null"
    ).fetchone()
    if not row or not all(row):
        raise SetupError(
            "the database has no supatenant schema: run `supatenant up --database-url URL` first"
        )


def check_conflicts(conn: psycopg.Connection[Any], plans: list[TenantRows]) -> None:
    """Refuse, before writing anything, when a non-seed row holds a slug or email the seed needs."""
    slugs = {p.tenant["slug"]: p.tenant["id"] for p in plans}
    for slug, tenant_id in conn.execute(
        "select slug, id from public.tenants where slug = any(%s)", (list(slugs),)
    ):
        if slugs[slug] != tenant_id:
            raise Conflict(
                f"tenant slug {slug!r} is taken by a tenant this seed did not write ({tenant_id})", "23505"
            )
    emails = {u["email"]: u["id"] for p in plans for u in p.auth_users}
    for email, auth_id in conn.execute(
        "select email, id from auth.users where email = any(%s)", (list(emails),)
    ):
        if emails[email] != auth_id:
            raise Conflict(
                f"auth user {email!r} exists and was not written by this seed ({auth_id})", "23505"
            )


def write_tenant(conn: psycopg.Connection[Any], rows: TenantRows) -> bool:
    """Write one tenant and everything in it in one transaction; False when it is already there."""
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute("select 1 from public.tenants where id = %s", (rows.tenant["id"],)).fetchone():
            return False
        # the rows carry the counters the triggers would keep; skip the triggers for speed
        cur.execute("set local session_replication_role = replica")
        t = rows.tenant
        cur.execute(
            "insert into public.tenants (id, name, slug, plan, is_active, settings, created_at, updated_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                t["id"],
                t["name"],
                t["slug"],
                t["plan"],
                t["is_active"],
                Jsonb(t["settings"]),
                t["created_at"],
                t["created_at"],
            ),
        )
        cur.executemany(
            "insert into auth.users (id, email, aud, role, email_confirmed_at, created_at, updated_at) values"
            " (%s, %s, 'authenticated', 'authenticated', %s, %s, %s) on conflict (id) do nothing",
            [(a["id"], a["email"], *[t["created_at"]] * 3) for a in rows.auth_users],
        )
        _copy(cur, "users", rows.users)
        _copy(cur, "conversations", rows.conversations)
        _copy(cur, "messages", rows.messages)
        _copy(cur, "feedback", rows.feedback)
        _copy(cur, "usage_metrics", rows.usage)
    return True


class Target(Protocol):
    """Where the planned tenants go: a database over a direct connection, or a project's APIs."""

    def check(self, plans: list[TenantRows]) -> None:
        """Refuse before anything is written: no schema, or a row the seed needs held by another."""

    def write_tenant(self, rows: TenantRows) -> bool:
        """Write one tenant and everything in it; False when it is already complete."""

    def finish(self) -> None:
        """Refresh the summaries."""


class PostgresTarget:
    """A direct connection: one transaction per tenant, tables loaded with COPY."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def check(self, plans: list[TenantRows]) -> None:
        check_target(self.conn)
        check_conflicts(self.conn, plans)
        self.conn.commit()

    def write_tenant(self, rows: TenantRows) -> bool:
        return write_tenant(self.conn, rows)

    def finish(self) -> None:
        self.conn.execute("select public.refresh_summaries()")
        self.conn.commit()


def plan(sizes: Sizes, seed: int, end: datetime) -> list[TenantRows]:
    problems = sizes.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return [tenant_rows(sizes, seed, i, end) for i in range(sizes.tenants)]


def run(
    target: Target, plans: list[TenantRows], progress: Callable[[int, int], None] | None = None
) -> Report:
    """Check, then write tenant by tenant, then refresh; a re-run skips the finished tenants."""
    report = Report()
    started = time.perf_counter()
    target.check(plans)
    for i, rows in enumerate(plans):
        if target.write_tenant(rows):
            report.tenants_written += 1
            report.messages_written += len(rows.messages)
        else:
            report.tenants_present += 1
        if progress:
            progress(i + 1, len(plans))
    target.finish()
    report.seconds = time.perf_counter() - started
    return report


def seed_database(
    url: str,
    sizes: Sizes,
    seed: int,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Report, list[TenantRows]]:
    """Seed ``url`` over a direct connection; returns the report and the planned tenants."""
    plans = plan(sizes, seed, end)
    check_reachable(url)
    try:
        with psycopg.connect(url) as conn:
            report = run(PostgresTarget(conn), plans, progress)
    except psycopg.Error as e:
        raise SetupError(
            f"seeding {redact(url)} failed; finished tenants stay, a re-run completes the rest: {e}"
        ) from e
    return report, plans
