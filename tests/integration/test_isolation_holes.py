"""The holes 20261122210000_member_isolation closes, each shown closed on the real schema.

Every case acts exactly as PostgREST does (``set_config('role')`` and
``request.jwt.claims`` in a transaction, then rolled back) and pairs each refusal with the
same statement succeeding for an actor who may do it, so a test can only pass while the
rule it names holds. Each test here fails on the schema as it was before that migration.

The module works on a database of its own: the access-matrix world (tenant A: owner,
admin, m1, m2, an inactive member; B: outsider; C, inactive: one member) plus tenant E,
an attacker with two auth accounts (``atk_admin``, admin of E; ``atk_member``, member of
A), ``dual`` (member of B, admin of E, and memberships that must not count), and two
accounts with no membership (``invitee``, ``stranger``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, LiteralString, TypeAlias
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from supatenant.auth import Identity
from supatenant.backends.postgres import ACT_AS, act_as
from tests.integration.world import World, build_world, key

Conn = psycopg.Connection[Any]
MIB = 2**20


@dataclass(frozen=True)
class Forged:
    """A request whose database role and JWT claims are set independently of each other."""

    role: str
    claims: dict[str, str]


Who: TypeAlias = Identity | Forged


@dataclass(frozen=True)
class Iso:
    url: str
    world: World
    ids: dict[str, UUID]  # the world's ids and this module's
    auth: dict[str, UUID]  # actor name -> auth user id

    def who(self, name: str) -> Identity:
        if name == "anon":
            return Identity.anon()
        if name == "service":
            return Identity.service()
        return Identity.user(self.auth[name])

    def params(self, **extra: Any) -> dict[str, Any]:
        return {**self.ids, **extra}


def _add_extras(conn: Conn, world: World) -> tuple[dict[str, UUID], dict[str, UUID]]:
    """Commit this module's tenant, accounts, memberships and feedback; their ids and auth ids."""
    ids = dict(world.ids)
    auth = {name: a.auth_id for name, a in world.actors.items() if a.auth_id is not None}
    ids["tenant_E"] = key("iso:tenant:E")
    conn.execute(
        "insert into public.tenants (id, name, slug) values (%s, 'Tenant E', 'iso-tenant-e')",
        (ids["tenant_E"],),
    )
    for name in ("atk_admin", "atk_member", "dual", "invitee", "invitee2", "stranger"):
        auth[name] = key(f"iso:auth:{name}")
        conn.execute(
            "insert into auth.users (id, email, role, aud) values (%s, %s, 'authenticated', 'authenticated')",
            (auth[name], f"{name}@example.test"),
        )
    # (member key, actor, tenant, role, active)
    for member, actor, tenant, role, active in (
        ("atk_admin", "atk_admin", "E", "admin", True),
        ("atk_member", "atk_member", "A", "member", True),
        ("dual_B", "dual", "B", "member", True),
        ("dual_E", "dual", "E", "admin", True),
        ("dual_C", "dual", "C", "member", True),  # C is an inactive tenant
        ("dual_A", "dual", "A", "member", False),  # an inactive membership
    ):
        ids[member] = key(f"iso:member:{member}")
        conn.execute(
            "insert into public.users (id, tenant_id, auth_id, email, role, is_active)"
            " values (%s, %s, %s, %s, %s, %s)",
            (ids[member], ids[f"tenant_{tenant}"], auth[actor], f"{actor}@example.test", role, active),
        )
    # feedback by others than m1, so the summaries have rows m1 must not see
    for name, message, member, tenant, rating in (
        ("f2", "a2", "m2", "A", 1),
        ("fB", "aB", "outsider", "B", -1),
    ):
        ids[name] = key(f"iso:feedback:{name}")
        conn.execute(
            "insert into public.feedback (id, tenant_id, message_id, user_id, rating) values (%s, %s, %s, %s, %s)",
            (ids[name], ids[f"tenant_{tenant}"], ids[message], ids[member], rating),
        )
    conn.execute("select public.refresh_summaries()")
    conn.commit()
    return ids, auth


@pytest.fixture(scope="module")
def iso(migrated_database: Callable[[], str]) -> Iso:
    url = migrated_database()
    with psycopg.connect(url) as conn:
        world = build_world(conn)
        ids, auth = _add_extras(conn, world)
    return Iso(url, world, ids, auth)


@pytest.fixture
def tx(iso: Iso) -> Iterator[Conn]:
    """A connection inside a transaction that is always rolled back."""
    with psycopg.connect(iso.url) as conn, conn.transaction(force_rollback=True):
        yield conn


def act(conn: Conn, who: Who) -> None:
    if isinstance(who, Identity):
        act_as(conn, who)
    else:  # the same statement, with claims of our own
        conn.execute(ACT_AS, (who.role, json.dumps(who.claims)))


def attempt(
    conn: Conn, who: Who, statement: LiteralString, params: dict[str, Any] | None = None
) -> tuple[list[Any], psycopg.Error | None]:
    """Run one statement as ``who`` in a savepoint: its rows (its effects stay in the
    enclosing transaction), or the error that refused it."""
    try:
        with conn.transaction():
            act(conn, who)
            cur = conn.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
            conn.execute("reset role")  # what follows in the test runs as the test's own role
            return rows, None
    except psycopg.Error as e:
        return [], e


def ok(conn: Conn, who: Who, statement: LiteralString, params: dict[str, Any] | None = None) -> list[Any]:
    rows, error = attempt(conn, who, statement, params)
    assert error is None, f"{who} was refused ({error.sqlstate}: {error}): {statement}"
    return rows


def refused(
    conn: Conn,
    who: Who,
    statement: LiteralString,
    params: dict[str, Any] | None = None,
    sqlstate: str = "42501",
) -> None:
    rows, error = attempt(conn, who, statement, params)
    assert error is not None, f"{who} was not refused (rows {rows}): {statement}"
    assert error.sqlstate == sqlstate, f"{who}: expected {sqlstate}, got {error.sqlstate}: {error}"


def nothing(conn: Conn, who: Who, statement: LiteralString, params: dict[str, Any] | None = None) -> None:
    """Refused outright, or allowed to run without seeing or touching a row."""
    rows, error = attempt(conn, who, statement, params)
    assert error is None or error.sqlstate == "42501", f"{who}: {error}"
    assert rows == [], f"{who} reached rows {rows}: {statement}"


def ids_of(rows: list[Any]) -> set[UUID]:
    return {r[0] for r in rows}


def waits_for_a_lock(watcher: Conn, pid: int, thread: threading.Thread) -> bool:
    """Whether backend ``pid`` comes to wait on a lock before ``thread`` (its only user) ends.

    Polls until one or the other happens; how long that takes decides nothing."""
    deadline = time.monotonic() + 60
    while thread.is_alive():
        waiting = watcher.execute(
            "select exists (select 1 from pg_locks where pid = %s and not granted)", (pid,)
        ).fetchone()
        if waiting and waiting[0]:
            return True
        assert time.monotonic() < deadline, f"backend {pid} neither waited nor finished"
        time.sleep(0.01)
    return False


# (1) member takeover ----------------------------------------------------------------------

# what the attacker would do as the victim (m1): read and write m1's conversation c1, its
# messages, m1's feedback f1, usage and summaries
VICTIM_READS: list[LiteralString] = [
    "select id from conversations where id = %(c1)s",
    "select id from messages where conversation_id = %(c1)s",
    "select id from feedback where id = %(f1)s",
    "select user_id from usage_metrics where tenant_id = %(tenant_A)s and user_id = %(m1)s",
    "select user_id from current_day_usage where tenant_id = %(tenant_A)s and user_id = %(m1)s",
    "select message_id from message_feedback_summary(%(c1)s)",
    "select user_id from monthly_usage_summary() where tenant_id = %(tenant_A)s and user_id = %(m1)s",
]
VICTIM_WRITES: list[LiteralString] = [
    "update conversations set title = 'taken' where id = %(c1)s returning id",
    "insert into conversations (tenant_id, user_id, title) values (%(tenant_A)s, %(m1)s, 'as m1') returning id",
    "insert into messages (tenant_id, conversation_id, role, content)"
    " values (%(tenant_A)s, %(c1)s, 'user', 'as m1') returning id",
    "insert into feedback (tenant_id, message_id, user_id, rating) values (%(tenant_A)s, %(a1b)s, %(m1)s, -1) returning id",
    "update feedback set rating = -1 where id = %(f1)s returning id",
    "delete from feedback where id = %(f1)s returning id",
]


def test_an_admin_cannot_mint_a_membership_with_another_members_id(iso: Iso, tx: Conn) -> None:
    atk_admin, atk_member, m1 = iso.who("atk_admin"), iso.who("atk_member"), iso.who("m1")
    p = iso.params(atk_member_auth=iso.auth["atk_member"])
    # as admin of E: a row of E with the victim's member id, linked to the second account
    refused(
        tx,
        atk_admin,
        "insert into users (id, tenant_id, auth_id, email) values (%(m1)s, %(tenant_E)s, %(atk_member_auth)s, 'x@example.test')",
        p,
    )
    refused(
        tx,
        atk_admin,
        "insert into users (id, tenant_id, email) values (%(m1)s, %(tenant_E)s, 'x@example.test')",
        p,
    )
    refused(
        tx,
        atk_admin,
        "insert into users (tenant_id, auth_id, email) values (%(tenant_E)s, %(atk_member_auth)s, 'x@example.test')",
        p,
    )
    # adding a member without choosing id or account works, and the id is generated
    added = ok(
        tx,
        atk_admin,
        "insert into users (tenant_id, email) values (%(tenant_E)s, 'x@example.test') returning id, auth_id",
        p,
    )
    assert len(added) == 1
    assert added[0][0] != iso.ids["m1"]
    assert added[0][1] is None
    # the service role may choose ids, but not one another tenant's member already has
    refused(
        tx,
        Identity.service(),
        "insert into users (id, tenant_id, email) values (%(m1)s, %(tenant_E)s, 'y@example.test')",
        p,
        "23505",
    )
    ok(
        tx,
        Identity.service(),
        "insert into users (id, tenant_id, email) values (gen_random_uuid(), %(tenant_E)s, 'y@example.test')",
        p,
    )

    # the second account sees and touches nothing of the victim; the victim does all of it
    for statement in VICTIM_READS:
        assert ok(tx, m1, statement, p), statement
        nothing(tx, atk_member, statement, p)
    for statement in VICTIM_WRITES:
        nothing(tx, atk_member, statement, p)
        assert ok(tx, m1, statement, p), statement


def test_a_forged_membership_already_stored_gives_nothing_of_the_victim(iso: Iso, tx: Conn) -> None:
    # such a row may exist from before the fix: written here around every API check (triggers
    # off), it must still prove nothing, because every check pairs tenant and member
    tx.execute("set local session_replication_role = replica")
    tx.execute(
        "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, 'forged@example.test', 'admin')",
        (iso.ids["m1"], iso.ids["tenant_E"], iso.auth["atk_member"]),
    )
    tx.execute("set local session_replication_role = origin")
    p = iso.params()
    atk_member, m1 = iso.who("atk_member"), iso.who("m1")
    for statement in VICTIM_READS:
        assert ok(tx, m1, statement, p), statement
        nothing(tx, atk_member, statement, p)
    for statement in VICTIM_WRITES:
        nothing(tx, atk_member, statement, p)
        assert ok(tx, m1, statement, p), statement
    # the forged row does count in tenant E, where it was written
    assert ids_of(ok(tx, atk_member, "select id from users where tenant_id = %(tenant_E)s", p)) >= {
        iso.ids["m1"]
    }


# (2) accounts join only through invitations ------------------------------------------------


def test_an_admin_cannot_link_an_auth_account_to_a_member(iso: Iso, tx: Conn) -> None:
    p = iso.params(invitee_auth=iso.auth["invitee"])
    admin, service = iso.who("admin"), Identity.service()
    insert: LiteralString = "insert into users (tenant_id, email, auth_id) values (%(tenant_A)s, 'invitee@example.test', %(invitee_auth)s) returning id"
    refused(tx, admin, insert, p)
    refused(tx, admin, "update users set auth_id = %(invitee_auth)s where id = %(m2)s returning id", p)
    assert ok(tx, service, insert, p)


def _invite(conn: Conn, who: Who, tenant: UUID, email: str, role: str = "member") -> tuple[UUID, str]:
    rows = ok(
        conn,
        who,
        "select invitation_id, token from invite_member(%(t)s, %(e)s, %(r)s)",
        {"t": tenant, "e": email, "r": role},
    )
    assert len(rows) == 1
    assert len(rows[0][1]) >= 32
    return rows[0][0], rows[0][1]


def test_an_invitation_is_accepted_once_by_the_invited_account(iso: Iso, tx: Conn) -> None:
    invitee, stranger = iso.who("invitee"), iso.who("stranger")
    _, token = _invite(tx, iso.who("admin"), iso.ids["tenant_A"], "Invitee@Example.test")
    accept: LiteralString = "select tenant_id, auth_id, role, is_active, id from accept_invitation(%(token)s)"
    p = {"token": token}
    # nobody else can use it: not another account, not anon, not the service role
    refused(tx, stranger, accept, p)
    refused(tx, Identity.anon(), accept, p)
    refused(tx, Identity.service(), accept, p)
    assert ok(tx, invitee, "select tenant_id from my_memberships()") == []
    [joined] = ok(tx, invitee, accept, p)
    assert joined[:4] == (iso.ids["tenant_A"], iso.auth["invitee"], "member", True)
    assert ok(tx, invitee, "select tenant_id, member_id from my_memberships()") == [
        (iso.ids["tenant_A"], joined[4])
    ]
    assert ok(tx, invitee, "select id from tenants") == [(iso.ids["tenant_A"],)]
    # single use
    refused(tx, invitee, accept, p, "P0002")
    refused(tx, stranger, accept, p, "P0002")
    refused(tx, invitee, accept, {"token": token + "0"}, "P0002")


def test_an_invitation_expires_and_can_be_revoked(iso: Iso, tx: Conn) -> None:
    admin, invitee = iso.who("admin"), iso.who("invitee")
    accept: LiteralString = "select id from accept_invitation(%(token)s)"
    invitation, token = _invite(tx, admin, iso.ids["tenant_A"], "invitee@example.test")
    p = {"token": token, "id": invitation}
    ok(
        tx,
        Identity.service(),
        "update invitations set expires_at = now() - interval '1 second' where id = %(id)s returning id",
        p,
    )
    refused(tx, invitee, accept, p, "P0002")
    # inviting again replaces the pending invitation; a member or an outsider cannot revoke it
    invitation, token = _invite(tx, admin, iso.ids["tenant_A"], "invitee@example.test")
    p = {"token": token, "id": invitation}
    for name in ("m1", "outsider", "atk_admin"):
        nothing(tx, iso.who(name), "delete from invitations where id = %(id)s returning id", p)
    assert ok(tx, admin, "delete from invitations where id = %(id)s returning id", p) == [(invitation,)]
    refused(tx, invitee, accept, p, "P0002")
    # a fresh one works
    _, token = _invite(tx, admin, iso.ids["tenant_A"], "invitee@example.test")
    assert ok(tx, invitee, accept, {"token": token})


def test_only_admins_invite_and_only_owners_invite_owners(iso: Iso, tx: Conn) -> None:
    p = iso.params(e="invitee2@example.test")
    invite: LiteralString = "select token from invite_member(%(tenant_A)s, %(e)s, 'member')"
    invite_owner: LiteralString = "select token from invite_member(%(tenant_A)s, %(e)s, 'owner')"
    for name in ("anon", "m1", "inactive", "outsider", "atk_admin"):
        refused(tx, iso.who(name), invite, p)
    for name in ("admin", "owner", "service"):
        assert ok(tx, iso.who(name), invite, p)
    refused(tx, iso.who("admin"), invite_owner, p)
    [(token,)] = ok(tx, iso.who("owner"), invite_owner, p)
    [joined] = ok(
        tx, iso.who("invitee2"), "select tenant_id, role from accept_invitation(%(t)s)", {"t": token}
    )
    assert joined == (iso.ids["tenant_A"], "owner")


def test_an_invitation_is_only_as_good_as_its_senders_standing(iso: Iso, tx: Conn) -> None:
    admin, owner, invitee = iso.who("admin"), iso.who("owner"), iso.who("invitee")
    accept: LiteralString = "select id from accept_invitation(%(token)s)"
    _, token = _invite(tx, admin, iso.ids["tenant_A"], "invitee@example.test", "admin")
    # the admin who sent it is deactivated before it is accepted: it brings nobody in
    assert ok(tx, owner, "update users set is_active = false where id = %(admin)s returning id", iso.params())
    refused(tx, invitee, accept, {"token": token})
    # reactivated, the same invitation works
    assert ok(tx, owner, "update users set is_active = true where id = %(admin)s returning id", iso.params())
    assert ok(tx, invitee, accept, {"token": token})


def test_an_invitation_dies_with_its_senders_row_or_account(iso: Iso, tx: Conn) -> None:
    invitee, service = iso.who("invitee"), Identity.service()
    accept: LiteralString = "select id from accept_invitation(%(token)s)"
    [(sender,)] = ok(
        tx, iso.who("owner"), "update users set role = 'admin' where id = %(m2)s returning id", iso.params()
    )
    _, token = _invite(tx, iso.who("m2"), iso.ids["tenant_A"], "invitee@example.test")
    # the sender's member row goes (invited_by becomes null): the invitation is not the service role's
    assert ok(tx, service, "delete from users where id = %(s)s returning id", {"s": sender})
    refused(tx, invitee, accept, {"token": token})
    # the sender keeps their row but loses their account
    _, token = _invite(tx, iso.who("admin"), iso.ids["tenant_A"], "invitee@example.test")
    assert ok(tx, service, "update users set auth_id = null where id = %(admin)s returning id", iso.params())
    refused(tx, invitee, accept, {"token": token})
    # the service role's own invitations have no sender to lose
    _, token = _invite(tx, service, iso.ids["tenant_A"], "invitee@example.test")
    assert ok(tx, invitee, accept, {"token": token})


def test_an_invitation_never_outlives_30_days(iso: Iso, tx: Conn) -> None:
    invite: LiteralString = (
        "select expires_at from invite_member(%(tenant_A)s, 'far@example.test', 'member', %(v)s)"
    )
    for sneaky in ("200000 years -71999970 days", "1 month 1 day", "31 days", "0 seconds", "-1 day"):
        refused(tx, iso.who("admin"), invite, iso.params(v=sneaky), "22023")
    [(expires,)] = ok(tx, iso.who("admin"), invite, iso.params(v="30 days"))
    [(within,)] = tx.execute("select %s <= now() + interval '30 days'", (expires,)).fetchall()
    assert within


def test_unlinking_the_last_owners_account_is_refused_but_auth_may_delete_it(iso: Iso, tx: Conn) -> None:
    service, p = Identity.service(), iso.params()
    refused(tx, service, "update users set auth_id = null where id = %(owner)s returning id", p, "23514")
    # relinking to another account keeps an owner who can sign in
    assert ok(
        tx,
        service,
        "update users set auth_id = %(a)s where id = %(owner)s returning id",
        p | {"a": iso.auth["stranger"]},
    )
    # an account deleted in Supabase Auth unlinks its rows through the foreign key: Auth decides
    tx.execute("delete from auth.users where id = %s", (iso.auth["stranger"],))
    [(auth_id,)] = tx.execute("select auth_id from users where id = %s", (iso.ids["owner"],)).fetchall()
    assert auth_id is None


def test_members_choose_no_row_ids(iso: Iso, tx: Conn) -> None:
    """A chosen id that collides with a row the caller cannot see would say it exists."""
    m1, p = iso.who("m1"), iso.params(new=uuid.uuid4())
    refused(
        tx, m1, "insert into conversations (id, tenant_id, user_id) values (%(new)s, %(tenant_A)s, %(m1)s)", p
    )
    refused(
        tx,
        m1,
        "insert into messages (id, tenant_id, conversation_id, role, content)"
        " values (%(new)s, %(tenant_A)s, %(c1)s, 'user', 'x')",
        p,
    )
    refused(
        tx,
        m1,
        "insert into feedback (id, tenant_id, message_id, user_id, rating) values (%(new)s, %(tenant_A)s, %(a1b)s, %(m1)s, 1)",
        p,
    )
    # the same rows with generated ids
    [(conv,)] = ok(
        tx, m1, "insert into conversations (tenant_id, user_id) values (%(tenant_A)s, %(m1)s) returning id", p
    )
    assert conv != p["new"]
    assert ok(
        tx,
        m1,
        "insert into messages (tenant_id, conversation_id, role, content) values (%(tenant_A)s, %(c1)s, 'user', 'x') returning id",
        p,
    )
    assert ok(
        tx,
        m1,
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%(tenant_A)s, %(a1b)s, %(m1)s, 1) returning id",
        p,
    )


def test_a_member_row_added_for_an_address_becomes_the_accepting_account(iso: Iso, tx: Conn) -> None:
    admin = iso.who("admin")
    [(member_id,)] = ok(
        tx,
        admin,
        "insert into users (tenant_id, email) values (%(tenant_A)s, 'invitee@example.test') returning id",
        iso.params(),
    )
    _, token = _invite(tx, admin, iso.ids["tenant_A"], "invitee@example.test")
    [joined] = ok(tx, iso.who("invitee"), "select id, auth_id from accept_invitation(%(t)s)", {"t": token})
    assert joined == (member_id, iso.auth["invitee"])


def test_token_hashes_are_out_of_the_api_roles_reach(iso: Iso, tx: Conn) -> None:
    _invite(tx, iso.who("admin"), iso.ids["tenant_A"], "invitee@example.test")
    p = iso.params()
    # the hashes are in an unexposed table no API role may read, not even the service role
    for name in ("anon", "m1", "admin", "owner", "service"):
        refused(tx, iso.who(name), "select token_hash from private.invitation_tokens", p)
    assert tx.execute("select count(*) from private.invitation_tokens").fetchone() == (1,)
    # and nothing an API role can read in public is a hash
    readable = tx.execute(
        "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " where c.relnamespace = 'public'::regnamespace and a.attnum > 0 and not a.attisdropped"
        " and a.atttypid = 'bytea'::regtype"
        " and (has_column_privilege('authenticated', c.oid, a.attnum, 'select')"
        "      or has_column_privilege('anon', c.oid, a.attnum, 'select'))"
    ).fetchall()
    assert readable == []
    # admins and owners list their tenant's invitations; nobody else sees them
    listed: LiteralString = "select * from invitations where tenant_id = %(tenant_A)s"
    assert ok(tx, iso.who("admin"), listed, p) == ok(tx, iso.who("owner"), listed, p) != []
    for name in ("m1", "outsider", "atk_admin", "inactive"):
        nothing(tx, iso.who(name), listed, p)


# (4) the member guard fails closed ----------------------------------------------------------


def test_a_role_that_inherits_authenticated_cannot_change_roles_or_status(iso: Iso, tx: Conn) -> None:
    sneaky = f"sneaky_{uuid.uuid4().hex[:12]}"  # roles are cluster-wide; rolled back with the test
    tx.execute(sql.SQL("create role {} nologin inherit").format(sql.Identifier(sneaky)))
    tx.execute(sql.SQL("grant authenticated to {}").format(sql.Identifier(sneaky)))

    def as_sneaky(name: str) -> Forged:
        return Forged(sneaky, json.loads(iso.who(name).claims_json()))

    p = iso.params()
    # the role does act as the member: RLS and the grants of authenticated apply to it
    assert ok(
        tx, as_sneaky("m1"), "update users set display_name = 'still me' where id = %(m1)s returning id", p
    )
    assert ok(tx, as_sneaky("admin"), "update users set role = 'admin' where id = %(m2)s returning id", p)
    # but a member cannot make themself admin or owner, nor an admin themself owner
    refused(tx, as_sneaky("m1"), "update users set role = 'admin' where id = %(m1)s returning id", p)
    refused(tx, as_sneaky("m1"), "update users set role = 'owner' where id = %(m1)s returning id", p)
    refused(tx, as_sneaky("admin"), "update users set role = 'owner' where id = %(admin)s returning id", p)
    nothing(
        tx, as_sneaky("inactive"), "update users set is_active = true where id = %(inactive)s returning id", p
    )
    refused(
        tx,
        as_sneaky("m1"),
        "insert into users (tenant_id, email, role) values (%(tenant_A)s, 'z@example.test', 'owner')",
        p,
    )
    # the same changes by the service role
    service = Identity.service()
    assert ok(tx, service, "update users set role = 'admin' where id = %(m1)s returning id", p)
    assert ok(tx, service, "update users set role = 'owner' where id = %(admin)s returning id", p)
    assert ok(tx, service, "update users set is_active = true where id = %(inactive)s returning id", p)


# (5) no JWT claim makes a caller privileged ---------------------------------------------------


def test_summaries_and_search_ignore_a_forged_service_role_claim(iso: Iso, tx: Conn) -> None:
    forged = Forged(
        "authenticated", {"role": "service_role", "sub": str(iso.auth["m1"]), "aud": "authenticated"}
    )
    m1, service = iso.ids["m1"], Identity.service()
    statements: list[LiteralString] = [
        "select conversation_user_id from message_feedback_summary()",
        "select user_id from monthly_usage_summary()",
        "select user_id from search_messages('text')",
    ]
    for statement in statements:
        assert ids_of(ok(tx, forged, statement)) == {m1}, statement
        assert ids_of(ok(tx, iso.who("m1"), statement)) == {m1}, statement
        assert ids_of(ok(tx, service, statement)) > {m1}, statement


# (6) the message trigger tells nothing and locks nothing ------------------------------------

INSERT_MESSAGE: LiteralString = (
    "insert into messages (tenant_id, conversation_id, role, content) values (%(t)s, %(c)s, 'user', 'hello')"
)
CONVERSATION_STATE: LiteralString = "select xmin::text, message_count, updated_at, last_message_at from conversations where tenant_id = %(t)s and id = %(c)s"


@pytest.mark.parametrize(
    ("actor", "tenant", "conversation"),
    [
        ("m1", "tenant_B", "cB"),
        ("m1", "tenant_A", "c2"),
        ("admin", "tenant_A", "c2"),
        ("admin", "tenant_B", "cB"),
    ],
    ids=["member-other-tenant", "member-colleague", "admin-colleague", "admin-other-tenant"],
)
def test_a_message_into_a_conversation_not_yours_is_refused_like_a_missing_one_and_locks_nothing(
    iso: Iso, actor: str, tenant: str, conversation: str
) -> None:
    who = iso.who(actor)
    target = {"t": iso.ids[tenant], "c": iso.ids[conversation]}
    missing = {"t": iso.ids[tenant], "c": uuid.uuid4()}
    lock: LiteralString = "select 1 from conversations where tenant_id = %(t)s and id = %(c)s for update"
    problems: list[str] = []
    with (
        psycopg.connect(iso.url) as first,
        psycopg.connect(iso.url) as second,
        psycopg.connect(iso.url, autocommit=True) as watcher,
    ):
        with first.transaction(force_rollback=True):
            _, not_there = attempt(first, who, INSERT_MESSAGE, missing)
        assert not_there is not None
        before = watcher.execute(CONVERSATION_STATE, target).fetchone()

        # the owner is writing to the conversation (their transaction holds its row lock):
        # the refused insert must not wait for them, so it cannot tell, or slow, anything
        second.execute(lock, target)
        refusal: dict[str, psycopg.Error] = {}

        def insert() -> None:
            try:
                act(first, who)
                first.execute(INSERT_MESSAGE, target)
            except psycopg.Error as e:
                refusal["error"] = e
            first.rollback()

        thread = threading.Thread(target=insert)
        thread.start()
        if waits_for_a_lock(watcher, first.info.backend_pid, thread):
            problems.append("the refused insert waited for the conversation's row lock")
        second.rollback()
        thread.join()
        error = refusal.get("error")
        if error is None or error.sqlstate != not_there.sqlstate:
            problems.append(
                f"refused with {error and error.sqlstate}, a missing one with {not_there.sqlstate}"
            )

        # and while the refused insert's transaction is still open, the row is free and as it was
        act(first, who)
        with pytest.raises(psycopg.Error):
            first.execute(INSERT_MESSAGE, target)
        try:
            second.execute(lock.replace("for update", "for update nowait"), target)
        except psycopg.errors.LockNotAvailable:
            problems.append("the refused insert's transaction holds the conversation's row lock")
        second.rollback()
        during = watcher.execute(CONVERSATION_STATE, target).fetchone()
        first.rollback()
        after = watcher.execute(CONVERSATION_STATE, target).fetchone()
        if not before == during == after:
            problems.append(
                f"xmin, message_count, updated_at, last_message_at: {before} -> {during} -> {after}"
            )
    assert problems == []
    # the same insert by the conversation's owner goes in and counts; the service role
    # is told plainly that a conversation does not exist
    owner = {"cB": "outsider", "c2": "m2"}[conversation]
    with psycopg.connect(iso.url) as conn, conn.transaction(force_rollback=True):
        ok(conn, iso.who(owner), INSERT_MESSAGE, target)
        counted = conn.execute(CONVERSATION_STATE, target).fetchone()
        assert counted is not None
        assert before is not None
        assert counted[1] == before[1] + 1
        refused(conn, Identity.service(), INSERT_MESSAGE, missing, "23503")


# (7) members write user turns only ----------------------------------------------------------


def test_members_add_only_plain_user_turns_and_the_service_role_writes_the_rest(iso: Iso, tx: Conn) -> None:
    m1 = iso.who("m1")
    p = iso.params()
    for role in ("assistant", "system", "tool"):
        refused(
            tx,
            m1,
            "insert into messages (tenant_id, conversation_id, role, content) values (%(tenant_A)s, %(c1)s, %(role)s, 'x')",
            {**p, "role": role},
        )
    fields: list[LiteralString] = [
        "insert into messages (tenant_id, conversation_id, role, content, model) values (%(tenant_A)s, %(c1)s, 'user', 'x', 'gpt')",
        "insert into messages (tenant_id, conversation_id, role, content, token_count) values (%(tenant_A)s, %(c1)s, 'user', 'x', 5)",
        "insert into messages (tenant_id, conversation_id, role, content, latency_ms) values (%(tenant_A)s, %(c1)s, 'user', 'x', 5)",
        "insert into messages (tenant_id, conversation_id, role, content, tool_calls) values (%(tenant_A)s, %(c1)s, 'user', 'x', '[]')",
    ]
    for statement in fields:
        refused(tx, m1, statement, p)
    assert ok(
        tx,
        m1,
        "insert into messages (tenant_id, conversation_id, role, content, metadata)"
        " values (%(tenant_A)s, %(c1)s, 'user', 'x', '{\"k\": 1}') returning role",
        p,
    ) == [("user",)]
    [row] = ok(
        tx,
        Identity.service(),
        "insert into messages (tenant_id, conversation_id, role, content, model, token_count, latency_ms, tool_calls)"
        " values (%(tenant_A)s, %(c1)s, 'assistant', 'y', 'gpt', 5, 120, '[{\"name\": \"lookup\"}]') returning user_id, role",
        p,
    )
    assert row == (iso.ids["m1"], "assistant")
    # and the member reads the service role's turn in their thread
    assert ok(tx, m1, "select 1 from messages where conversation_id = %(c1)s and role = 'assistant'", p)


# (9) JSON documents are bounded ---------------------------------------------------------------

BIG: LiteralString = "jsonb_build_object('blob', repeat('x', %(size)s))"
JSON_WRITES: list[tuple[str, LiteralString]] = [
    (
        "m1",
        "insert into messages (tenant_id, conversation_id, role, content, metadata)"
        " values (%(tenant_A)s, %(c1)s, 'user', 'x', " + BIG + ") returning 1",
    ),
    (
        "m1",
        "insert into conversations (tenant_id, user_id, metadata) values (%(tenant_A)s, %(m1)s, "
        + BIG
        + ") returning 1",
    ),
    ("m1", "update conversations set metadata = " + BIG + " where id = %(c1)s returning 1"),
    ("owner", "update tenants set settings = " + BIG + " where id = %(tenant_A)s returning 1"),
    (
        "service",
        "insert into messages (tenant_id, conversation_id, role, content, metadata)"
        " values (%(tenant_A)s, %(c1)s, 'assistant', 'x', " + BIG + ") returning 1",
    ),
    (
        "service",
        "insert into messages (tenant_id, conversation_id, role, content, tool_calls)"
        " values (%(tenant_A)s, %(c1)s, 'assistant', 'x', jsonb_build_array(" + BIG + ")) returning 1",
    ),
    ("service", "update conversations set metadata = " + BIG + " where id = %(c1)s returning 1"),
    ("service", "update tenants set settings = " + BIG + " where id = %(tenant_A)s returning 1"),
]


@pytest.mark.parametrize(("actor", "statement"), JSON_WRITES, ids=[f"{a}: {s[:32]}" for a, s in JSON_WRITES])
def test_a_20_mib_json_document_is_refused_and_a_normal_one_stored(
    iso: Iso, tx: Conn, actor: str, statement: LiteralString
) -> None:
    who = iso.who(actor)
    refused(tx, who, statement, iso.params(size=20 * MIB), "23514")
    assert ok(tx, who, statement, iso.params(size=200)) == [(1,)]


# (11) a tenant keeps an owner -------------------------------------------------------------------


def test_the_last_owner_cannot_step_down_nor_be_removed(iso: Iso, tx: Conn) -> None:
    p = iso.params()
    owner, service = iso.who("owner"), Identity.service()
    for who in (owner, service):
        refused(tx, who, "update users set role = 'admin' where id = %(owner)s returning id", p, "23514")
        refused(tx, who, "update users set is_active = false where id = %(owner)s returning id", p, "23514")
    refused(tx, service, "delete from users where id = %(owner)s returning id", p, "23514")
    # with a second owner, one may step down
    assert ok(tx, owner, "update users set role = 'owner' where id = %(admin)s returning id", p)
    assert ok(tx, owner, "update users set role = 'admin' where id = %(owner)s returning id", p)
    # and the remaining one is now the last
    refused(
        tx, iso.who("admin"), "update users set role = 'admin' where id = %(admin)s returning id", p, "23514"
    )
    # a tenant that goes takes its members with it
    assert ok(tx, service, "delete from tenants where id = %(tenant_A)s returning id", p)


def test_an_owner_row_without_an_account_does_not_count_as_the_tenants_owner(iso: Iso, tx: Conn) -> None:
    p = iso.params(email=f"later-{uuid.uuid4().hex[:8]}@example.test")
    owner = iso.who("owner")
    placeholder = ok(
        tx,
        owner,
        "insert into users (tenant_id, email, role) values (%(tenant_A)s, %(email)s, 'owner') returning id",
        p,
    )
    assert placeholder
    # nobody could sign in as the owner left behind: refused
    refused(tx, owner, "update users set role = 'admin' where id = %(owner)s returning id", p, "23514")
    # an owner who can sign in lets the owner step down
    assert ok(tx, owner, "update users set role = 'owner' where id = %(admin)s returning id", p)
    assert ok(tx, owner, "update users set role = 'admin' where id = %(owner)s returning id", p)


def test_only_an_owners_invitation_links_an_account_to_an_owner_row(iso: Iso, tx: Conn) -> None:
    email = "invitee@example.test"  # the invitee account's address
    p = iso.params(email=email)
    [(row,)] = ok(
        tx,
        iso.who("owner"),
        "insert into users (tenant_id, email, role) values (%(tenant_A)s, %(email)s, 'owner') returning id",
        p,
    )
    _, admins_token = _invite(tx, iso.who("admin"), iso.ids["tenant_A"], email, "member")
    # an admin's invitation would turn the owner row into a member's: refused, the row untouched
    refused(
        tx,
        iso.who("invitee"),
        "select id from accept_invitation(%(token)s)",
        {"token": admins_token},
        "23505",
    )
    assert tx.execute("select role, auth_id from users where id = %s", (row,)).fetchone() == ("owner", None)
    _, owners_token = _invite(tx, iso.who("owner"), iso.ids["tenant_A"], email, "owner")
    [(linked,)] = ok(
        tx, iso.who("invitee"), "select id from accept_invitation(%(token)s)", {"token": owners_token}
    )
    assert linked == row
    assert tx.execute("select role, auth_id from users where id = %s", (row,)).fetchone() == (
        "owner",
        iso.auth["invitee"],
    )


def test_ownership_moves_in_one_call_made_by_an_owner(iso: Iso, tx: Conn) -> None:
    transfer: LiteralString = "select id, role from transfer_ownership(%(tenant_A)s, %(target)s)"
    for name in ("anon", "m1", "m2", "admin", "outsider", "service", "inactive"):
        refused(tx, iso.who(name), transfer, iso.params(target=iso.ids["m1"]))
    for target, sqlstate in (("inactive", "P0002"), ("outsider", "P0002"), ("owner", "22023")):
        refused(tx, iso.who("owner"), transfer, iso.params(target=iso.ids[target]), sqlstate)
    assert ok(tx, iso.who("owner"), transfer, iso.params(target=iso.ids["m1"])) == [(iso.ids["m1"], "owner")]
    roles = ok(
        tx, Identity.service(), "select id, role from users where id in (%(owner)s, %(m1)s)", iso.params()
    )
    assert dict(roles) == {iso.ids["owner"]: "admin", iso.ids["m1"]: "owner"}
    # the new owner is the one who can hand it on
    refused(tx, iso.who("owner"), transfer, iso.params(target=iso.ids["m2"]))
    assert ok(tx, iso.who("m1"), transfer, iso.params(target=iso.ids["m2"]))


@pytest.mark.parametrize(
    ("isolation", "refusals"),
    [
        # refused as the last owner (23514) or, once the first demotion is seen, as no longer
        # an owner (42501): the second waits on the first's lock of the owners' rows
        (psycopg.IsolationLevel.READ_COMMITTED, {"23514", "42501"}),
        # its snapshot still shows the other owner: locking that row fails to serialize
        (psycopg.IsolationLevel.REPEATABLE_READ, {"40001"}),
    ],
    ids=["read-committed", "repeatable-read"],
)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    iso: Iso, isolation: psycopg.IsolationLevel, refusals: set[str]
) -> None:
    tenant = uuid.uuid4()
    owners = {n: (uuid.uuid4(), uuid.uuid4()) for n in ("o1", "o2")}  # name -> (auth id, member id)
    with psycopg.connect(iso.url) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Race', %s)",
            (tenant, f"race-{tenant.hex[:12]}"),
        )
        for name, (auth_id, member_id) in owners.items():
            email = f"{name}-{tenant.hex[:12]}@example.test"
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth_id, email))
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, 'owner')",
                (member_id, tenant, auth_id, email),
            )
    demote: LiteralString = "update users set role = 'admin' where tenant_id = %(t)s and id = %(m)s"
    outcome: dict[str, Any] = {}
    with (
        psycopg.connect(iso.url) as first,
        psycopg.connect(iso.url) as second,
        psycopg.connect(iso.url, autocommit=True) as watcher,
    ):
        first.isolation_level = second.isolation_level = isolation
        act(first, Identity.user(owners["o1"][0]))
        first.execute(demote, {"t": tenant, "m": owners["o2"][1]})

        def other() -> None:
            try:
                act(second, Identity.user(owners["o2"][0]))
                second.execute(demote, {"t": tenant, "m": owners["o1"][1]})
                second.commit()
                outcome["committed"] = True
            except psycopg.Error as e:
                second.rollback()
                outcome["error"] = e

        thread = threading.Thread(target=other)
        thread.start()
        # the second demotion waits for the first one's tenant lock (without it, it just finishes)
        waits_for_a_lock(watcher, second.info.backend_pid, thread)
        first.commit()
        thread.join()
        owners_left = watcher.execute(
            "select count(*) from users where tenant_id = %s and role = 'owner' and is_active", (tenant,)
        ).fetchone()
    assert "committed" not in outcome, "both owners stepped down"
    assert isinstance(outcome.get("error"), psycopg.Error)
    assert outcome["error"].sqlstate in refusals
    assert owners_left == (1,)


# (12) search: the rows the caller may read, through the full-text index --------------------------

SEARCH_ACTORS = [
    "m1",
    "m2",
    "admin",
    "owner",
    "outsider",
    "inactive",
    "inactive_tenant",
    "dual",
    "atk_member",
]


@pytest.mark.parametrize("actor", SEARCH_ACTORS)
def test_search_returns_exactly_the_messages_the_caller_may_read(iso: Iso, tx: Conn, actor: str) -> None:
    who = iso.who(actor)
    found = ids_of(ok(tx, who, "select id from search_messages('text', p_limit => 1000)"))
    readable = ids_of(
        ok(
            tx,
            who,
            "select id from messages where to_tsvector('english', content) @@ websearch_to_tsquery('english', 'text')",
        )
    )
    assert found == readable
    expected = {
        "m1": {"a1", "a1b"},
        "m2": {"a2", "a_stale"},
        "admin": {"a1", "a1b", "a2", "a_stale"},
        "owner": {"a1", "a1b", "a2", "a_stale"},
        "outsider": {"aB"},
        # dual is a member of B, where aB is the outsider's, and admin of E, which has no
        # messages; atk_member has no thread; the inactive ones see nothing
    }.get(actor, set())
    assert found == {iso.ids[name] for name in expected}


def test_search_reads_only_the_searched_tenants_candidates_from_the_index(iso: Iso, tx: Conn) -> None:
    # another tenant full of matches: an index on content alone would hand them all back to
    # be rechecked and filtered away, a cost any member could impose on the platform
    tx.execute(
        "insert into messages (tenant_id, conversation_id, role, content)"
        " select %(tenant_B)s, %(cB)s, 'assistant', 'refund refund number ' || g"
        " from generate_series(1, 3000) g",
        iso.params(),
    )
    tx.execute(
        "insert into messages (tenant_id, conversation_id, role, content)"
        " values (%(tenant_A)s, %(c1)s, 'user', 'where is my refund')",
        iso.params(),
    )
    tx.execute("analyze public.messages")
    act(tx, Identity.service())
    # the statement search_messages runs for each of the caller's tenants
    [(plan,)] = tx.execute(
        "explain (analyze, format json) select * from messages m where m.tenant_id = %(t)s"
        " and private.search_document(m.tenant_id, m.content) @@ private.search_query(%(t)s, 'refund')",
        {"t": iso.ids["tenant_A"]},
    ).fetchall()
    [(in_a,)] = tx.execute("select count(*) from messages where tenant_id = %s", (iso.ids["tenant_A"],))
    touched = [
        n["Actual Rows"] + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)
        for n in _plan_nodes(plan[0]["Plan"])
        if "Index Name" in n
    ]
    assert touched, json.dumps(plan)
    assert max(touched) <= in_a, json.dumps(plan)  # A's rows at most, never B's 3,000 matches
    # the full-text index alone bounds a search by its tenant: asked with no tenant filter at
    # all, it hands back A's candidates only
    tx.execute("set local enable_seqscan = off")
    [(plan,)] = tx.execute(
        "explain (analyze, format json) select * from messages m"
        " where private.search_document(m.tenant_id, m.content) @@ private.search_query(%(t)s, 'refund')",
        {"t": iso.ids["tenant_A"]},
    ).fetchall()
    scans = [n for n in _plan_nodes(plan[0]["Plan"]) if n.get("Index Name") == "messages_tenant_search_idx"]
    assert scans, json.dumps(plan)
    assert all(n["Actual Rows"] <= in_a for n in scans), json.dumps(plan)
    found = ok(tx, Identity.service(), "select id from search_messages('refund', %(tenant_A)s)", iso.params())
    assert len(found) == 1
    assert len(ok(tx, iso.who("m1"), "select id from search_messages('refund')")) == 1
    assert ok(tx, iso.who("m2"), "select id from search_messages('refund')") == []
    assert len(ok(tx, iso.who("outsider"), "select id from search_messages('refund', p_limit => 5)")) == 5


def test_a_search_too_complex_is_refused_before_it_runs(iso: Iso, tx: Conn) -> None:
    many = " or ".join(f'"word{i} other{i}"' for i in range(40))
    refused(tx, iso.who("m1"), "select id from search_messages(%(q)s)", {"q": many}, "22023")
    refused(tx, iso.who("m1"), "select id from search_messages(%(q)s)", {"q": "x" * 1001}, "22023")
    assert ok(tx, iso.who("m1"), "select id from search_messages(%(q)s)", {"q": "text of a1"})


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


# memberships ---------------------------------------------------------------------------------------


def test_my_memberships_lists_the_callers_active_memberships_in_active_tenants(iso: Iso, tx: Conn) -> None:
    listed: LiteralString = "select tenant_id, member_id, role from my_memberships()"
    i = iso.ids
    assert set(ok(tx, iso.who("dual"), listed)) == {
        (i["tenant_B"], i["dual_B"], "member"),
        (i["tenant_E"], i["dual_E"], "admin"),
    }
    assert ok(tx, iso.who("m1"), listed) == [(i["tenant_A"], i["m1"], "member")]
    assert ok(tx, iso.who("outsider"), listed) == [(i["tenant_B"], i["outsider"], "member")]
    for name in ("inactive", "inactive_tenant", "invitee"):
        assert ok(tx, iso.who(name), listed) == [], name
    refused(tx, Identity.anon(), listed)


def _index_conditions(plan: dict[str, Any]) -> list[str]:
    found = [plan["Index Cond"]] if "Index Cond" in plan else []
    for child in plan.get("Plans", []):
        found += _index_conditions(child)
    return found


@pytest.mark.parametrize(
    ("table", "column", "name"),
    [("messages", "conversation_id", "c1"), ("conversations", "id", "c1"), ("feedback", "message_id", "a1")],
)
def test_a_read_that_names_no_tenant_is_still_bounded_by_the_callers_tenants(
    iso: Iso, tx: Conn, table: str, column: str, name: str
) -> None:
    """What a Data API client sends (``?conversation_id=eq.X``): the policy's tenant bound is an
    index condition, so the read never scans other tenants' rows (a cost any member could
    otherwise impose on the platform). The shape of the plan, not its time."""
    act(tx, iso.who("m1"))
    tx.execute("set local enable_seqscan = off")  # the table is small: ask for the index it can use
    query = sql.SQL("explain (format json) select * from {} where {} = %s").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    row = tx.execute(query, (iso.ids[name],)).fetchone()
    assert row is not None
    conditions = _index_conditions(row[0][0]["Plan"])
    assert any("tenant_id = ANY" in c for c in conditions), conditions
    # and the read itself returns m1's rows
    rows = tx.execute(
        sql.SQL("select 1 from {} where {} = %s").format(sql.Identifier(table), sql.Identifier(column)),
        (iso.ids[name],),
    ).fetchall()
    assert rows
