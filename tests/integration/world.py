"""A fixed multi-tenant world for access tests: every actor of the access matrix.

Tenant A (active): owner, admin, two members (m1, m2) and an inactive member.
Tenant B (active): one member. Tenant C (inactive): one member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg


def key(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"supatenant-test:{name}")


@dataclass(frozen=True)
class Actor:
    name: str
    role: str  # API role
    auth_id: UUID | None
    member_id: UUID | None  # their membership row (None for anon / service)
    tenant_id: UUID | None


@dataclass(frozen=True)
class World:
    actors: dict[str, Actor]
    ids: dict[str, UUID]


# (actor, tenant, role, active)
_MEMBERS = [
    ("owner", "A", "owner", True),
    ("admin", "A", "admin", True),
    ("m1", "A", "member", True),
    ("m2", "A", "member", True),
    ("inactive", "A", "member", False),
    ("outsider", "B", "member", True),
    ("inactive_tenant", "C", "member", True),
]


def build_world(conn: psycopg.Connection[Any]) -> World:
    ids = {f"tenant_{t}": key(f"tenant:{t}") for t in "ABC"}
    for t, active in (("A", True), ("B", True), ("C", False)):
        conn.execute(
            "insert into public.tenants (id, name, slug, plan, is_active) values (%s, %s, %s, 'pro', %s)",
            (ids[f"tenant_{t}"], f"Tenant {t}", f"tenant-{t.lower()}", active),
        )
    actors: dict[str, Actor] = {
        "anon": Actor("anon", "anon", None, None, None),
        "service": Actor("service", "service_role", None, key("member:m1"), ids["tenant_A"]),
    }
    for name, tenant, role, active in _MEMBERS:
        auth_id, member_id, tenant_id = key(f"auth:{name}"), key(f"member:{name}"), ids[f"tenant_{tenant}"]
        conn.execute(
            "insert into auth.users (id, email, role, aud) values (%s, %s, 'authenticated', 'authenticated')",
            (auth_id, f"{name}@example.test"),
        )
        conn.execute(
            "insert into public.users (id, tenant_id, auth_id, email, display_name, role, is_active)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            (member_id, tenant_id, auth_id, f"{name}@example.test", name, role, active),
        )
        actors[name] = Actor(name, "authenticated", auth_id, member_id, tenant_id)
        ids[name] = member_id

    def conversation(name: str, owner: str) -> None:
        ids[name] = key(f"conversation:{name}")
        conn.execute(
            "insert into public.conversations (id, tenant_id, user_id, title) values (%s, %s, %s, %s)",
            (ids[name], actors[owner].tenant_id, ids[owner], name),
        )

    def message(name: str, conv: str, tenant: str, ago: str = "0 seconds") -> None:
        ids[name] = key(f"message:{name}")
        conn.execute(  # user_id: the database takes the conversation's owner
            "insert into public.messages (id, tenant_id, conversation_id, role, content, created_at)"
            " values (%s, %s, %s, 'user', %s, now() - %s::interval)",
            (ids[name], ids[f"tenant_{tenant}"], ids[conv], f"text of {name}", ago),
        )

    conversation("c1", "m1")
    conversation("c2", "m2")
    conversation("c_stale", "m2")
    conversation("cB", "outsider")
    message("a1", "c1", "A")
    message("a1b", "c1", "A")
    message("a2", "c2", "A")
    message("a_stale", "c_stale", "A", "90 days")
    message("aB", "cB", "B")
    ids["f1"] = key("feedback:f1")
    conn.execute(
        "insert into public.feedback (id, tenant_id, message_id, user_id, rating) values (%s, %s, %s, %s, 1)",
        (ids["f1"], ids["tenant_A"], ids["a1"], ids["m1"]),
    )
    for who in ("m1", "m2", "outsider"):
        conn.execute(
            "select public.increment_usage(%s, %s, 100, 50, 0.01)", (actors[who].tenant_id, ids[who])
        )
    conn.execute("select public.refresh_summaries()")
    conn.commit()
    return World(actors, ids)
