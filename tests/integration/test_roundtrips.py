"""Round trips of a store made per request (psycopg): the membership lookup rides with the call.

Every connection goes through a local proxy that counts the server's ReadyForQuery messages:
one per answered sync point, that is one per round trip the client waits for (the pool's
connections are opened before counting starts). No timing is involved. Each case runs on
``Store`` and on ``AsyncStore``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import pytest

from bench.wire_proxy import Proxy as Counter
from supatenant import AsyncStore, InvalidInput, NotFound, Store
from tests.blocking import Blocking


@dataclass
class Chat:
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID
    in_a: uuid.UUID  # auth user, a member of A only
    in_both: uuid.UUID  # auth user, a member of A and B
    nowhere: uuid.UUID  # auth user of no tenant
    inactive: uuid.UUID  # auth user whose only membership is deactivated
    suspended: uuid.UUID  # auth user, an active member of a deactivated tenant (RLS hides it)
    conversation_a: uuid.UUID  # in_a's
    conversation_b: uuid.UUID  # in_both's, in B


def _chat(db_url: str) -> Chat:
    a, b = uuid.uuid4(), uuid.uuid4()
    people = {name: uuid.uuid4() for name in ("in_a", "in_both", "nowhere", "inactive", "suspended")}
    members = {name: uuid.uuid4() for name in ("in_a", "both_a", "both_b", "inactive", "suspended")}
    closed = uuid.uuid4()
    conversations = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(db_url) as conn:
        for t, active in ((a, True), (b, True), (closed, False)):
            conn.execute(
                "insert into tenants (id, name, slug, is_active) values (%s, 'T', %s, %s)",
                (t, f"rt-{t.hex[:20]}", active),
            )
        for auth in people.values():
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth, f"{auth.hex}@x.test"))
        for member, tenant, auth, active in (
            ("in_a", a, people["in_a"], True),
            ("both_a", a, people["in_both"], True),
            ("both_b", b, people["in_both"], True),
            ("inactive", a, people["inactive"], False),
            ("suspended", closed, people["suspended"], True),
        ):
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email, is_active) values (%s, %s, %s, %s, %s)",
                (members[member], tenant, auth, f"{member}-{auth.hex}@x.test", active),
            )
        for conversation, tenant, owner in (
            (conversations[0], a, members["in_a"]),
            (conversations[1], b, members["both_b"]),
        ):
            conn.execute(
                "insert into conversations (id, tenant_id, user_id, title) values (%s, %s, %s, 'chat')",
                (conversation, tenant, owner),
            )
            conn.execute(
                "insert into messages (tenant_id, conversation_id, role, content)"
                " select %s, %s, 'user', 'message ' || n from generate_series(1, 60) n",
                (tenant, conversation),
            )
    in_a, in_both, nowhere, inactive, suspended = people.values()
    return Chat(a, b, in_a, in_both, nowhere, inactive, suspended, *conversations)


@pytest.fixture
def chat(db_url: str) -> Chat:
    return _chat(db_url)


@pytest.fixture(scope="module")
def counter(db_url: str) -> Counter:
    return Counter.to(db_url)


@pytest.fixture(params=["sync", "async"])
def service(request: pytest.FixtureRequest, db_url: str, counter: Counter) -> Iterator[Store]:
    """A service store through ``counter``, with its one connection already open."""
    url = counter.url(db_url)
    if request.param == "sync":
        store: Any = Store.connect(url, service_role=True, min_size=1, max_size=1)
        yield cast(Store, store)
        store.close()
        return
    loop = asyncio.new_event_loop()
    store = Blocking(
        loop.run_until_complete(AsyncStore.connect(url, service_role=True, min_size=1, max_size=1)), loop
    )
    yield cast(Store, store)
    store.close()
    loop.close()


def _messages(db_url: str, conversation: uuid.UUID) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select count(*) from messages where conversation_id = %s", (conversation,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_store_made_per_request_answers_its_first_call_in_one_round_trip(
    service: Store, counter: Counter, chat: Chat
) -> None:
    looked_up_first = service.as_user(chat.in_a)
    looked_up_first.me()
    calls: dict[str, Callable[[Store], Any]] = {
        "get": lambda s: s.conversations.get(chat.conversation_a),
        "list": lambda s: s.messages.list(chat.conversation_a, limit=50),
        "thread": lambda s: s.conversations.thread(chat.conversation_a, limit=50),
        "conversations": lambda s: s.conversations.list(limit=20),
    }
    for name, call in calls.items():
        store = service.as_user(chat.in_a)
        trips, result = counter.during(call, store)
        assert trips == 1, name
        assert result == call(looked_up_first), name  # the same answer as before
        # the store now knows its membership: me() takes no round trip
        assert store.known_tenant() == chat.tenant_a
        assert counter.during(store.me) == (0, looked_up_first.me())
    fresh = service.as_user(chat.in_a)
    trips, appended = counter.during(fresh.messages.append, chat.conversation_a, role="user", content="hi")
    assert trips == 1
    assert (appended.tenant_id, appended.user_id) == (chat.tenant_a, looked_up_first.me().id)
    assert service.as_user(chat.in_a).messages.list(chat.conversation_a, limit=1).items == [appended]


def test_a_store_made_per_request_creates_in_its_own_tenant_as_its_own_member(
    service: Store, counter: Counter, chat: Chat
) -> None:
    store = service.as_user(chat.in_both, tenant_id=chat.tenant_b)
    trips, made = counter.during(store.conversations.create, "new", metadata={"k": 1})
    assert trips == 1
    me = service.as_user(chat.in_both, tenant_id=chat.tenant_b).me()
    assert (made.tenant_id, made.user_id, made.metadata) == (chat.tenant_b, me.id, {"k": 1})


def test_without_a_membership_the_call_is_not_found_and_writes_nothing(
    db_url: str, service: Store, chat: Chat
) -> None:
    before = _messages(db_url, chat.conversation_a)
    calls: list[Callable[[Store], Any]] = [
        lambda s: s.messages.append(chat.conversation_a, role="user", content="sneaky"),
        lambda s: s.conversations.create("sneaky"),
        lambda s: s.conversations.get(chat.conversation_a),
        lambda s: s.messages.list(chat.conversation_a),
    ]
    with psycopg.connect(db_url) as conn:  # outside RLS, the suspended member's row is there
        found = conn.execute("select is_active from users where auth_id = %s", (chat.suspended,)).fetchall()
        assert found == [(True,)]
    for auth in (chat.nowhere, chat.inactive, chat.suspended):
        for call in calls:
            store = service.as_user(auth)
            with pytest.raises(NotFound, match="no active membership"):
                call(store)
            assert store.known_tenant() is None
    assert _messages(db_url, chat.conversation_a) == before
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from conversations where title = 'sneaky'").fetchone() == (0,)
    # the member of A does the same
    service.as_user(chat.in_a).messages.append(chat.conversation_a, role="user", content="fine")
    assert _messages(db_url, chat.conversation_a) == before + 1


def test_several_memberships_and_no_tenant_chosen_is_invalid_and_writes_nothing(
    db_url: str, service: Store, chat: Chat
) -> None:
    before = _messages(db_url, chat.conversation_b)
    store = service.as_user(chat.in_both)
    with pytest.raises(InvalidInput, match="pass tenant_id"):
        store.messages.append(chat.conversation_b, role="user", content="which tenant?")
    with pytest.raises(InvalidInput, match="pass tenant_id"):
        store.conversations.create("which tenant?")
    with pytest.raises(InvalidInput, match="pass tenant_id"):
        store.conversations.get(chat.conversation_b)
    assert _messages(db_url, chat.conversation_b) == before
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select count(*) from conversations where title = 'which tenant?'"
        ).fetchone() == (0,)
    chosen = service.as_user(chat.in_both, tenant_id=chat.tenant_b)
    chosen.messages.append(chat.conversation_b, role="user", content="tenant B")
    assert _messages(db_url, chat.conversation_b) == before + 1


def test_the_folded_call_reaches_the_callers_tenant_only(service: Store, chat: Chat) -> None:
    # a member of A only: A's conversation, yes; B's, not through any first call
    assert service.as_user(chat.in_a).conversations.get(chat.conversation_a).tenant_id == chat.tenant_a
    with pytest.raises(NotFound):
        service.as_user(chat.in_a).conversations.get(chat.conversation_b)
    with pytest.raises(NotFound):
        service.as_user(chat.in_a).messages.list(chat.conversation_b)
    with pytest.raises(NotFound):
        service.as_user(chat.in_a).messages.append(chat.conversation_b, role="user", content="in B?")
    # a member of both, acting in A: B's conversation is out of scope; in B it is theirs
    with pytest.raises(NotFound):
        service.as_user(chat.in_both, tenant_id=chat.tenant_a).conversations.get(chat.conversation_b)
    with pytest.raises(NotFound):
        service.as_user(chat.in_both, tenant_id=chat.tenant_a).messages.list(chat.conversation_b)
    in_b = service.as_user(chat.in_both, tenant_id=chat.tenant_b)
    assert in_b.conversations.get(chat.conversation_b).tenant_id == chat.tenant_b
    assert (
        len(service.as_user(chat.in_both, tenant_id=chat.tenant_b).messages.list(chat.conversation_b).items)
        == 50
    )


def test_in_a_unit_of_work_the_lookup_rides_with_the_first_call_too(
    db_url: str, counter: Counter, chat: Chat
) -> None:
    with Store.connect(counter.url(db_url), service_role=True, min_size=1, max_size=1) as service:
        _unit_of_work_case(db_url, service, counter, chat)


def _unit_of_work_case(db_url: str, service: Store, counter: Counter, chat: Chat) -> None:
    before = _messages(db_url, chat.conversation_a)
    with service.as_user(chat.in_a).unit_of_work() as uow:
        for content in ("a", "b"):
            trips, _ = counter.during(uow.messages.append, chat.conversation_a, role="user", content=content)
            assert trips == 1
        uow.commit()
    assert _messages(db_url, chat.conversation_a) == before + 2
    # no membership: refused, the unit goes on, and nothing of it is written
    with service.as_user(chat.nowhere).unit_of_work() as uow:
        with pytest.raises(NotFound, match="no active membership"):
            uow.messages.append(chat.conversation_a, role="user", content="sneaky")
        assert uow.tenants.list() == []
        uow.commit()
    with service.as_user(chat.in_both).unit_of_work() as uow:
        with pytest.raises(InvalidInput, match="pass tenant_id"):
            uow.conversations.create("which tenant?")
        uow.commit()
    assert _messages(db_url, chat.conversation_a) == before + 2
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select count(*) from conversations where title = 'which tenant?'"
        ).fetchone() == (0,)


def test_the_callers_marker_from_a_store_acting_as_no_user_is_invalid_input(service: Store) -> None:
    # the service role has no membership for a marker to stand for: refused, nothing sent
    from supatenant.ops import CALLER_TENANT

    with pytest.raises(InvalidInput, match="stands for the caller's membership"):
        service.tenants.get(CALLER_TENANT)
