"""Adversarial, generated isolation tests: the README's access matrix is the oracle, not the policies.

Every generated statement runs as an actor the way PostgREST runs a request, with every value an
attacker controls drawn from the other tenants' and other members' real ids, the actor's own and
random uuids. Reads must return exactly the rows the matrix allows; writes must make exactly the
change the matrix allows, or be refused with nothing changed (checked by re-reading the database
as the superuser in the same, rolled-back, transaction). Each refusal is paired with the same
statement succeeding for an actor the matrix allows, and each test checks at the end that every
kind of action it generated was seen both allowed and refused (except the few that nobody may do).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from supatenant.backends.postgres import act_as
from tests.integration.adversary import (
    ARCHIVE,
    ATTACKERS,
    HELPERS,
    IDLE,
    PRIVATE_SUMMARIES,
    PUBLIC_TABLES,
    SEARCH_WORDS,
    VALIDITY,
    VIEWS,
    Actor,
    Cond,
    Expect,
    Op,
    Row,
    Statement,
    World,
    build_world,
    delete_statement,
    expect_delete,
    expect_insert,
    expect_rpc,
    expect_select,
    expect_update,
    insert_statement,
    rpc_statement,
    select_statement,
    today_minus,
    update_statement,
    verify,
)

Conn = psycopg.Connection[Any]


def generated(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(scope="module")
def adv(migrated_database: Callable[[], str]) -> Iterator[tuple[Conn, World]]:
    """A fresh migrated database holding the adversarial world, and one connection to it."""
    url = migrated_database()
    with psycopg.connect(url) as conn:
        world = build_world(conn, url)
        yield conn, world


# ---------------------------------------------------------------------------------------------
# The surface: what API roles can reach, and every value each column can be given
# ---------------------------------------------------------------------------------------------

KINDS: dict[str, dict[str, str]] = {
    "public.tenants": {
        "id": "tenant",
        "name": "text",
        "slug": "slug",
        "plan": "plan",
        "is_active": "bool",
        "settings": "json",
        "created_at": "ts",
        "updated_at": "ts",
    },
    "public.users": {
        "id": "member",
        "tenant_id": "tenant",
        "auth_id": "auth",
        "email": "email",
        "display_name": "text",
        "role": "user_role",
        "is_active": "bool",
        "created_at": "ts",
        "updated_at": "ts",
    },
    "public.invitations": {
        "tenant_id": "tenant",
        "id": "invitation",
        "email": "email",
        "role": "user_role",
        "invited_by": "member",
        "sent_by_service": "bool",
        "expires_at": "ts",
        "accepted_at": "ts",
        "member_id": "member",
        "created_at": "ts",
    },
    "public.conversations": {
        "id": "conversation",
        "tenant_id": "tenant",
        "user_id": "member",
        "title": "text",
        "metadata": "json",
        "is_archived": "bool",
        "message_count": "int",
        "last_message_at": "ts",
        "created_at": "ts",
        "updated_at": "ts",
    },
    "public.messages": {
        "id": "message",
        "tenant_id": "tenant",
        "conversation_id": "conversation",
        "user_id": "member",
        "role": "message_role",
        "content": "text",
        "tool_calls": "json_array",
        "model": "text",
        "token_count": "int",
        "latency_ms": "int",
        "metadata": "json",
        "created_at": "ts",
        "seq": "int",
        "status": "message_status",
        "status_reason": "text",
        "prompt_tokens": "int",
        "completion_tokens": "int",
        "cost_usd": "money",
        "reserved_tokens": "int",
        "streamed_at": "ts",
        "completed_at": "ts",
        "metered_at": "ts",
    },
    "public.feedback": {
        "id": "feedback",
        "tenant_id": "tenant",
        "message_id": "message",
        "user_id": "member",
        "rating": "rating",
        "comment": "text",
        "created_at": "ts",
        "updated_at": "ts",
    },
    "public.usage_metrics": {
        "tenant_id": "tenant",
        "user_id": "member",
        "usage_date": "date",
        "request_count": "int",
        "prompt_tokens": "int",
        "completion_tokens": "int",
        "total_tokens": "generated",
        "cost_usd": "money",
        "updated_at": "ts",
    },
}
KINDS["public.current_day_usage"] = dict(KINDS["public.usage_metrics"])

# public functions and their arguments, each with an oracle in adversary.expect_rpc
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "accept_invitation": ("p_token",),
    "archive_stale_conversations": ("older_than",),
    "increment_usage": (
        "p_tenant_id",
        "p_user_id",
        "p_prompt_tokens",
        "p_completion_tokens",
        "p_cost_usd",
        "p_request_count",
        "p_usage_date",
    ),
    "increment_usage_batch": ("p_increments",),
    "invite_member": ("p_tenant_id", "p_email", "p_role", "p_valid_for"),
    "message_feedback_summary": ("p_conversation_id", "p_tenant_id"),
    "monthly_usage_summary": ("p_from", "p_to", "p_tenant_id"),
    "my_memberships": (),
    "refresh_summaries": (),
    "search_messages": ("p_query", "p_tenant_id", "p_conversation_id", "p_limit", "p_member_id"),
    "transfer_ownership": ("p_tenant_id", "p_member_id"),
    "open_message": (
        "p_tenant_id",
        "p_conversation_id",
        "p_member_id",
        "p_role",
        "p_model",
        "p_reserve_tokens",
        "p_content",
        "p_tool_calls",
        "p_metadata",
    ),
    "append_message_text": ("p_tenant_id", "p_message_id", "p_text", "p_member_id"),
    "close_message": (
        "p_tenant_id",
        "p_message_id",
        "p_status",
        "p_reason",
        "p_prompt_tokens",
        "p_completion_tokens",
        "p_cost_usd",
        "p_latency_ms",
        "p_member_id",
        "p_text",
    ),
    "record_turn": (
        "p_tenant_id",
        "p_conversation_id",
        "p_user_content",
        "p_assistant_content",
        "p_member_id",
        "p_model",
        "p_prompt_tokens",
        "p_completion_tokens",
        "p_cost_usd",
        "p_latency_ms",
        "p_idempotency_key",
    ),
    "close_stale_streams": ("p_idle_for",),
    "tenant_quota": ("p_tenant_id",),
}

API_ROLES = ("anon", "authenticated", "service_role")

# Data governance (erasure, redaction, exports, retention, the audit log): no generated cases
# here (an erasure removes the world); README's governance matrix is tested cell by cell, each
# refusal next to the allowed actor, in test_governance.py and test_export.py.
GOVERNANCE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "apply_retention": ("p_batch_size",),
    "authorize_export": ("p_kind", "p_tenant_id", "p_subject_id"),
    "erase_conversation": ("p_tenant_id", "p_conversation_id"),
    "erase_member": ("p_tenant_id", "p_member_id"),
    "erase_tenant": ("p_tenant_id",),
    "record_export": ("p_kind", "p_tenant_id", "p_subject_id", "p_format", "p_row_counts"),
    "redact_message": ("p_tenant_id", "p_message_id", "p_reason"),
    "set_retention": ("p_tenant_id", "p_archived_conversations_days", "p_messages_days"),
}
GOVERNANCE_RELATIONS = {"public.audit_events"}


def test_every_public_function_is_covered(adv: tuple[Conn, World]) -> None:
    _, world = adv
    exists = {name: tuple(args) for name, args in world.functions.items()}
    assert exists == FUNCTIONS | GOVERNANCE_FUNCTIONS, (
        "a public function was added, removed or changed: give it an oracle and cases"
    )


def test_every_reachable_relation_and_column_is_covered(adv: tuple[Conn, World]) -> None:
    conn, world = adv
    reachable = conn.execute(
        "select distinct c.relnamespace::regnamespace::text || '.' || c.relname"
        " from pg_class c cross join unnest(%s::text[]) r(role)"
        " where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)"
        " and c.relkind in ('r', 'v', 'm', 'p', 'f')"
        " and (has_table_privilege(r.role, c.oid, 'select, insert, update, delete, truncate, references, trigger')"
        "   or exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        "              and has_column_privilege(r.role, c.oid, a.attnum, 'select, insert, update, references')))",
        (list(API_ROLES),),
    ).fetchall()
    assert {r[0] for r in reachable} == set(PUBLIC_TABLES) | set(VIEWS) | GOVERNANCE_RELATIONS
    covered = {rel: cols for rel, cols in world.columns.items() if rel not in GOVERNANCE_RELATIONS}
    assert {rel: set(cols) for rel, cols in covered.items()} == {rel: set(k) for rel, k in KINDS.items()}


@pytest.mark.parametrize("actor_name", ["anon", "m1", "admin", "owner", "service"])
def test_private_relations_are_unreachable(adv: tuple[Conn, World], actor_name: str) -> None:
    conn, world = adv
    private = [
        r[0]
        for r in conn.execute(
            "select c.oid::regclass::text from pg_class c where c.relnamespace = 'private'::regnamespace"
            " and c.relkind in ('r', 'v', 'm', 'p')"
        ).fetchall()
    ]
    assert set(PRIVATE_SUMMARIES) <= set(private)
    conn.rollback()
    for rel in private:
        stmt = Statement(sql.SQL("select count(*) from {}").format(sql.SQL(rel)), [])
        expect = Expect(None, frozenset({"42501"}), False, f"{rel} is out of the Data API's reach")
        assert verify(conn, world, world.actors[actor_name], stmt, expect) == "denied"


def test_token_hash_is_unreadable(adv: tuple[Conn, World]) -> None:
    conn, world = adv
    # no API role can read any column holding a token or its hash, anywhere
    readable = conn.execute(
        "select c.oid::regclass::text, a.attname, r.role from pg_attribute a"
        " join pg_class c on c.oid = a.attrelid cross join unnest(%s::text[]) r(role)"
        " where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)"
        " and a.attnum > 0 and not a.attisdropped and (a.attname in ('token', 'secret') or a.attname like '%%hash'"
        " or a.atttypid = 'bytea'::regtype)"
        " and has_column_privilege(r.role, c.oid, a.attnum, 'select')",
        (list(API_ROLES),),
    ).fetchall()
    conn.rollback()
    assert readable == []
    admin = world.actors["admin"]
    with conn.transaction(force_rollback=True):
        act_as(conn, admin.identity())
        row = conn.execute(
            "select token from public.invite_member(p_tenant_id => %s::uuid, p_email => 'leak@example.test')",
            (world.ids["A"],),
        ).fetchone()
        assert row is not None
        token = row[0]
        everything = conn.execute(
            "select coalesce(json_agg(to_jsonb(i))::text, '') from public.invitations i"
        )
        text = everything.fetchone()
        assert text is not None
        assert "leak@example.test" in text[0]
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert token not in text[0]
        assert digest not in text[0]
        denied = (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedColumn)
        with pytest.raises(denied), conn.transaction():
            conn.execute("select token_hash from public.invitations")


# ---------------------------------------------------------------------------------------------
# Value pools: the other tenants' and members' real ids, the actor's own, random uuids
# ---------------------------------------------------------------------------------------------


@dataclass
class Pools:
    all: dict[str, list[str]]
    own: dict[str, dict[str, list[str]]]
    tenant_of: dict[str, str]
    members_in: dict[str, list[str]]
    fixed: dict[str, list[Any]] = field(default_factory=dict)
    # per member: (column, value) that picks out rows that are theirs, by table
    rows_of: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)
    tokens_for: dict[str, list[str]] = field(default_factory=dict)  # account -> tokens for its address


def pools_for(world: World) -> Pools:
    base = world.base
    order = world.label

    def ids(table: str, col: str = "id") -> list[str]:
        return sorted({r[col] for r in base[table].values()}, key=order)

    tenant_of: dict[str, str] = {}
    for table in (
        "public.users",
        "public.conversations",
        "public.messages",
        "public.feedback",
        "public.invitations",
    ):
        for r in base[table].values():
            tenant_of[r["id"]] = r["tenant_id"]
    all_ids = {
        "tenant": ids("public.tenants"),
        "member": ids("public.users"),
        "auth": sorted(world.auth_ids, key=order),
        "conversation": ids("public.conversations"),
        "message": ids("public.messages"),
        "feedback": ids("public.feedback"),
        "invitation": ids("public.invitations"),
        "email": [
            *sorted({r["email"] for r in base["public.users"].values()}),
            "fresh@example.test",
            "M1@EXAMPLE.TEST",
        ],
    }
    own: dict[str, dict[str, list[str]]] = {}
    for name, actor in world.actors.items():
        mine = [u for u in base["public.users"].values() if actor.auth_id and u["auth_id"] == actor.auth_id]
        members = {u["id"] for u in mine}
        tenants = {u["tenant_id"] for u in mine}
        own[name] = {
            "tenant": sorted(tenants, key=order),
            "member": sorted(members, key=order),
            "auth": [actor.auth_id] if actor.auth_id else [],
            "conversation": sorted(
                (c["id"] for c in base["public.conversations"].values() if c["user_id"] in members), key=order
            ),
            "message": sorted(
                (m["id"] for m in base["public.messages"].values() if m["user_id"] in members), key=order
            ),
            "feedback": sorted(
                (f["id"] for f in base["public.feedback"].values() if f["user_id"] in members), key=order
            ),
            "invitation": [],
            "email": [actor.email] if actor.email else [],
        }
    fixed: dict[str, list[Any]] = {
        "text": ["hello refund", "Renamed"],
        "slug": ["tenant-a", "tenant-b", "fresh-slug"],
        "plan": ["free", "enterprise"],
        "bool": [True, False],
        "json": [{}, {"k": 1}],
        "json_array": [[{"name": "forged"}]],
        "int": [0, 7],
        "ts": ["2001-01-01T00:00:00+00:00", "2030-01-01T00:00:00+00:00"],
        "date": [world.today, today_minus(world, 40), "2001-01-01"],
        "money": [0.5],
        "rating": [1, -1],
        "user_role": ["owner", "admin", "member"],
        "message_role": ["user", "assistant", "system", "tool"],
        "message_status": ["complete", "streaming", "failed"],
        "stream": [world.ids["c_m1:stream"]],
        "generated": [1],
    }
    members_in: dict[str, list[str]] = {}
    for m in all_ids["member"]:
        members_in.setdefault(tenant_of[m], []).append(m)
    rows_of: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for name, theirs in own.items():
        invitations = [
            i for i, t in tenant_of.items() if i in all_ids["invitation"] and t in theirs["tenant"]
        ]
        rows_of[name] = {
            "public.tenants": [("id", t) for t in theirs["tenant"]],
            "public.users": [("id", m) for m in theirs["member"]],
            "public.conversations": [("id", c) for c in theirs["conversation"]],
            "public.messages": [("id", m) for m in theirs["message"]],
            "public.feedback": [("id", f) for f in theirs["feedback"]],
            "public.invitations": [("id", i) for i in sorted(invitations, key=order)],
            "public.usage_metrics": [("user_id", m) for m in theirs["member"]],
        }
    emails = {
        label: i["email"].lower()
        for label, i in ((world.label(i["id"]), i) for i in base["public.invitations"].values())
    }
    tokens_for = {
        name: sorted(
            tok for label, tok in world.tokens.items() if a.email and emails.get(label) == a.email.lower()
        )
        for name, a in world.actors.items()
    }
    return Pools(all_ids, own, tenant_of, members_in, fixed, rows_of, tokens_for)


def value(p: Pools, kind: str, actor: str) -> st.SearchStrategy[Any]:
    if kind in p.fixed:
        return st.sampled_from(p.fixed[kind])
    choices: list[st.SearchStrategy[Any]] = []
    if p.own[actor][kind]:
        choices.append(st.sampled_from(p.own[actor][kind]))
    choices.append(st.sampled_from(p.all[kind]))
    if kind != "email":
        choices.append(st.uuids().map(str))
    return st.one_of(choices)


def tenant_near(p: Pools, ref: str, actor: str) -> st.SearchStrategy[str]:
    """A tenant id for a row referencing ``ref``: usually ``ref``'s own tenant, else any."""
    near = p.tenant_of.get(ref)
    options: list[st.SearchStrategy[str]] = [value(p, "tenant", actor)]
    if near is not None:
        options.insert(0, st.just(near))
    return st.one_of(options)


def member_near(p: Pools, tenant: str, actor: str) -> st.SearchStrategy[str]:
    """A member id for a row in ``tenant``: the actor's own there, anyone's there, or any at all."""
    mine = [m for m in p.own[actor]["member"] if p.tenant_of.get(m) == tenant]
    options: list[st.SearchStrategy[str]] = [value(p, "member", actor)]
    if p.members_in.get(tenant):
        options.insert(0, st.sampled_from(p.members_in[tenant]))
    if mine:
        options.insert(0, st.just(mine[0]))
    return st.one_of(options)


def actors() -> st.SearchStrategy[str]:
    return st.sampled_from(ATTACKERS)


# the referenced id a row's tenant_id should usually agree with
ANCHOR = {
    "public.users": None,
    "public.conversations": "user_id",
    "public.messages": "conversation_id",
    "public.feedback": "message_id",
    "public.usage_metrics": "user_id",
    "public.invitations": None,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "public.tenants": ("name", "slug"),
    "public.users": ("tenant_id", "email"),
    "public.conversations": ("user_id", "tenant_id"),
    "public.messages": ("conversation_id", "tenant_id", "role", "content"),
    "public.feedback": ("message_id", "tenant_id", "user_id", "rating"),
    "public.usage_metrics": ("user_id", "tenant_id", "usage_date"),
    "public.invitations": ("tenant_id", "email", "expires_at"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "public.tenants": ("id", "plan", "is_active", "settings"),
    "public.users": ("role", "display_name", "is_active", "id", "auth_id"),
    "public.conversations": ("title", "metadata", "is_archived", "id", "message_count", "last_message_at"),
    "public.messages": ("metadata", "id", "user_id", "model", "token_count", "latency_ms", "tool_calls"),
    "public.feedback": ("comment", "id"),
    "public.usage_metrics": ("request_count", "prompt_tokens"),
    "public.invitations": ("role", "id", "invited_by"),
}
CONFLICTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "public.tenants": (("id",), ("slug",)),
    "public.users": (("tenant_id", "id"),),
    "public.conversations": (("tenant_id", "id"),),
    "public.messages": (("tenant_id", "id"),),
    "public.feedback": (("tenant_id", "id"), ("tenant_id", "message_id", "user_id")),
    "public.usage_metrics": (("tenant_id", "user_id", "usage_date"),),
    "public.invitations": (("tenant_id", "id"),),
}


# members whose point of view a generated row may take: their own tenant, member id, threads
VIEWS_OF = ("m1", "m2", "admin", "owner", "cross_admin", "both", "b_member", "b_owner", "e_owner", "inactive")


@st.composite
def coherent(draw: st.DrawFn, p: Pools, table: str, view: str) -> Row:
    """The core of a row that is ``view``'s own to write (before any field is tampered with)."""
    own = p.own[view]
    member = draw(st.sampled_from(own["member"]))
    tenant = p.tenant_of[member]
    if table == "public.conversations":
        return {"tenant_id": tenant, "user_id": member}
    if table == "public.messages":
        conv = draw(st.sampled_from(own["conversation"]))
        return {"tenant_id": p.tenant_of[conv], "conversation_id": conv, "role": "user"}
    if table == "public.feedback":
        message = draw(st.sampled_from(own["message"]))
        member = next(m for m in own["member"] if p.tenant_of[m] == p.tenant_of[message])
        return {"tenant_id": p.tenant_of[message], "message_id": message, "user_id": member}
    if table in ("public.users", "public.invitations"):
        return {"tenant_id": tenant, "email": "fresh@example.test"}
    if table == "public.usage_metrics":
        return {"tenant_id": tenant, "user_id": member}
    return {"slug": "fresh-slug"}


@st.composite
def payload(draw: st.DrawFn, p: Pools, table: str, actor: str, must: Sequence[str] = ()) -> Row:
    """A row to insert: half the time one that is some member's own to write, with at most one
    field swapped for another tenant's or member's id; otherwise every field drawn on its own."""
    kinds = KINDS[table]
    extra = draw(st.lists(st.sampled_from(OPTIONAL[table]), max_size=2, unique=True))
    cols = list(dict.fromkeys([*REQUIRED[table], *must, *extra]))
    row: Row = {}
    if draw(st.booleans()):
        views = [st.sampled_from(VIEWS_OF)]
        if p.own[actor]["member"]:
            views.insert(0, st.just(actor))  # the attacker's own row, one field then tampered with
        row = draw(coherent(p, table, draw(st.one_of(views))))
    for col in cols:
        if col in row:
            continue
        if col == "tenant_id" and ANCHOR.get(table) in row:
            row[col] = draw(tenant_near(p, row[ANCHOR[table] or ""], actor))
        elif col == "user_id" and table == "public.feedback" and "tenant_id" in row:
            row[col] = draw(member_near(p, row["tenant_id"], actor))
        elif col == "name":
            row[col] = "New tenant"
        else:
            row[col] = draw(value(p, kinds[col], actor))
    tamper = draw(st.sampled_from([None, None, *sorted(row)]))
    if tamper is not None and tamper != "name":
        row[tamper] = draw(own_first(p, kinds[tamper], actor))
    return row


def own_first(p: Pools, kind: str, actor: str) -> st.SearchStrategy[Any]:
    """Half the time one of the actor's own values (its other tenant, its other membership)."""
    own = p.own[actor].get(kind, [])
    return st.one_of(st.sampled_from(own), value(p, kind, actor)) if own else value(p, kind, actor)


@dataclass(frozen=True)
class Case:
    kind: str
    actor: str
    stmt: Callable[[World], Statement]
    expect: Callable[[World, Actor], Expect]
    label: str = ""


WRITES = ("insert", "merge", "ignore", "update", "delete")


@st.composite
def write_cases(draw: st.DrawFn, p: Pools, table: str) -> Case:
    actor = draw(actors())
    op = draw(st.sampled_from(WRITES))
    if op in ("insert", "merge", "ignore"):
        conflict = draw(st.sampled_from(CONFLICTS[table]))
        rows = [draw(payload(p, table, actor, must=conflict if op != "insert" else ()))]
        if op == "insert" and draw(st.integers(0, 4)) == 0:
            rows.append(draw(payload(p, table, actor)))  # PostgREST bulk insert: one statement
        if len({tuple(sorted(r)) for r in rows}) > 1:
            rows = rows[:1]  # one column list per statement, as PostgREST's ?columns= makes it
        return Case(
            f"{table} {op}",
            actor,
            lambda w: insert_statement(w, table, rows, op, conflict),
            lambda w, a: expect_insert(w, a, table, rows, op, conflict),
            f"{rows}",
        )
    conds = draw(targets(p, table, actor))
    if op == "update":
        hinted = sorted(c for c in KINDS[table] if c in WRITABLE_LOOKING)
        any_cols = st.lists(st.sampled_from(sorted(KINDS[table])), min_size=1, max_size=2, unique=True)
        cols = draw(
            st.one_of(st.lists(st.sampled_from(hinted), min_size=1, max_size=2, unique=True), any_cols)
            if hinted
            else any_cols
        )
        values = {c: draw(value(p, KINDS[table][c], actor)) for c in cols}
        return Case(
            f"{table} update",
            actor,
            lambda w: update_statement(w, table, values, conds),
            lambda w, a: expect_update(w, a, table, values, conds),
        )
    return Case(
        f"{table} delete",
        actor,
        lambda w: delete_statement(w, table, conds),
        lambda w, a: expect_delete(w, a, table, conds),
    )


# columns some API user may write somewhere: updates aim at them half the time
WRITABLE_LOOKING = {
    "title",
    "metadata",
    "is_archived",
    "display_name",
    "role",
    "is_active",
    "rating",
    "comment",
}
WRITABLE_LOOKING |= {"name", "settings"}


@st.composite
def targets(draw: st.DrawFn, p: Pools, table: str, actor: str) -> list[Cond]:
    """Filters for an update or delete: half the time exactly one member's own row(s)."""
    if draw(st.booleans()):
        rows = p.rows_of[draw(st.sampled_from(VIEWS_OF))][table]
        if rows:
            col, val = draw(st.sampled_from(rows))
            return [Cond(col, "eq", (val,))]
    return draw(conditions(p, table, actor, min_size=1))


OPS: tuple[Op, ...] = ("eq", "eq", "in", "neq")
FILTERABLE = (
    "id",
    "tenant_id",
    "user_id",
    "conversation_id",
    "message_id",
    "member_id",
    "auth_id",
    "email",
    "role",
)


@st.composite
def conditions(draw: st.DrawFn, p: Pools, rel: str, actor: str, min_size: int = 0) -> list[Cond]:
    cols = [c for c in FILTERABLE if c in KINDS[rel]]
    chosen = draw(st.lists(st.sampled_from(cols), min_size=min_size, max_size=2, unique=True))
    out = []
    for col in chosen:
        op: Op = draw(st.sampled_from(OPS))
        n = 2 if op == "in" else 1
        values = tuple(draw(value(p, KINDS[rel][col], actor)) for _ in range(n))
        out.append(Cond(col, op, values))
    return out


@st.composite
def read_cases(draw: st.DrawFn, p: Pools, rel: str) -> Case:
    actor = draw(actors())
    conds = draw(conditions(p, rel, actor))
    return Case(
        f"{rel} select",
        actor,
        lambda w: select_statement(w, rel, conds),
        lambda w, a: expect_select(w, a, rel, conds),
    )


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An argument left out (PostgREST leaves out what the request does not send), null, or a value."""
    return st.one_of(st.just(OMIT), st.none(), strategy)


OMIT = object()


@st.composite
def rpc_cases(draw: st.DrawFn, p: Pools, world: World, fn: str) -> Case:
    actor = draw(actors())
    v: Callable[[str], st.SearchStrategy[Any]] = lambda kind: value(p, kind, actor)  # noqa: E731
    args: dict[str, Any] = {}
    if fn == "message_feedback_summary":
        args = {"p_conversation_id": draw(opt(v("conversation"))), "p_tenant_id": draw(opt(v("tenant")))}
    elif fn == "monthly_usage_summary":
        days = st.sampled_from([world.today, today_minus(world, 40), "2001-01-01"])
        args = {"p_from": draw(opt(days)), "p_to": draw(opt(days)), "p_tenant_id": draw(opt(v("tenant")))}
    elif fn == "search_messages":
        args = {
            "p_query": draw(st.sampled_from(SEARCH_WORDS)),
            "p_tenant_id": draw(opt(v("tenant"))),
            "p_conversation_id": draw(opt(v("conversation"))),
            "p_limit": draw(st.one_of(st.just(OMIT), st.sampled_from([1, 3, 1000, 0]))),
            "p_member_id": draw(opt(v("member"))),
        }
    elif fn == "invite_member":
        args = {
            "p_tenant_id": draw(v("tenant")),
            "p_email": draw(v("email")),
            "p_role": draw(st.one_of(st.just(OMIT), st.sampled_from(["member", "admin", "owner"]))),
            "p_valid_for": draw(st.one_of(st.just(OMIT), st.sampled_from(sorted(VALIDITY)))),
        }
    elif fn == "accept_invitation":
        tokens = [
            st.sampled_from(sorted(world.tokens.values())),
            st.uuids().map(lambda u: u.hex),
            st.just(""),
        ]
        if p.tokens_for[actor]:
            tokens.insert(0, st.sampled_from(p.tokens_for[actor]))  # the actor's own invitations
        args = {"p_token": draw(st.one_of(tokens))}
    elif fn == "transfer_ownership":
        member = draw(v("member"))
        args = {"p_tenant_id": draw(tenant_near(p, member, actor)), "p_member_id": member}
    elif fn == "increment_usage":
        member = draw(v("member"))
        args = {
            "p_tenant_id": draw(tenant_near(p, member, actor)),
            "p_user_id": member,
            "p_prompt_tokens": draw(st.integers(0, 50)),
            "p_completion_tokens": draw(st.integers(0, 50)),
            "p_cost_usd": draw(st.sampled_from([0, 0.25])),
            "p_request_count": draw(st.integers(0, 3)),
            "p_usage_date": draw(st.one_of(st.just(OMIT), st.just(today_minus(world, 40)))),
        }
    elif fn == "increment_usage_batch":
        items = []
        for _ in range(draw(st.integers(1, 3))):
            member = draw(v("member"))
            item = {"tenant_id": draw(tenant_near(p, member, actor)), "user_id": member}
            item["prompt_tokens"] = draw(st.integers(0, 9))
            if draw(st.booleans()):
                item["usage_date"] = today_minus(world, 40)
            items.append(item)
        args = {"p_increments": items}
    elif fn == "archive_stale_conversations":
        args = {"older_than": draw(st.sampled_from(sorted(ARCHIVE)))}
    elif fn in ("open_message", "record_turn"):
        conv = draw(v("conversation"))
        args = {
            "p_tenant_id": draw(tenant_near(p, conv, actor)),
            "p_conversation_id": conv,
            "p_member_id": draw(opt(v("member"))),
        }
        if fn == "open_message":
            args["p_role"] = draw(st.sampled_from([OMIT, "assistant", "tool", "user"]))
            args["p_reserve_tokens"] = draw(st.sampled_from([OMIT, 0, 100, -1]))
            args["p_model"] = draw(st.sampled_from([OMIT, "gpt-test"]))
        else:
            args |= {"p_user_content": "q", "p_assistant_content": "a"}
            args["p_prompt_tokens"] = draw(st.sampled_from([OMIT, 0, 12, -1]))
            args["p_cost_usd"] = draw(st.sampled_from([OMIT, 0.25, 0.0000001]))
            args["p_idempotency_key"] = draw(st.sampled_from([OMIT, "request-1"]))
    elif fn in ("append_message_text", "close_message"):
        message = draw(st.one_of(value(p, "stream", actor), v("message")))
        args = {
            "p_tenant_id": draw(tenant_near(p, message, actor)),
            "p_message_id": message,
            "p_member_id": draw(opt(v("member"))),
        }
        if fn == "append_message_text":
            args["p_text"] = "more"
        else:
            args["p_status"] = draw(st.sampled_from([OMIT, "complete", "cancelled", "done"]))
            args["p_prompt_tokens"] = draw(st.sampled_from([OMIT, 5, -1]))
            args["p_cost_usd"] = draw(st.sampled_from([OMIT, 0.25, 0.0000001]))
            args["p_text"] = draw(st.sampled_from([OMIT, " rest"]))
    elif fn == "close_stale_streams":
        args = {"p_idle_for": draw(st.sampled_from([OMIT, *sorted(IDLE)]))}
    elif fn == "tenant_quota":
        args = {"p_tenant_id": draw(opt(v("tenant")))}
    args = {k: val for k, val in args.items() if val is not OMIT}
    return Case(
        f"rpc {fn}",
        actor,
        lambda w: rpc_statement(w, fn, args),
        lambda w, a: expect_rpc(w, a, fn, args),
        f"{args}",
    )


# ---------------------------------------------------------------------------------------------
# Running cases, pairing refusals with an allowed actor, and the both-sides tally
# ---------------------------------------------------------------------------------------------

# who else to try for the allowed side of a refusal: people before the service role
PAIRING_ORDER = (*(a for a in (*ATTACKERS, *HELPERS) if a != "service"), "service")


@dataclass
class Tally:
    seen: dict[str, Counter[str]] = field(default_factory=dict)
    cases: int = 0

    def add(self, kind: str, verdict: str) -> None:
        self.seen.setdefault(kind, Counter())[verdict] += 1

    def unproven(self, never_allowed: set[str]) -> dict[str, str]:
        missing = {}
        for kind, counts in sorted(self.seen.items()):
            sides = {"allowed", "denied"} - ({"allowed"} if kind in never_allowed else set())
            gone = [s for s in sides if not counts[s]]
            if gone:
                missing[kind] = f"never {' or '.join(gone)} (seen: {dict(counts)})"
            if kind in never_allowed and counts["allowed"]:
                missing[kind] = f"allowed although nobody may do it (seen: {dict(counts)})"
        return missing


# functions that are reads: refused means fewer rows than exist, allowed means some rows
READS = ("rpc message_feedback_summary", "rpc monthly_usage_summary", "rpc search_messages")


def reads(case: Case) -> bool:
    return case.kind.endswith(" select") or case.kind in READS


def check_case(conn: Conn, world: World, case: Case, tally: Tally) -> None:
    tally.cases += 1
    actor = world.actors[case.actor]
    stmt = case.stmt(world)
    expect = case.expect(world, actor)
    verdict = verify(conn, world, actor, stmt, expect)
    if reads(case) and expect.success is not None:
        verdict = _read_verdict(world, case, expect)
    tally.add(case.kind, verdict)
    if verdict != "denied":
        return
    for name in PAIRING_ORDER:
        other = world.actors[name]
        other_expect = case.expect(world, other)
        if not other_expect.required or other_expect.success is None:
            continue
        if reads(case) and not other_expect.success.rows:
            continue
        tally.cases += 1
        assert verify(conn, world, other, stmt, other_expect) == "allowed"
        tally.add(case.kind, "allowed")
        return


def _read_verdict(world: World, case: Case, expect: Expect) -> str:
    """A read is 'allowed' when the actor sees rows and 'denied' when rows it may not see exist."""
    assert expect.success is not None
    assert expect.success.rows is not None
    everyone = case.expect(world, world.actors["service"])
    assert everyone.success is not None
    assert everyone.success.rows is not None
    if len(everyone.success.rows) > len(expect.success.rows):
        return "denied"
    return "allowed" if expect.success.rows else "neutral"


def assert_proven(tally: Tally, kinds: set[str], never_allowed: set[str]) -> None:
    """Every kind of action was seen refused and (unless nobody may do it) allowed."""
    assert set(tally.seen) >= kinds, f"kinds never generated: {sorted(kinds - set(tally.seen))}"
    assert tally.unproven(never_allowed) == {}, f"after {tally.cases} statements; raise max_examples"


NEVER_ALLOWED_WRITES = {
    "public.usage_metrics insert",
    "public.usage_metrics merge",
    "public.usage_metrics ignore",
    "public.usage_metrics update",
    "public.usage_metrics delete",
}


@pytest.fixture(scope="module")
def pools(adv: tuple[Conn, World]) -> Pools:
    return pools_for(adv[1])


@pytest.mark.parametrize("rel", sorted(KINDS))
def test_generated_reads(adv: tuple[Conn, World], pools: Pools, rel: str) -> None:
    conn, world = adv
    tally = Tally()

    @generated(30)
    @given(case=read_cases(pools, rel))
    def read(case: Case) -> None:
        check_case(conn, world, case, tally)

    read()
    assert_proven(tally, {f"{rel} select"}, set())


@pytest.mark.parametrize("table", sorted(PUBLIC_TABLES))
def test_generated_writes(adv: tuple[Conn, World], pools: Pools, table: str) -> None:
    conn, world = adv
    tally = Tally()

    @generated(150)
    @given(case=write_cases(pools, table))
    def write(case: Case) -> None:
        check_case(conn, world, case, tally)

    write()
    assert_proven(tally, {f"{table} {op}" for op in WRITES}, NEVER_ALLOWED_WRITES)


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_generated_rpc(adv: tuple[Conn, World], pools: Pools, fn: str) -> None:
    conn, world = adv
    tally = Tally()

    @generated(50)
    @given(case=rpc_cases(pools, world, fn))
    def call(case: Case) -> None:
        check_case(conn, world, case, tally)

    call()
    assert_proven(tally, {f"rpc {fn}"}, set())


# ---------------------------------------------------------------------------------------------
# Pinned cases: the attacks that matter most, each with the verdict the matrix gives it, so a
# lax oracle cannot hide them (and each refusal sits next to the same action allowed)
# ---------------------------------------------------------------------------------------------


PINNED: list[Any] = []


def pin(
    name: str, actor: str, verdict: str, hole: str | None = None
) -> Callable[[Callable[[World], Case]], Callable[[World], Case]]:
    """Register a pinned case with the verdict the matrix gives it. A case the migration gets
    wrong is pinned with ``hole=`` (what the matrix says, what happens): xfail(strict=True), so it
    stays visible and fails the run once fixed (then drop ``hole=``)."""

    def register(make: Callable[[World], Case]) -> Callable[[World], Case]:
        marks = [pytest.mark.xfail(strict=True, reason=hole)] if hole else []
        PINNED.append(pytest.param(name, actor, verdict, make, id=name, marks=marks))
        return make

    return register


def read_case(actor: str, rel: str, *conds: tuple[str, str]) -> Callable[[World], Case]:
    def make(w: World) -> Case:
        cs = [Cond(c, "eq", (w.ids[v],)) for c, v in conds]
        return Case(
            f"{rel} select",
            actor,
            lambda w: select_statement(w, rel, cs),
            lambda w, a: expect_select(w, a, rel, cs),
        )

    return make


def insert_case(
    actor: str, table: str, row: Callable[[World], Row], shape: str = "insert"
) -> Callable[[World], Case]:
    def make(w: World) -> Case:
        r = row(w)
        conflict = CONFLICTS[table][0]
        return Case(
            f"{table} {shape}",
            actor,
            lambda w: insert_statement(w, table, [r], shape, conflict),
            lambda w, a: expect_insert(w, a, table, [r], shape, conflict),
        )

    return make


def update_case(actor: str, table: str, values: Row, col: str, target: str) -> Callable[[World], Case]:
    """An update of the row ``target`` (a world label); values naming a world label become its id."""

    def make(w: World) -> Case:
        cs = [Cond(col, "eq", (w.ids[target],))]
        values_ = {c: w.ids.get(v, v) if isinstance(v, str) else v for c, v in values.items()}
        return Case(
            f"{table} update",
            actor,
            lambda w: update_statement(w, table, values_, cs),
            lambda w, a: expect_update(w, a, table, values_, cs),
        )

    return make


def delete_case(actor: str, table: str, col: str, target: str) -> Callable[[World], Case]:
    def make(w: World) -> Case:
        cs = [Cond(col, "eq", (w.ids[target],))]
        return Case(
            f"{table} delete",
            actor,
            lambda w: delete_statement(w, table, cs),
            lambda w, a: expect_delete(w, a, table, cs),
        )

    return make


def rpc_case(actor: str, fn: str, args: Callable[[World], dict[str, Any]]) -> Callable[[World], Case]:
    def make(w: World) -> Case:
        a = args(w)
        return Case(
            f"rpc {fn}", actor, lambda w: rpc_statement(w, fn, a), lambda w, x: expect_rpc(w, x, fn, a)
        )

    return make


def _pins() -> None:
    msg = "public.messages"
    conv = "public.conversations"
    users = "public.users"
    # the old hole: a member reading a colleague's thread
    pin("member reads a colleague's conversation", "m1", "denied")(read_case("m1", conv, ("id", "c_m2")))
    pin("member reads a colleague's messages", "m1", "denied")(
        read_case("m1", msg, ("conversation_id", "c_m2"))
    )
    pin("admin reads a member's messages", "admin", "allowed")(
        read_case("admin", msg, ("conversation_id", "c_m2"))
    )
    pin("cross-admin reads tenant A's threads", "cross_admin", "denied")(
        read_case("cross_admin", conv, ("tenant_id", "A"))
    )
    pin("cross-admin reads tenant E's threads", "cross_admin", "allowed")(
        read_case("cross_admin", conv, ("tenant_id", "E"))
    )
    pin("member lists invitations", "m1", "denied")(read_case("m1", "public.invitations", ("tenant_id", "A")))
    pin("admin lists invitations", "admin", "allowed")(
        read_case("admin", "public.invitations", ("tenant_id", "A"))
    )
    pin("inactive member reads own tenant", "inactive", "denied")(
        read_case("inactive", "public.tenants", ("id", "A"))
    )
    pin("owner of inactive tenant reads it", "inactive_tenant", "denied")(
        read_case("inactive_tenant", "public.tenants", ("id", "C"))
    )
    # pairs: a member id from one tenant with another tenant's id proves nothing
    pin("member of A and B starts a thread pairing A with their B membership", "both", "denied")(
        insert_case("both", conv, lambda w: {"tenant_id": w.ids["A"], "user_id": w.ids["both@B"]})
    )
    pin("member of A and B starts a thread in A as themself", "both", "allowed")(
        insert_case("both", conv, lambda w: {"tenant_id": w.ids["A"], "user_id": w.ids["both@A"]})
    )
    pin("cross-admin starts a thread in A as their E membership", "cross_admin", "denied")(
        insert_case(
            "cross_admin", conv, lambda w: {"tenant_id": w.ids["A"], "user_id": w.ids["cross_admin@E"]}
        )
    )
    pin("admin starts a thread for a member", "admin", "denied")(
        insert_case("admin", conv, lambda w: {"tenant_id": w.ids["A"], "user_id": w.ids["m1@A"]})
    )
    # messages: only user turns, only the text, only in own threads
    turn = {"role": "user", "content": "hello refund"}
    pin("member adds a user turn to own thread", "m1", "allowed")(
        insert_case("m1", msg, lambda w: {"tenant_id": w.ids["A"], "conversation_id": w.ids["c_m1"], **turn})
    )
    pin("member adds an assistant turn", "m1", "denied")(
        insert_case(
            "m1",
            msg,
            lambda w: {
                "tenant_id": w.ids["A"],
                "conversation_id": w.ids["c_m1"],
                **turn,
                "role": "assistant",
            },
        )
    )
    pin("member sets the model of a turn", "m1", "denied")(
        insert_case(
            "m1",
            msg,
            lambda w: {"tenant_id": w.ids["A"], "conversation_id": w.ids["c_m1"], **turn, "model": "x"},
        )
    )
    pin("admin writes into a member's thread", "admin", "denied")(
        insert_case(
            "admin", msg, lambda w: {"tenant_id": w.ids["A"], "conversation_id": w.ids["c_m1"], **turn}
        )
    )
    pin("member archives own thread", "m1", "allowed")(
        update_case("m1", conv, {"is_archived": True}, "id", "c_m1")
    )
    pin("admin archives a member's thread", "admin", "denied")(
        update_case("admin", conv, {"is_archived": True}, "id", "c_m1")
    )
    pin("owner retitles a member's thread", "owner", "denied")(
        update_case("owner", conv, {"title": "x"}, "id", "c_m2")
    )
    pin("member edits a message", "m1", "denied")(
        update_case("m1", msg, {"content": "x"}, "id", "c_m1:question")
    )
    pin("service edits a message's metadata", "service", "allowed")(
        update_case("service", msg, {"metadata": {"k": 1}}, "id", "c_m1:question")
    )
    pin("service edits a complete message's text", "service", "denied")(
        update_case("service", msg, {"content": "x"}, "id", "c_m1:question")
    )
    pin("service edits a streaming message's text", "service", "allowed")(
        update_case("service", msg, {"content": "x"}, "id", "c_m1:stream")
    )
    # feedback on what one can read
    pin("member rates a colleague's answer", "m2", "denied")(
        insert_case(
            "m2",
            "public.feedback",
            lambda w: {
                "tenant_id": w.ids["A"],
                "message_id": w.ids["c_m1:question"],
                "user_id": w.ids["m2@A"],
                "rating": 1,
            },
        )
    )
    pin("admin rates a member's answer", "admin", "allowed")(
        insert_case(
            "admin",
            "public.feedback",
            lambda w: {
                "tenant_id": w.ids["A"],
                "message_id": w.ids["c_m1:question"],
                "user_id": w.ids["admin@A"],
                "rating": 1,
            },
        )
    )
    # members and roles
    pin("admin adds a member with an account", "admin", "denied")(
        insert_case(
            "admin",
            users,
            lambda w: {"tenant_id": w.ids["A"], "email": "x@example.test", "auth_id": w.ids["auth:nomember"]},
        )
    )
    pin("admin adds a member with a chosen id", "admin", "denied")(
        insert_case(
            "admin",
            users,
            lambda w: {"tenant_id": w.ids["A"], "email": "x@example.test", "id": w.ids["m2@A"]},
        )
    )
    pin("admin adds a member", "admin", "allowed")(
        insert_case(
            "admin", users, lambda w: {"tenant_id": w.ids["A"], "email": "x@example.test", "role": "admin"}
        )
    )
    pin("admin adds an owner", "admin", "denied")(
        insert_case(
            "admin", users, lambda w: {"tenant_id": w.ids["A"], "email": "x@example.test", "role": "owner"}
        )
    )
    pin("cross-admin adds a member to A", "cross_admin", "denied")(
        insert_case("cross_admin", users, lambda w: {"tenant_id": w.ids["A"], "email": "x@example.test"})
    )
    pin("admin promotes a member to owner", "admin", "denied")(
        update_case("admin", users, {"role": "owner"}, "id", "m1@A")
    )
    pin("owner promotes a member to owner", "owner", "allowed")(
        update_case("owner", users, {"role": "owner"}, "id", "m1@A")
    )
    pin("admin deactivates the owner", "admin", "denied")(
        update_case("admin", users, {"is_active": False}, "id", "owner@A")
    )
    pin("admin deactivates a member", "admin", "allowed")(
        update_case("admin", users, {"is_active": False}, "id", "m2@A")
    )
    pin("member promotes themself", "m1", "denied")(update_case("m1", users, {"role": "admin"}, "id", "m1@A"))
    pin("member renames themself", "m1", "allowed")(
        update_case("m1", users, {"display_name": "Ada"}, "id", "m1@A")
    )
    pin("admin renames a member", "admin", "denied")(
        update_case("admin", users, {"display_name": "Ada"}, "id", "m1@A")
    )
    pin("member renames a colleague", "m1", "denied")(
        update_case("m1", users, {"display_name": "Ada"}, "id", "m2@A")
    )
    pin("member changes own email", "m1", "denied")(
        update_case("m1", users, {"email": "m1x@example.test"}, "id", "m1@A")
    )
    pin("sole owner steps down", "owner", "denied")(
        update_case("owner", users, {"role": "admin"}, "id", "owner@A")
    )
    pin("service removes the sole owner", "service", "denied")(delete_case("service", users, "id", "owner@A"))
    pin("service removes the only owner who can sign in", "service", "denied")(
        delete_case("service", users, "id", "e_owner@E")
    )
    pin("service removes a member", "service", "allowed")(delete_case("service", users, "id", "m2@A"))
    pin("admin removes a member", "admin", "denied")(delete_case("admin", users, "id", "m2@A"))
    # tenants
    pin("owner renames the tenant", "owner", "allowed")(
        update_case("owner", "public.tenants", {"name": "Acme 2"}, "id", "A")
    )
    pin("owner changes the plan", "owner", "denied")(
        update_case("owner", "public.tenants", {"plan": "enterprise"}, "id", "A")
    )
    pin("owner of an inactive tenant renames it", "inactive_tenant", "denied")(
        update_case("inactive_tenant", "public.tenants", {"name": "Back"}, "id", "C")
    )
    # usage
    pin("service inserts usage directly", "service", "denied")(
        insert_case(
            "service",
            "public.usage_metrics",
            lambda w: {"tenant_id": w.ids["A"], "user_id": w.ids["m1@A"], "usage_date": "2001-01-01"},
        )
    )
    pin("service records usage", "service", "allowed")(
        rpc_case(
            "service",
            "increment_usage",
            lambda w: {"p_tenant_id": w.ids["A"], "p_user_id": w.ids["m1@A"], "p_prompt_tokens": 3},
        )
    )
    pin("member records usage", "m1", "denied")(
        rpc_case(
            "m1",
            "increment_usage",
            lambda w: {"p_tenant_id": w.ids["A"], "p_user_id": w.ids["m1@A"], "p_prompt_tokens": 3},
        )
    )
    # invitations and ownership
    pin("cross-admin invites into A", "cross_admin", "denied")(
        rpc_case(
            "cross_admin", "invite_member", lambda w: {"p_tenant_id": w.ids["A"], "p_email": "x@example.test"}
        )
    )
    pin("cross-admin invites into E", "cross_admin", "allowed")(
        rpc_case(
            "cross_admin", "invite_member", lambda w: {"p_tenant_id": w.ids["E"], "p_email": "x@example.test"}
        )
    )
    pin("admin invites an owner", "admin", "denied")(
        rpc_case(
            "admin",
            "invite_member",
            lambda w: {"p_tenant_id": w.ids["A"], "p_email": "x@example.test", "p_role": "owner"},
        )
    )
    pin("owner invites an owner", "owner", "allowed")(
        rpc_case(
            "owner",
            "invite_member",
            lambda w: {"p_tenant_id": w.ids["A"], "p_email": "x@example.test", "p_role": "owner"},
        )
    )
    pin("member accepts another's invitation", "m1", "denied")(
        rpc_case("m1", "accept_invitation", lambda w: {"p_token": w.tokens["inv_A_nomember"]})
    )
    pin("invited account accepts", "nomember", "allowed")(
        rpc_case("nomember", "accept_invitation", lambda w: {"p_token": w.tokens["inv_A_nomember"]})
    )
    pin("invited account joins its pending member row", "nomember", "allowed")(
        rpc_case("nomember", "accept_invitation", lambda w: {"p_token": w.tokens["inv_E_nomember"]})
    )
    pin("a member invitation claims a pending owner row", "m2", "denied")(
        rpc_case("m2", "accept_invitation", lambda w: {"p_token": w.tokens["inv_E_m2"]})
    )
    pin("invited account accepts into an inactive tenant", "nomember", "denied")(
        rpc_case("nomember", "accept_invitation", lambda w: {"p_token": w.tokens["inv_C_nomember"]})
    )
    pin("invited account accepts an expired invitation", "b_member", "denied")(
        rpc_case("b_member", "accept_invitation", lambda w: {"p_token": w.tokens["inv_A_expired"]})
    )
    pin("used invitation accepted again", "b_member", "denied")(
        rpc_case("b_member", "accept_invitation", lambda w: {"p_token": w.tokens["inv_B_b_member"]})
    )
    pin("admin revokes an invitation", "admin", "allowed")(
        delete_case("admin", "public.invitations", "id", "inv_A_future")
    )
    pin("cross-admin revokes A's invitation", "cross_admin", "denied")(
        delete_case("cross_admin", "public.invitations", "id", "inv_A_future")
    )
    pin("admin transfers ownership", "admin", "denied")(
        rpc_case(
            "admin",
            "transfer_ownership",
            lambda w: {"p_tenant_id": w.ids["A"], "p_member_id": w.ids["admin@A"]},
        )
    )
    pin("owner transfers ownership", "owner", "allowed")(
        rpc_case(
            "owner", "transfer_ownership", lambda w: {"p_tenant_id": w.ids["A"], "p_member_id": w.ids["m1@A"]}
        )
    )
    pin("service transfers ownership", "service", "denied")(
        rpc_case(
            "service",
            "transfer_ownership",
            lambda w: {"p_tenant_id": w.ids["A"], "p_member_id": w.ids["m1@A"]},
        )
    )
    # summaries never cross the tenant line, whatever is passed
    pin("member asks for B's feedback summary", "m1", "allowed")(
        rpc_case("m1", "message_feedback_summary", lambda w: {"p_tenant_id": w.ids["B"]})
    )
    pin("member asks for a colleague's conversation summary", "m1", "allowed")(
        rpc_case("m1", "message_feedback_summary", lambda w: {"p_conversation_id": w.ids["c_m2"]})
    )
    pin("member asks for tenant A's monthly usage", "m1", "allowed")(
        rpc_case("m1", "monthly_usage_summary", lambda w: {"p_tenant_id": w.ids["A"]})
    )
    pin("cross-admin asks for monthly usage", "cross_admin", "allowed")(
        rpc_case("cross_admin", "monthly_usage_summary", lambda w: {})
    )
    pin("member searches", "m1", "allowed")(
        rpc_case("m1", "search_messages", lambda w: {"p_query": "refund"})
    )
    pin("member of A and B lists memberships", "both", "allowed")(
        rpc_case("both", "my_memberships", lambda w: {})
    )
    # DESIGN: a member id is globally unique, whoever writes
    pin("service gives a member another tenant's member id", "service", "denied")(
        update_case("service", users, {"id": "m2@A"}, "id", "pending_E")
    )


_pins()


@pytest.mark.parametrize(("name", "actor", "verdict", "make"), PINNED)
def test_pinned(
    adv: tuple[Conn, World], name: str, actor: str, verdict: str, make: Callable[[World], Case]
) -> None:
    conn, world = adv
    case = make(world)
    expect = case.expect(world, world.actors[actor])
    got = verify(conn, world, world.actors[actor], case.stmt(world), expect)
    if case.kind.endswith(" select"):
        got = _read_verdict(world, case, expect)
    assert got == verdict, f"{name}: the oracle or the database disagrees with the matrix ({expect.why})"


# ---------------------------------------------------------------------------------------------
# Every pairing of a tenant with a member id, for those with more than one membership or right
# ---------------------------------------------------------------------------------------------


def insert_one(actor: str, table: str, row: Row) -> Case:
    conflict = ("tenant_id", "id")
    return Case(
        f"{table} insert",
        actor,
        lambda w: insert_statement(w, table, [row], "insert", conflict),
        lambda w, a: expect_insert(w, a, table, [row], "insert", conflict),
    )


@pytest.mark.parametrize("actor_name", ["both", "cross_admin", "admin", "m1"])
def test_every_tenant_and_member_pairing(adv: tuple[Conn, World], pools: Pools, actor_name: str) -> None:
    """A member id proves nothing outside its tenant: each tenant with each of the actor's own
    member ids (mixed across its memberships too), a colleague's in every tenant and a random one."""
    conn, world = adv
    tally = Tally()
    messages = list(world.base["public.messages"].values())
    members = [
        *pools.own[actor_name]["member"],
        *(ms[0] for ms in pools.members_in.values()),
        str(uuid.uuid4()),
    ]
    for tenant in pools.all["tenant"]:
        for member in dict.fromkeys(members):
            conversation: Row = {"tenant_id": tenant, "user_id": member, "title": "pair"}
            check_case(conn, world, insert_one(actor_name, "public.conversations", conversation), tally)
            in_tenant = [m for m in messages if m["tenant_id"] == tenant]
            theirs = [m for m in in_tenant if m["user_id"] == member and m["role"] == "user"]
            for message in (theirs or in_tenant)[:1]:
                rating: Row = {
                    "tenant_id": tenant,
                    "message_id": message["id"],
                    "user_id": member,
                    "rating": 1,
                }
                check_case(conn, world, insert_one(actor_name, "public.feedback", rating), tally)
    assert_proven(tally, {"public.conversations insert", "public.feedback insert"}, set())


# ---------------------------------------------------------------------------------------------
# A missing conversation and one that is not yours look the same
# ---------------------------------------------------------------------------------------------

MEMBERS = ("m1", "m2", "admin", "owner", "cross_admin", "both", "b_member")


def test_missing_and_foreign_conversations_look_alike(adv: tuple[Conn, World]) -> None:
    conn, world = adv
    for name in MEMBERS:
        actor = world.actors[name]
        mine = {
            c["id"]
            for c in world.base["public.conversations"].values()
            if c["user_id"] in _members_of(world, actor)
        }
        targets = [
            ("missing", str(uuid.uuid4())),
            *(
                (world.label(c["id"]), c["id"])
                for c in world.base["public.conversations"].values()
                if c["id"] not in mine
            ),
        ]
        outcomes: dict[str, set[str]] = {}
        for tenant in world.ids["A"], world.ids["B"], world.ids["E"]:
            for label, conv in targets:
                for shape in ("insert", "ignore"):
                    row = {"tenant_id": tenant, "conversation_id": conv, "role": "user", "content": "hi"}
                    stmt = insert_statement(world, "public.messages", [row], shape, ("tenant_id", "id"))
                    expect = expect_insert(world, actor, "public.messages", [row], shape, ("tenant_id", "id"))
                    assert expect.denied, f"{name} writing into {label}"
                    with conn.transaction(force_rollback=True):
                        act_as(conn, actor.identity())
                        try:
                            with conn.transaction():
                                conn.execute(stmt.query, stmt.params)
                            state = "succeeded"
                        except psycopg.Error as e:
                            state = str(e.sqlstate)
                    outcomes.setdefault(state, set()).add(f"{label} in {world.label(tenant)} ({shape})")
        assert set(outcomes) == {"42501"}, f"{name}: outcomes differ by target: {outcomes}"


def _members_of(world: World, actor: Actor) -> set[str]:
    return {
        u["id"]
        for u in world.base["public.users"].values()
        if actor.auth_id and u["auth_id"] == actor.auth_id
    }


# ---------------------------------------------------------------------------------------------
# An invitation, from invite to membership, as the accounts themselves run it
# ---------------------------------------------------------------------------------------------


def test_invitation_lifecycle(adv: tuple[Conn, World]) -> None:
    conn, world = adv
    admin, outsider = world.actors["admin"], world.actors["nomember"]
    fresh = Actor("fresh", "authenticated", str(uuid.uuid4()), "Fresh.Person@example.test")

    def as_(actor: Actor, query: str, *params: Any) -> tuple[str | None, list[tuple[Any, ...]]]:
        conn.execute("reset role")
        act_as(conn, actor.identity())
        try:
            with conn.transaction():
                rows = conn.execute(query.encode(), params).fetchall()
            return None, rows
        except psycopg.Error as e:
            return e.sqlstate, []

    accept = "select (r).tenant_id, (r).role from (select public.accept_invitation(p_token => %s::text) r) x"
    with conn.transaction(force_rollback=True):
        conn.execute(
            "insert into auth.users (id, email, role, aud) values (%s, %s, 'authenticated', 'authenticated')",
            (fresh.auth_id, fresh.email),
        )
        err, rows = as_(
            admin,
            "select token from public.invite_member(p_tenant_id => %s::uuid, p_email => 'fresh.person@example.test',"
            " p_role => 'admin')",
            world.ids["A"],
        )
        assert err is None
        token = rows[0][0]
        assert as_(fresh, "select count(*) from public.conversations") == (None, [(0,)])
        assert as_(outsider, accept, token)[0] == "42501"  # a token for someone else's address
        assert as_(fresh, accept, "not-the-token")[0] == "P0002"
        err, rows = as_(fresh, accept, token)
        assert (err, rows) == (None, [(uuid.UUID(world.ids["A"]), "admin")])
        assert as_(fresh, accept, token)[0] in ("P0002", "23505")  # single use
        err, rows = as_(fresh, "select tenant_id from public.my_memberships()")
        assert rows == [(uuid.UUID(world.ids["A"]),)]
        err, rows = as_(
            fresh, "select count(*) from public.invitations where tenant_id = %s::uuid", world.ids["A"]
        )
        assert err is None
        assert rows[0][0] > 0  # an admin now
        # a revoked invitation no longer works
        err, rows = as_(
            admin,
            "select token, invitation_id from public.invite_member(p_tenant_id => %s::uuid, p_email => %s::text)",
            world.ids["A"],
            outsider.email,
        )
        assert err is None
        revoked_token, invitation = rows[0]
        assert as_(
            admin, "delete from public.invitations where id = %s::uuid returning 1", str(invitation)
        ) == (
            None,
            [(1,)],
        )
        assert as_(outsider, accept, revoked_token)[0] == "P0002"
        # inviting the address again replaces the pending invitation: the first token stops working
        err, rows = as_(
            admin,
            "select token from public.invite_member(p_tenant_id => %s::uuid, p_email => %s::text)",
            world.ids["E"],
            "again@example.test",
        )
        assert err == "42501"  # admin of A only
        owner = world.actors["e_owner"]
        err, first = as_(
            owner,
            "select token from public.invite_member(p_tenant_id => %s::uuid, p_email => %s::text)",
            world.ids["E"],
            outsider.email,
        )
        err2, second = as_(
            owner,
            "select token from public.invite_member(p_tenant_id => %s::uuid, p_email => %s::text)",
            world.ids["E"],
            outsider.email,
        )
        assert err is None
        assert err2 is None
        assert as_(outsider, accept, first[0][0])[0] == "P0002"
        assert as_(outsider, accept, second[0][0])[0] is None
