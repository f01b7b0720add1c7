"""Small helpers for tests that commit their own rows: a fresh tenant with members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    members: list[uuid.UUID]


def make_tenant(conn: psycopg.Connection[Any], members: int = 1) -> Tenant:
    """Commit a new active tenant with ``members`` active members (no auth users)."""
    tenant_id = uuid.uuid4()
    conn.execute(
        "insert into tenants (id, name, slug) values (%s, 'T', %s)", (tenant_id, f"t-{tenant_id.hex[:16]}")
    )
    ids = [uuid.uuid4() for _ in range(members)]
    for i, member_id in enumerate(ids):
        conn.execute(
            "insert into users (id, tenant_id, email) values (%s, %s, %s)",
            (member_id, tenant_id, f"u{i}@example.test"),
        )
    conn.commit()
    return Tenant(tenant_id, ids)
