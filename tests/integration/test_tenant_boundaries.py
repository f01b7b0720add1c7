"""Rows can never point into another tenant, not even when the service role writes them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from tests.integration.world import World


def _as_service(conn: psycopg.Connection[Any], world: World, *statements: str) -> None:
    with conn.transaction(force_rollback=True):
        act_as(conn, Identity.service())
        for statement in statements:
            conn.execute(statement.encode(), world.ids)


@pytest.mark.parametrize(
    "statement",
    [
        # a message in tenant B pointing at tenant A's conversation
        "insert into messages (tenant_id, conversation_id, role, content) values (%(tenant_B)s, %(c1)s, 'user', 'x')",
        # a conversation in tenant B owned by a member of tenant A
        "insert into conversations (tenant_id, user_id) values (%(tenant_B)s, %(m1)s)",
        # feedback in tenant B on tenant A's message
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%(tenant_B)s, %(a1)s, %(outsider)s, 1)",
        # usage for tenant B charged to a member of tenant A
        "select increment_usage(%(tenant_B)s, %(m1)s, 1, 1, 0)",
        # moving a conversation to another tenant leaves its messages behind: refused
        "update conversations set tenant_id = %(tenant_B)s where id = %(c1)s",
        # moving a member to another tenant leaves their conversations behind: refused
        "update users set tenant_id = %(tenant_B)s where id = %(m1)s",
    ],
)
def test_service_role_cannot_cross_tenants(
    conn: psycopg.Connection[Any], world: World, statement: str
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _as_service(conn, world, statement)


def test_the_same_writes_succeed_within_one_tenant(conn: psycopg.Connection[Any], world: World) -> None:
    _as_service(
        conn,
        world,
        "insert into messages (tenant_id, conversation_id, role, content) values (%(tenant_A)s, %(c1)s, 'user', 'x')",
        "insert into conversations (tenant_id, user_id) values (%(tenant_B)s, %(outsider)s)",
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%(tenant_B)s, %(aB)s, %(outsider)s, 1)",
        "select increment_usage(%(tenant_B)s, %(outsider)s, 1, 1, 0)",
    )


def test_members_cannot_move_rows_between_tenants(conn: psycopg.Connection[Any], world: World) -> None:
    member = world.actors["m1"]
    assert member.auth_id is not None
    for statement in (
        "update conversations set tenant_id = %(tenant_B)s where id = %(c1)s",
        "update users set tenant_id = %(tenant_B)s where id = %(m1)s",
        "update feedback set tenant_id = %(tenant_B)s where id = %(f1)s",
    ):
        with conn.transaction(force_rollback=True):
            act_as(conn, Identity.user(member.auth_id))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode(), world.ids)
