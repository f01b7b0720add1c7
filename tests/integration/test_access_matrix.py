"""The access matrix of DESIGN.md, cell by cell, on the real schema.

Every case runs as every actor, each in its own transaction that is rolled back. The
actors listed as allowed must succeed (no error, at least one row returned or affected);
every other actor must be refused (SQLSTATE 42501, or no row visible or affected). So
each denial is paired with the same statement succeeding for someone allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from tests.integration.world import Actor, World

ACTORS = ["anon", "service", "outsider", "m2", "m1", "admin", "owner", "inactive", "inactive_tenant"]
ACTIVE_MEMBERS = {"m1", "m2", "admin", "owner", "outsider"}
TENANT_A_READERS = {"m1", "m2", "admin", "owner", "service"}
M1_AND_ADMINS = {"m1", "admin", "owner", "service"}


@dataclass(frozen=True)
class Case:
    name: str
    sql: str
    allowed: frozenset[str]


def case(name: str, sql: str, allowed: set[str]) -> Case:
    return Case(name, sql, frozenset(allowed))


CASES = [
    # tenants
    case("tenants: read tenant A", "select 1 from tenants where id = %(tenant_A)s", TENANT_A_READERS),
    case(
        "tenants: owner renames",
        "update tenants set name = 'Renamed' where id = %(tenant_A)s",
        {"owner", "service"},
    ),
    case("tenants: change plan", "update tenants set plan = 'free' where id = %(tenant_A)s", {"service"}),
    case("tenants: create", "insert into tenants (name, slug) values ('New', 'new-tenant')", {"service"}),
    case("tenants: delete", "delete from tenants where id = %(tenant_B)s", {"service"}),
    # users
    case("users: read a member of tenant A", "select 1 from users where id = %(m2)s", TENANT_A_READERS),
    case(
        "users: edit own profile",
        "update users set display_name = 'me' where id = %(me)s",
        ACTIVE_MEMBERS | {"service"},
    ),
    case(
        "users: edit m1's profile", "update users set display_name = 'x' where id = %(m1)s", {"m1", "service"}
    ),
    case(
        "users: promote m1 to admin",
        "update users set role = 'admin' where id = %(m1)s",
        {"admin", "owner", "service"},
    ),
    case(
        "users: deactivate m2",
        "update users set is_active = false where id = %(m2)s",
        {"admin", "owner", "service"},
    ),
    case(
        "users: promote m1 to owner",
        "update users set role = 'owner' where id = %(m1)s",
        {"owner", "service"},
    ),
    case(
        "users: add a member to tenant A",
        "insert into users (tenant_id, email, role) values (%(tenant_A)s, 'new@example.test', 'member')",
        {"admin", "owner", "service"},
    ),
    case(
        "users: add an owner to tenant A",
        "insert into users (tenant_id, email, role) values (%(tenant_A)s, 'new@example.test', 'owner')",
        {"owner", "service"},
    ),
    case(
        "users: change a member's email",
        "update users set email = 'e@example.test' where id = %(m1)s",
        {"service"},
    ),
    case("users: delete a member", "delete from users where id = %(m2)s", {"service"}),
    # conversations
    case("conversations: read m1's", "select 1 from conversations where id = %(c1)s", M1_AND_ADMINS),
    case(
        "conversations: start one of my own",
        "insert into conversations (tenant_id, user_id, title) values (%(my_tenant)s, %(me)s, 't')",
        ACTIVE_MEMBERS | {"service"},
    ),
    case(
        "conversations: start one in tenant A (forged tenant for outsiders)",
        "insert into conversations (tenant_id, user_id, title) values (%(tenant_A)s, %(me)s, 't')",
        {"m1", "m2", "admin", "owner", "service"},
    ),
    case(
        "conversations: start one for m1",
        "insert into conversations (tenant_id, user_id, title) values (%(tenant_A)s, %(m1)s, 't')",
        {"m1", "service"},
    ),
    case(
        "conversations: retitle m1's",
        "update conversations set title = 'new' where id = %(c1)s",
        {"m1", "service"},
    ),
    case(
        "conversations: archive m1's",
        "update conversations set is_archived = true where id = %(c1)s",
        {"m1", "service"},
    ),
    case(
        "conversations: set message_count",
        "update conversations set message_count = 0 where id = %(c1)s",
        {"service"},
    ),
    case("conversations: delete m1's", "delete from conversations where id = %(c1)s", {"service"}),
    # messages
    case("messages: read in m1's conversation", "select 1 from messages where id = %(a1)s", M1_AND_ADMINS),
    case(
        "messages: add to m1's conversation",
        "insert into messages (tenant_id, conversation_id, role, content)"
        " values (%(tenant_A)s, %(c1)s, 'user', 'hi')",
        {"m1", "service"},
    ),
    # a complete message's text and usage are refused to the service role too (STC01, not a
    # privilege error: tests/integration/test_assistant_turns.py); its metadata is not
    case("messages: edit", "update messages set metadata = '{\"tag\": 1}' where id = %(a1)s", {"service"}),
    case("messages: delete", "delete from messages where id = %(a1)s", {"service"}),
    # feedback
    case("feedback: read m1's", "select 1 from feedback where id = %(f1)s", M1_AND_ADMINS),
    case(
        "feedback: rate a message in m1's conversation",
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%(tenant_A)s, %(a1b)s, %(me)s, 1)",
        M1_AND_ADMINS,
    ),
    case("feedback: change m1's", "update feedback set rating = -1 where id = %(f1)s", {"m1", "service"}),
    case("feedback: remove m1's", "delete from feedback where id = %(f1)s", {"m1", "service"}),
    # usage
    case("usage: read m1's", "select 1 from usage_metrics where user_id = %(m1)s", M1_AND_ADMINS),
    case("usage: read m1's today", "select 1 from current_day_usage where user_id = %(m1)s", M1_AND_ADMINS),
    case(
        "usage: insert directly",
        "insert into usage_metrics (tenant_id, user_id, usage_date) values (%(tenant_A)s, %(m1)s, '2001-01-01')",
        set(),
    ),
    case(
        "usage: update directly", "update usage_metrics set request_count = 0 where user_id = %(m1)s", set()
    ),
    case("usage: delete directly", "delete from usage_metrics where user_id = %(m1)s", set()),
    case("usage: increment_usage", "select increment_usage(%(tenant_A)s, %(m1)s, 1, 1, 0.001)", {"service"}),
    case(
        "usage: increment_usage_batch",
        "select increment_usage_batch(jsonb_build_array(jsonb_build_object("
        "'tenant_id', %(tenant_A)s::text, 'user_id', %(m1)s::text, 'prompt_tokens', 5)))",
        {"service"},
    ),
    # summaries and maintenance
    case(
        "summaries: feedback on m1's conversation",
        "select 1 from message_feedback_summary(%(c1)s)",
        M1_AND_ADMINS,
    ),
    case(
        "summaries: m1's monthly usage",
        "select 1 from monthly_usage_summary() where user_id = %(m1)s",
        M1_AND_ADMINS,
    ),
    case(
        "summaries: read the feedback materialized view directly",
        "select 1 from private.message_feedback_summary",
        set(),
    ),
    case(
        "summaries: read the usage materialized view directly",
        "select 1 from private.monthly_usage_summary",
        set(),
    ),
    case("summaries: refresh", "select refresh_summaries()", {"service"}),
    case(
        "maintenance: archive stale conversations",
        "select 1 where archive_stale_conversations('30 days') > 0",
        {"service"},
    ),
]


def _params(world: World, actor: Actor) -> dict[str, Any]:
    params: dict[str, Any] = dict(world.ids)
    params["me"] = actor.member_id or world.ids["m1"]
    params["my_tenant"] = actor.tenant_id or world.ids["tenant_A"]
    return params


def _identity(actor: Actor) -> Identity:
    if actor.role == "anon":
        return Identity.anon()
    if actor.role == "service_role":
        return Identity.service()
    assert actor.auth_id is not None
    return Identity.user(actor.auth_id)


def run_as(conn: psycopg.Connection[Any], world: World, actor_name: str, statement: str) -> str:
    """'ok' when the statement succeeds on at least one row, 'denied' when refused.

    Always rolled back. Any error other than insufficient_privilege fails the test.
    """
    actor = world.actors[actor_name]
    try:
        with conn.transaction(force_rollback=True):
            act_as(conn, _identity(actor))
            cur = conn.execute(statement.encode(), _params(world, actor))
            return "ok" if cur.rowcount > 0 else "denied"
    except psycopg.errors.InsufficientPrivilege:
        return "denied"


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_access(conn: psycopg.Connection[Any], world: World, c: Case, actor: str) -> None:
    expected = "ok" if actor in c.allowed else "denied"
    assert run_as(conn, world, actor, c.sql) == expected


def test_every_denial_has_an_allowed_counterpart() -> None:
    # a case nobody may perform must still be proven possible some other way: the
    # usage writes go through increment_usage (allowed for service), the views through
    # the summary functions (allowed above); every other case names an allowed actor
    only_denials = {c.name for c in CASES if not c.allowed}
    assert only_denials == {
        "usage: insert directly",
        "usage: update directly",
        "usage: delete directly",
        "summaries: read the feedback materialized view directly",
        "summaries: read the usage materialized view directly",
    }
