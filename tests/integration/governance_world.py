"""A tenant of its own per test, with every actor of the governance matrix and rows of every kind.

Tenant T: owner, admin, members m1 and m2 (each with threads, turns, feedback and usage), and
m1 also belongs to tenant O (where "outsider_admin" is an admin and "outsider" a member).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from supatenant.auth import Identity

Conn = psycopg.Connection[Any]


@dataclass
class Gov:
    url: str
    tenant: uuid.UUID
    other: uuid.UUID
    auth: dict[str, uuid.UUID] = field(default_factory=dict)
    member: dict[str, uuid.UUID] = field(default_factory=dict)
    email: dict[str, str] = field(default_factory=dict)
    conversations: dict[str, uuid.UUID] = field(default_factory=dict)
    messages: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def who(self, name: str) -> Identity:
        return Identity.user(self.auth[name])


def build(url: str, messages_each: int = 4) -> Gov:
    g = Gov(url, uuid.uuid4(), uuid.uuid4())
    with psycopg.connect(url) as conn:
        for t in (g.tenant, g.other):
            conn.execute(
                "insert into tenants (id, name, slug, plan) values (%s, 'Gov', %s, 'pro')",
                (t, f"g-{t.hex[:20]}"),
            )
        people = (
            ("owner", g.tenant, "owner"),
            ("admin", g.tenant, "admin"),
            ("m1", g.tenant, "member"),
            ("m2", g.tenant, "member"),
            ("outsider_admin", g.other, "admin"),
            ("outsider", g.other, "member"),
            ("o_owner", g.other, "owner"),
        )
        for name, tenant, role in people:
            auth_id = uuid.uuid4()
            g.auth[name] = auth_id
            g.email[name] = f"{name}-{auth_id.hex[:8]}@Gov.Example"
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)", (auth_id, g.email[name].lower())
            )
            g.member[name] = conn.execute(
                "insert into users (tenant_id, auth_id, email, display_name, role) values (%s, %s, %s, %s, %s)"
                " returning id",
                (tenant, auth_id, g.email[name], f"Person {name}", role),
            ).fetchone()[0]  # type: ignore[index]
        # m1 is also a member of the other tenant
        g.member["m1_elsewhere"] = conn.execute(
            "insert into users (tenant_id, auth_id, email, role) values (%s, %s, %s, 'member') returning id",
            (g.other, g.auth["m1"], g.email["m1"]),
        ).fetchone()[0]  # type: ignore[index]
        for owner in ("m1", "m2", "admin"):
            for n in range(2):
                name = f"{owner}.{n}"
                g.conversations[name] = conn.execute(
                    "insert into conversations (tenant_id, user_id, title, is_archived) values (%s, %s, %s, %s)"
                    " returning id",
                    (g.tenant, g.member[owner], f"Thread {name} of {g.email[owner]}", n == 1),
                ).fetchone()[0]  # type: ignore[index]
                g.messages[name] = []
                for i in range(messages_each):
                    g.messages[name].append(
                        conn.execute(
                            "insert into messages (tenant_id, conversation_id, role, content, model, token_count)"
                            " values (%s, %s, %s, %s, %s, %s) returning id",
                            (
                                g.tenant,
                                g.conversations[name],
                                "user" if i % 2 == 0 else "assistant",
                                f"turn {i} mentioning {g.email[owner]}",
                                None if i % 2 == 0 else "gpt-4o-mini",
                                None if i % 2 == 0 else 40 + i,
                            ),
                        ).fetchone()[0]  # type: ignore[index]
                    )
        # feedback: m1 rates m1's own answer and the admin rates it too; m2 rates their own
        for rater, thread in (("m1", "m1.0"), ("admin", "m1.0"), ("m2", "m2.0")):
            conn.execute(
                "insert into feedback (tenant_id, message_id, user_id, rating, comment) values (%s, %s, %s, 1, %s)",
                (g.tenant, g.messages[thread][1], g.member[rater], f"from {rater}"),
            )
        for who, days in (("m1", 0), ("m1", 1), ("m2", 0), ("admin", 3)):
            conn.execute(
                "select increment_usage(%s, %s, 100, 50, 0.25, 2, (now() at time zone 'utc')::date - %s)",
                (g.tenant, g.member[who], days),
            )
        conn.execute("select increment_usage(%s, %s, 7, 7, 0.5)", (g.other, g.member["m1_elsewhere"]))
        # an invitation addressed to m2 (a re-invite), one sent by m1's admin colleague
        conn.execute(
            "insert into invitations (tenant_id, email, role, invited_by, expires_at)"
            " values (%s, %s, 'member', %s, now() + interval '1 day')",
            (g.tenant, g.email["m2"], g.member["admin"]),
        )
        conn.execute("select refresh_summaries()")
        conn.commit()
    return g


def usage_totals(conn: Conn, tenant: uuid.UUID) -> tuple[Any, ...]:
    row = conn.execute(
        "select sum(request_count), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_usd)"
        " from usage_metrics where tenant_id = %s",
        (tenant,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def summary_totals(conn: Conn, tenant: uuid.UUID) -> tuple[Any, ...]:
    row = conn.execute(
        "select sum(request_count), sum(total_tokens), sum(cost_usd) from private.monthly_usage_summary"
        " where tenant_id = %s",
        (tenant,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def where_found(conn: Conn, needles: list[str]) -> list[str]:
    """Every column of every table and materialized view in every schema (found from the
    catalog, none listed by hand) holding any of ``needles`` in its text form, case-insensitively."""
    columns = conn.execute(
        "select n.nspname, c.relname, a.attname from pg_attribute a"
        " join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'm', 'p') and a.attnum > 0 and not a.attisdropped"
        " and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
        " and a.atttypid not in ('bytea'::regtype)"
    ).fetchall()
    found = []
    pattern = "(" + "|".join(needles) + ")"
    for schema, table, column in columns:
        query = psycopg.sql.SQL("select count(*) from {}.{} where {}::text ~* %s").format(
            psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)
        )
        hit = conn.execute(query, (pattern,)).fetchone()
        if hit and hit[0]:
            found.append(f"{schema}.{table}.{column}")
    return found
