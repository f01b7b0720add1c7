"""Attacks on the folded membership lookup (a store made per request names its caller's ids
by markers that the database fills in the same round trip) and on the conversation read with
its messages in one statement (``thread()``, ``messages.list``), by ordinary signed-in users.

Tests marked ``finding`` are attacks that succeed today (they fail now and pass once closed);
the rest held and stay as regression tests. Each shows the refusal next to the
allowed actor succeeding with the same call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from examples.chat_api import create_app
from supatenant import AsyncStore, InvalidInput, NotFound, Store, SupatenantError, Unavailable
from supatenant.settings import PoolOptions, Settings

SECRET = "the-attack-tests-jwt-secret-of-32-characters"


@dataclass
class World:
    a: uuid.UUID
    b: uuid.UUID
    auth: dict[str, uuid.UUID]  # person -> auth user
    member: dict[str, uuid.UUID]  # membership -> member id
    conv: dict[str, uuid.UUID]


def _world(db_url: str) -> World:
    """Tenants A and B: m1, m2 and an admin in A, an outsider in B, and ``both``, a member of
    A (both_a) and of B (both_b). Each conversation holds five messages."""
    a, b = uuid.uuid4(), uuid.uuid4()
    auth = {name: uuid.uuid4() for name in ("m1", "m2", "admin", "both", "out")}
    member: dict[str, uuid.UUID] = {}
    conv: dict[str, uuid.UUID] = {}
    with psycopg.connect(db_url) as conn:
        for t in (a, b):
            conn.execute(
                "insert into tenants (id, name, slug, plan) values (%s, 'T', %s, 'pro')",
                (t, f"f-{t.hex[:20]}"),
            )
        for x in auth.values():
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (x, f"{x.hex}@x.test"))
        for name, tenant, who, role in (
            ("m1", a, "m1", "member"),
            ("m2", a, "m2", "member"),
            ("admin", a, "admin", "admin"),
            ("both_a", a, "both", "member"),
            ("both_b", b, "both", "member"),
            ("out", b, "out", "member"),
        ):
            member[name] = uuid.uuid4()
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, %s)",
                (member[name], tenant, auth[who], f"{name}-{auth[who].hex}@x.test", role),
            )
        for name, tenant, owner in (("c1", a, "m1"), ("cb", b, "out"), ("cboth_b", b, "both_b")):
            conv[name] = uuid.uuid4()
            conn.execute(
                "insert into conversations (id, tenant_id, user_id, title) values (%s, %s, %s, %s)",
                (conv[name], tenant, member[owner], name),
            )
            conn.execute(
                "insert into messages (tenant_id, conversation_id, role, content)"
                " select %s, %s, 'user', %s || n from generate_series(1, 5) n",
                (tenant, conv[name], name),
            )
    return World(a, b, auth, member, conv)


@pytest.fixture
def w(db_url: str) -> World:
    return _world(db_url)


@pytest.fixture
def service(db_url: str) -> Iterator[Store]:
    """One pooled connection: every call below shares it (and its prepared statements)."""
    s = Store.connect(db_url, service_role=True, min_size=1, max_size=1)
    yield s
    s.close()


def _count(db_url: str, query: str, *args: Any) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query, args).fetchone()
    return int(row[0]) if row else 0


def test_held_the_embedded_messages_of_a_thread_not_the_callers_stay_hidden_with_any_cursor(
    service: Store, w: World
) -> None:
    c1 = w.conv["c1"]
    owner = service.as_user(w.auth["m1"])
    thread = owner.conversations.thread(c1, limit=2)
    assert thread.next is not None
    assert len(thread.messages) == 2
    older = owner.messages.list(c1, limit=2, after=thread.next)
    assert older.previous is not None
    assert len(older.items) == 2
    calls: list[Callable[[Store], Any]] = [
        lambda s: s.conversations.thread(c1),
        lambda s: s.messages.list(c1),
        lambda s: s.messages.list(c1, after=thread.next),
        lambda s: s.messages.list(c1, before=older.previous),
    ]
    refused = [
        service.as_user(w.auth["m2"]),  # a colleague
        service.as_user(w.auth["out"]),  # another tenant
        service.as_user(w.auth["both"], tenant_id=w.b),  # a member of A, acting in B
        service.for_member(w.a, w.member["m2"]),  # the back end working for a colleague
        service.for_member(w.b, w.member["m1"]),  # the owner's id paired with another tenant
    ]
    for store in refused:
        for call in calls:
            with pytest.raises(NotFound):
                call(store)
    allowed = [service.as_user(w.auth["admin"]), service.for_member(w.a, w.member["m1"]), owner]
    for store in allowed:
        assert [m.id for m in store.conversations.thread(c1, limit=2).messages] == [
            m.id for m in thread.messages
        ]
        assert store.messages.list(c1, limit=2, after=thread.next).items == older.items
        assert len(store.messages.list(c1, before=older.previous).items) == 2  # seq 5 and 4


def test_held_per_request_stores_on_one_pooled_connection_each_act_in_their_own_membership(
    db_url: str, service: Store, w: World
) -> None:
    """Users of different tenants and one user in two tenants alternate on one connection,
    past psycopg's prepare threshold, with refused lookups in between: every write lands in
    the membership its store names, and a refused one writes nothing."""
    cases = [
        ("m1", None, w.a, "m1"),
        ("out", None, w.b, "out"),
        ("both", w.b, w.b, "both_b"),
        ("both", w.a, w.a, "both_a"),
    ]
    refused = f"refused {uuid.uuid4()}"  # this test's own text
    for i in range(8):
        for who, tenant, expected_tenant, expected_member in cases:
            made = service.as_user(w.auth[who], tenant_id=tenant).conversations.create(f"alt-{i}")
            assert (made.tenant_id, made.user_id) == (expected_tenant, w.member[expected_member])
        with pytest.raises(InvalidInput, match="pass tenant_id"):
            service.as_user(w.auth["both"]).conversations.create(refused)
        with pytest.raises(NotFound, match="no active membership"):
            service.as_user(uuid.uuid4()).messages.append(w.conv["c1"], role="user", content=refused)
        with pytest.raises(NotFound):  # m1 has no membership in B: the header's tenant is refused
            service.as_user(w.auth["m1"], tenant_id=w.b).conversations.create(refused)
    assert _count(db_url, f"select count(*) from conversations where title = '{refused}'") == 0
    assert _count(db_url, f"select count(*) from messages where content = '{refused}'") == 0


def test_held_a_unit_of_work_whose_membership_ends_midway_writes_nothing_more(
    db_url: str, service: Store, w: World
) -> None:
    """A first call's lookup sets the transaction's ids; the call fails after its savepoint is
    released (a single row not found), so the store does not keep the membership and the ids
    stay set in the unit. The membership is then deactivated: the next call's lookup finds
    nothing and leaves the ids as they were, and its write is still refused (RLS), not made
    with the ids of the membership that has just ended."""
    kept, stale = f"kept {uuid.uuid4()}", f"stale {uuid.uuid4()}"  # this test's own titles
    for who, deactivate in (("m1", False), ("admin", True)):
        with service.as_user(w.auth[who]).unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.conversations.get(uuid.uuid4())
            assert uow.known_tenant() is None  # not kept: the next call looks it up again
            if deactivate:
                with psycopg.connect(db_url, autocommit=True) as conn:
                    conn.execute("update users set is_active = false where id = %s", (w.member[who],))
                with pytest.raises(NotFound, match="no active membership"):
                    uow.conversations.create(stale)
            else:  # the allowed actor: the same calls write
                assert uow.conversations.create(kept).user_id == w.member[who]
            uow.commit()
    assert _count(db_url, f"select count(*) from conversations where title = '{kept}'") == 1
    assert _count(db_url, f"select count(*) from conversations where title = '{stale}'") == 0


def test_held_cancelled_calls_leave_no_membership_on_the_pool(db_url: str, w: World) -> None:
    async def main() -> None:
        service = await AsyncStore.connect(db_url, service_role=True, min_size=2, max_size=2)
        try:
            people = [("m1", None, w.a, "m1"), ("out", None, w.b, "out"), ("both", w.b, w.b, "both_b")] * 8

            async def create(i: int, who: str, tenant: uuid.UUID | None) -> tuple[uuid.UUID, uuid.UUID]:
                made = await service.as_user(w.auth[who], tenant_id=tenant).conversations.create(f"c{i}")
                return made.tenant_id, made.user_id

            got = await asyncio.gather(*(create(i, p[0], p[1]) for i, p in enumerate(people)))
            assert got == [(t, w.member[m]) for _, _, t, m in people]
            for i in range(12):
                task = asyncio.ensure_future(service.as_user(w.auth["out"]).conversations.create("cut"))
                await asyncio.sleep(0.0005 * (i % 4))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, SupatenantError):
                    await task  # cancelled, or finished before the cancel: both fine
                assert await create(i, "m1", None) == (w.a, w.member["m1"])
        finally:
            await service.close()

    asyncio.run(main())


def _bearer(sub: uuid.UUID) -> dict[str, str]:
    claims = {"sub": str(sub), "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + 600}
    return {"Authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}


def test_held_the_tenant_header_picks_only_a_tenant_the_user_belongs_to(db_url: str, w: World) -> None:
    app = create_app(Settings(database_url=db_url, jwt_secret=SECRET))
    before = _count(db_url, "select count(*) from messages")
    with TestClient(app, raise_server_exceptions=False) as client:
        for who, tenant, conv in (("m1", w.b, "cb"), ("out", w.a, "c1"), ("both", w.a, "cboth_b")):
            headers = {**_bearer(w.auth[who]), "X-Tenant-Id": str(tenant)}
            for path in (f"/conversations/{w.conv[conv]}", f"/conversations/{w.conv[conv]}/messages"):
                assert client.get(path, headers=headers).status_code == 404
            asked = client.post(
                f"/conversations/{w.conv[conv]}/messages", json={"content": "x"}, headers=headers
            )
            assert asked.status_code == 404
        assert _count(db_url, "select count(*) from messages") == before
        headers = {**_bearer(w.auth["both"]), "X-Tenant-Id": str(w.b)}
        thread = client.get(f"/conversations/{w.conv['cboth_b']}", headers=headers)
        assert thread.status_code == 200
        assert len(thread.json()["messages"]) == 5
        made = client.post("/conversations", json={"title": "in B"}, headers=headers)
        assert made.status_code == 201
        assert made.json()["tenant_id"] == str(w.b)


# --- findings -----------------------------------------------------------------------------


@pytest.mark.finding
def test_finding_unit_of_work_on_an_exhausted_pool_is_unavailable_not_a_raw_pool_timeout(
    db_url: str, w: World
) -> None:
    """FINDING (low): with every pooled connection taken (a burst of requests, or one request
    holding a unit of work), ``store.unit_of_work()`` lets psycopg_pool's ``PoolTimeout``
    escape: not a SupatenantError, so ``install_error_handlers`` answers 500, not 503, while
    any other call on the same exhausted pool raises ``Unavailable``. The connection checkout
    in ``AsyncPostgresBackend.unit_of_work`` is outside every ``except``."""
    with Store.connect(
        db_url, service_role=True, pool=PoolOptions(min_size=1, max_size=1, timeout=0.5)
    ) as service:
        member = service.as_user(w.auth["m1"])
        with member.unit_of_work() as held:  # the allowed actor: a free pool gives a unit
            assert held.conversations.get(w.conv["c1"]).id == w.conv["c1"]
            with pytest.raises(Unavailable):  # an ordinary call on the exhausted pool
                service.as_user(w.auth["m2"]).conversations.list()
            with pytest.raises(Unavailable), service.as_user(w.auth["m2"]).unit_of_work():
                pass
