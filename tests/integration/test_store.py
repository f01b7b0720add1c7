"""The repositories on the psycopg backend, on real PostgreSQL with the real schema.

Every case runs twice: through ``Store`` and through ``AsyncStore`` (driven by an event
loop), so the generated sync API and its async source are held to the same behaviour.
Each test gets tenants of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

import psycopg
import pytest

from supatenant import (
    AsyncStore,
    Conflict,
    InvalidInput,
    InvalidReference,
    NotFound,
    PermissionDenied,
    Store,
    Unsupported,
)
from supatenant.models import UsageIncrement
from tests.blocking import Blocking


@dataclass
class Tenancy:
    tenant_id: uuid.UUID
    auth: dict[str, uuid.UUID]  # actor -> auth user id
    member: dict[str, uuid.UUID]  # actor -> membership id
    other_tenant_id: uuid.UUID


def _make_tenancy(db_url: str) -> Tenancy:
    tenant_id, other = uuid.uuid4(), uuid.uuid4()
    auth: dict[str, uuid.UUID] = {}
    member: dict[str, uuid.UUID] = {}
    with psycopg.connect(db_url) as conn:
        for t in (tenant_id, other):
            conn.execute(
                "insert into tenants (id, name, slug, plan) values (%s, 'T', %s, 'pro')",
                (t, f"t-{t.hex[:20]}"),
            )
        for name, tenant, role in (
            ("owner", tenant_id, "owner"),
            ("admin", tenant_id, "admin"),
            ("m1", tenant_id, "member"),
            ("m2", tenant_id, "member"),
            ("outsider", other, "member"),
        ):
            auth[name], member[name] = uuid.uuid4(), uuid.uuid4()
            email = f"{name}-{auth[name].hex[:8]}@example.test"
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth[name], email))
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, %s)",
                (member[name], tenant, auth[name], email, role),
            )
    return Tenancy(tenant_id, auth, member, other)


@pytest.fixture(params=["sync", "async"])
def open_store(request: pytest.FixtureRequest, db_url: str) -> Iterator[Callable[..., Store]]:
    """Open stores acting as given actors; all closed after the test."""
    opened: list[Any] = []
    loop = asyncio.new_event_loop() if request.param == "async" else None

    def open_(**kwargs: Any) -> Store:
        if loop is None:
            store: Any = Store.connect(db_url, max_size=2, **kwargs)
        else:
            store = Blocking(loop.run_until_complete(AsyncStore.connect(db_url, max_size=2, **kwargs)), loop)
        opened.append(store)
        return cast(Store, store)

    yield open_
    for store in opened:
        store.close()
    if loop is not None:
        loop.close()


@pytest.fixture
def t(db_url: str) -> Tenancy:
    return _make_tenancy(db_url)


@pytest.fixture
def service(open_store: Callable[..., Store]) -> Store:
    return open_store(service_role=True)


@pytest.fixture
def act(service: Store, t: Tenancy) -> Callable[[str], Store]:
    """A store acting as one of the tenancy's members, on the service store's pool."""
    return lambda name: service.as_user(t.auth[name])


def test_me_is_the_callers_membership(act: Callable[[str], Store], t: Tenancy) -> None:
    assert act("m1").me().id == t.member["m1"]
    assert act("admin").members.me().role == "admin"


def test_a_conversation_is_created_read_updated_archived_and_restored(
    act: Callable[[str], Store], t: Tenancy
) -> None:
    m1 = act("m1")
    conv = m1.conversations.create("Refund question", metadata={"channel": "web"})
    assert (conv.tenant_id, conv.user_id, conv.title, conv.metadata) == (
        t.tenant_id,
        t.member["m1"],
        "Refund question",
        {"channel": "web"},
    )
    assert m1.conversations.get(conv.id) == conv
    renamed = m1.conversations.update(conv.id, title="Refund for order 42")
    assert renamed.title == "Refund for order 42"
    assert renamed.updated_at >= conv.updated_at
    assert m1.conversations.archive(conv.id).is_archived
    assert conv.id not in [c.id for c in m1.conversations.list().items]
    assert [c.id for c in m1.conversations.list(archived=True).items] == [conv.id]
    assert not m1.conversations.unarchive(conv.id).is_archived
    assert [c.id for c in m1.conversations.list().items] == [conv.id]


def test_conversations_page_by_keyset_and_filter_by_title(act: Callable[[str], Store]) -> None:
    m1 = act("m1")
    made = [m1.conversations.create(f"thread {i} {'refund' if i % 2 else 'login'}") for i in range(7)]
    newest_first = [c.id for c in reversed(made)]
    seen: list[uuid.UUID] = []
    page = m1.conversations.list(limit=3, with_total=True)
    assert page.total == 7
    while True:
        seen += [c.id for c in page.items]
        if page.next is None:
            break
        page = m1.conversations.list(limit=3, after=page.next)
    assert seen == newest_first
    refunds = m1.conversations.list(title_contains="REFUND", with_total=True)
    assert refunds.total == 3
    assert {c.id for c in refunds.items} == {c.id for c in made if "refund" in (c.title or "")}
    assert m1.conversations.list(title_contains="100%").items == []  # % is a character, not a wildcard


def test_a_member_cannot_see_or_change_another_members_conversation(act: Callable[[str], Store]) -> None:
    theirs = act("m2").conversations.create("private")
    m1 = act("m1")
    with pytest.raises(NotFound, match="not visible to you"):
        m1.conversations.get(theirs.id)
    with pytest.raises(NotFound):
        m1.conversations.update(theirs.id, title="mine now")
    # a colleague's conversation and a missing one answer alike: no existence oracle
    with pytest.raises(NotFound, match="not found, or not yours") as colleagues:
        m1.messages.append(theirs.id, role="user", content="hello")
    with pytest.raises(NotFound, match="not found, or not yours") as missing:
        m1.messages.append(uuid.uuid4(), role="user", content="hello")
    assert (colleagues.value.sqlstate, _without_ids(colleagues.value)) == (
        missing.value.sqlstate,
        _without_ids(missing.value),
    )
    with pytest.raises(PermissionDenied, match="user turns only"):  # a refusal by role, not by row
        m1.messages.append(theirs.id, role="assistant", content="hello")
    # the owner of the thread can do each of those
    m2 = act("m2")
    assert m2.conversations.update(theirs.id, title="still mine").title == "still mine"
    assert m2.messages.append(theirs.id, role="user", content="hello").content == "hello"


def test_admins_read_every_thread_of_their_tenant_but_not_another_tenants(
    act: Callable[[str], Store],
) -> None:
    theirs = act("m2").conversations.create("m2's")
    act("m2").messages.append(theirs.id, role="user", content="hi")
    admin = act("admin")
    assert admin.conversations.get(theirs.id).id == theirs.id
    assert theirs.id in [c.id for c in admin.conversations.list(everyone=True).items]
    assert [m.content for m in admin.conversations.thread(theirs.id).messages] == ["hi"]
    with pytest.raises(NotFound):
        act("outsider").conversations.get(theirs.id)


def test_messages_append_in_order_and_page_backwards(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    m1 = act("m1")
    back_end = service.for_member(t.tenant_id, t.member["m1"])  # assistant turns come from the app
    conv = m1.conversations.create("chat")
    sent = [
        m1.messages.append(conv.id, role="user", content=f"turn {i}")
        if i % 2 == 0
        else back_end.messages.append(conv.id, role="assistant", content=f"turn {i}", token_count=i)
        for i in range(5)
    ]
    assert all(m.user_id == t.member["m1"] for m in sent)  # set by the database, not sent
    first = m1.messages.list(conv.id, limit=2)
    assert [m.content for m in first.items] == ["turn 4", "turn 3"]
    assert first.next is not None
    rest = m1.messages.list(conv.id, limit=10, after=first.next)
    assert [m.content for m in rest.items] == ["turn 2", "turn 1", "turn 0"]
    assert rest.next is None
    thread = m1.conversations.thread(conv.id, limit=3)
    assert [m.content for m in thread.messages] == ["turn 2", "turn 3", "turn 4"]
    assert thread.conversation.message_count == 5


def test_messages_are_validated_before_anything_is_sent(act: Callable[[str], Store]) -> None:
    m1 = act("m1")
    conv = m1.conversations.create("chat")
    with pytest.raises(InvalidInput, match="role"):
        m1.messages.append(conv.id, role="robot", content="beep")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="token_count"):
        m1.messages.append(conv.id, role="user", content="x", token_count=-1)
    with pytest.raises(InvalidInput, match="title"):
        m1.conversations.create("x" * 501)
    assert m1.conversations.get(conv.id).message_count == 0


def test_search_finds_words_in_the_callers_tenant_only(act: Callable[[str], Store]) -> None:
    m1 = act("m1")
    conv = m1.conversations.create("chat")
    hit = m1.messages.append(conv.id, role="user", content="My invoices were charged twice")
    m1.messages.append(conv.id, role="user", content="How do I reset my password?")
    outsider = act("outsider")
    other = outsider.conversations.create("elsewhere")
    outsider.messages.append(other.id, role="user", content="invoice charged twice as well")
    assert [m.id for m in m1.messages.search("invoice charged")] == [hit.id]
    assert [m.content for m in outsider.messages.search("invoice")] == ["invoice charged twice as well"]
    assert m1.messages.search("invoice -charged") == []
    # a query with no word to look for finds nothing (not every message the caller can read)
    for nothing in ("", "   ", "the", "a an the", "!!", '""'):
        assert m1.messages.search(nothing) == [], nothing


def test_feedback_is_rated_changed_summarised_and_removed(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    m1 = act("m1")
    conv = m1.conversations.create("chat")
    answer = service.for_member(t.tenant_id, t.member["m1"]).messages.append(
        conv.id, role="assistant", content="Refunds take 5 days."
    )
    rated = m1.feedback.rate(answer.id, 1, comment="spot on")
    assert (rated.rating, rated.comment) == (1, "spot on")
    changed = m1.feedback.rate(answer.id, -1)
    assert (changed.id, changed.rating, changed.comment) == (rated.id, -1, None)
    with pytest.raises(InvalidInput, match="rating"):
        m1.feedback.rate(answer.id, 5)  # type: ignore[arg-type]
    service.usage.refresh_summaries()
    [summary] = m1.feedback.summary(conv.id)
    assert (summary.message_id, summary.negative_count, summary.score) == (answer.id, 1, -1)
    assert m1.feedback.remove(answer.id).id == rated.id
    with pytest.raises(NotFound):
        m1.feedback.remove(answer.id)
    assert m1.feedback.list(message_id=answer.id) == []


def test_feedback_on_a_message_the_member_cannot_read_is_refused(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    m2 = act("m2")
    conv = m2.conversations.create("m2's")
    answer = service.for_member(t.tenant_id, t.member["m2"]).messages.append(
        conv.id, role="assistant", content="hi"
    )
    with pytest.raises(NotFound, match="not found, or not yours"):
        act("m1").feedback.rate(answer.id, 1)
    with pytest.raises(NotFound, match="not found, or not yours"):
        act("m1").feedback.rate(uuid.uuid4(), 1)
    assert m2.feedback.rate(answer.id, 1).rating == 1


def test_usage_is_written_by_the_service_role_and_read_as_the_matrix_says(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    row = service.usage.increment(
        t.tenant_id, t.member["m1"], prompt_tokens=100, completion_tokens=20, cost_usd="0.0125"
    )
    assert (row.request_count, row.total_tokens, row.cost_usd) == (1, 120, Decimal("0.012500"))
    written = service.usage.increment_many(
        [
            UsageIncrement(tenant_id=t.tenant_id, user_id=t.member["m1"], prompt_tokens=1),
            UsageIncrement(tenant_id=t.tenant_id, user_id=t.member["m1"], prompt_tokens=2),
            UsageIncrement(tenant_id=t.tenant_id, user_id=t.member["m2"], completion_tokens=3),
        ]
    )
    assert written == 2  # summed per member and day
    service.usage.refresh_summaries()
    [mine] = act("m1").usage.today()
    assert (mine.user_id, mine.request_count, mine.prompt_tokens) == (t.member["m1"], 3, 103)
    assert {r.user_id for r in act("admin").usage.today()} == {t.member["m1"], t.member["m2"]}
    [monthly] = act("m1").usage.monthly()
    assert (monthly.request_count, monthly.total_tokens) == (3, 123)
    assert len(act("admin").usage.monthly()) == 2
    assert act("m1").usage.list(since=date.today(), until=date.today())[0].prompt_tokens == 103
    with pytest.raises(PermissionDenied):
        act("admin").usage.increment(t.tenant_id, t.member["m1"], prompt_tokens=1)
    with pytest.raises(InvalidInput, match="prompt_tokens"):
        service.usage.increment(t.tenant_id, t.member["m1"], prompt_tokens=-5)


def test_usage_for_a_member_of_another_tenant_is_an_invalid_reference(service: Store, t: Tenancy) -> None:
    with pytest.raises(InvalidReference):
        service.usage.increment(t.tenant_id, t.member["outsider"], prompt_tokens=1)


def test_members_are_managed_by_admins_only(act: Callable[[str], Store], t: Tenancy) -> None:
    admin, m1 = act("admin"), act("m1")
    added = admin.members.add(f"new-{uuid.uuid4().hex[:6]}@example.test", display_name="New")
    assert added.tenant_id == t.tenant_id
    assert added.role == "member"
    with pytest.raises(PermissionDenied):
        m1.members.add(f"sneaky-{uuid.uuid4().hex[:6]}@example.test")
    with pytest.raises(Conflict):
        admin.members.add(added.email.upper())
    assert admin.members.set_role(added.id, "admin").role == "admin"
    with pytest.raises(PermissionDenied):
        m1.members.set_role(t.member["m1"], "admin")
    assert m1.members.update_profile("Em One").display_name == "Em One"
    assert admin.members.deactivate(t.member["m2"]).is_active is False
    assert t.member["m2"] not in [m.id for m in m1.members.list()]
    assert t.member["m2"] in [m.id for m in admin.members.list(include_inactive=True)]
    with pytest.raises(NotFound):
        act("m2").me()  # an inactive member sees nothing, themselves included
    assert admin.members.reactivate(t.member["m2"]).is_active is True
    assert act("m2").me().id == t.member["m2"]


def test_only_the_owner_changes_the_tenant(act: Callable[[str], Store], service: Store, t: Tenancy) -> None:
    assert act("m1").tenants.get().id == t.tenant_id
    with pytest.raises(NotFound):
        act("admin").tenants.update(name="Renamed by admin")
    assert act("owner").tenants.update(name="Renamed", settings={"tone": "formal"}).name == "Renamed"
    with pytest.raises(PermissionDenied):
        act("owner").tenants.update(plan="enterprise")
    assert service.tenants.update(t.tenant_id, plan="enterprise").plan == "enterprise"
    assert [x.id for x in act("m1").tenants.list()] == [t.tenant_id]


def test_the_service_role_creates_tenants_and_acts_for_members(service: Store, t: Tenancy) -> None:
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    tenant = service.tenants.create("Acme", slug, plan="team")
    assert (tenant.slug, tenant.plan, tenant.is_active) == (slug, "team", True)
    with pytest.raises(Conflict):
        service.tenants.create("Acme again", slug)
    with pytest.raises(InvalidInput, match="slug"):
        service.tenants.create("Bad", "Not A Slug!")
    conv = service.for_member(t.tenant_id, t.member["m1"]).conversations.create("opened by a job")
    assert conv.user_id == t.member["m1"]
    with pytest.raises(InvalidInput, match="acts as no user"):
        service.conversations.create("whose?")


def test_anon_gets_nothing(open_store: Callable[..., Store], t: Tenancy) -> None:
    anon = open_store()
    with pytest.raises(PermissionDenied):
        anon.tenants.get(t.tenant_id)


def test_a_unit_of_work_rolls_back_unless_committed(db_url: str, t: Tenancy) -> None:
    with Store.connect(db_url, auth_user_id=t.auth["m1"], max_size=1) as store:
        _unit_of_work_scenario(store, t)


def _unit_of_work_scenario(store: Store, t: Tenancy) -> None:
    with store.unit_of_work() as uow:
        dropped = uow.conversations.create("dropped")
        uow.messages.append(dropped.id, role="user", content="gone")
    with store.unit_of_work() as uow:
        kept = uow.conversations.create("kept")
        uow.messages.append(kept.id, role="user", content="here")
        uow.commit()
        after_commit = uow.conversations.create("after commit, not committed")
    ids = [c.id for c in store.conversations.list().items]
    assert kept.id in ids
    assert dropped.id not in ids
    assert after_commit.id not in ids
    assert store.conversations.get(kept.id).message_count == 1
    with pytest.raises(PermissionDenied):
        _refused_halfway(store)
    assert "half" not in [c.title for c in store.conversations.list().items]


def _refused_halfway(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.conversations.create("half")
        uow.members.add("sneaky@example.test")  # members may not add members: the unit goes


def test_async_unit_of_work(db_url: str, t: Tenancy) -> None:
    async def scenario() -> list[str | None]:
        async with await AsyncStore.connect(db_url, auth_user_id=t.auth["m2"], max_size=1) as store:
            async with store.unit_of_work() as uow:
                await uow.conversations.create("async dropped")
            async with store.unit_of_work() as uow:
                await uow.conversations.create("async kept")
                await uow.commit()
            return [c.title for c in (await store.conversations.list()).items]

    assert asyncio.run(scenario()) == ["async kept"]


def test_a_supabase_store_has_no_unit_of_work_nor_other_identities() -> None:
    from supabase import create_client

    store = Store.from_supabase(create_client("http://127.0.0.1:9", "key"))
    with pytest.raises(Unsupported), store.unit_of_work():
        pass
    with pytest.raises(Unsupported):
        store.as_service()


def _sign_up(db_url: str, email: str) -> uuid.UUID:
    auth_id = uuid.uuid4()
    with psycopg.connect(db_url) as conn:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth_id, email))
    return auth_id


def test_an_invited_account_joins_by_accepting_and_lists_its_memberships(
    act: Callable[[str], Store], service: Store, db_url: str, t: Tenancy
) -> None:
    email = f"Newcomer-{uuid.uuid4().hex[:8]}@Example.test"
    with pytest.raises(PermissionDenied):
        act("m1").members.invite(email)  # members do not invite
    with pytest.raises(PermissionDenied):
        act("admin").members.invite(email, role="owner")  # owners invite owners
    invitation = act("admin").members.invite(email, role="admin")
    assert invitation.token is not None
    assert len(invitation.token) == 64
    assert [i.email for i in act("admin").members.invitations()] == [email]
    newcomer = service.as_user(_sign_up(db_url, email.lower()))  # the address matches in any case
    with pytest.raises(NotFound):
        newcomer.accept_invitation("not-the-token")
    joined = newcomer.accept_invitation(invitation.token)
    assert (joined.tenant_id, joined.role, joined.email) == (t.tenant_id, "admin", email)
    assert [(m.tenant_id, m.member_id, m.role) for m in newcomer.memberships()] == [
        (t.tenant_id, joined.id, "admin")
    ]
    with pytest.raises(NotFound):
        newcomer.accept_invitation(invitation.token)  # single use
    assert newcomer.members.me().id == joined.id


def test_an_invitation_is_for_its_address_only_and_can_be_revoked(
    act: Callable[[str], Store], service: Store, db_url: str, t: Tenancy
) -> None:
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.test"
    invitation = act("owner").members.invite(email)
    assert invitation.token is not None
    stranger = service.as_user(_sign_up(db_url, f"stranger-{uuid.uuid4().hex[:8]}@example.test"))
    with pytest.raises(PermissionDenied, match="another email"):
        stranger.accept_invitation(invitation.token)
    assert stranger.memberships() == []
    assert invitation.invitation_id is not None
    with pytest.raises(NotFound):
        act("m1").members.revoke_invitation(invitation.invitation_id)  # members see no invitations
    act("admin").members.revoke_invitation(invitation.invitation_id)
    with pytest.raises(NotFound):
        service.as_user(_sign_up(db_url, email)).accept_invitation(invitation.token)


def test_ownership_moves_in_one_call_and_a_tenant_keeps_an_owner(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    owner = act("owner")
    with pytest.raises(InvalidInput, match="without an active owner"):
        owner.members.set_role(t.member["owner"], "admin")
    with pytest.raises(InvalidInput, match="without an active owner"):
        service.members.deactivate(t.member["owner"], tenant_id=t.tenant_id)
    with pytest.raises(PermissionDenied):
        act("admin").members.transfer_ownership(t.member["m1"])
    promoted = owner.members.transfer_ownership(t.member["admin"])
    assert promoted.role == "owner"
    assert act("admin").members.get(t.member["owner"]).role == "admin"
    assert act("admin").members.me().role == "owner"


def _without_ids(error: Exception) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", str(error))


def test_a_back_end_working_for_a_member_reaches_that_members_threads_only(
    act: Callable[[str], Store], service: Store, t: Tenancy
) -> None:
    colleagues = act("m2").conversations.create("m2's")
    act("m2").messages.append(colleagues.id, role="user", content="private")
    mine = act("m1").conversations.create("m1's")
    back_end = service.for_member(t.tenant_id, t.member["m1"])  # conversation ids come from requests
    with pytest.raises(NotFound, match="does not exist or is not member") as theirs:
        back_end.messages.append(colleagues.id, role="assistant", content="planted")
    with pytest.raises(NotFound, match="does not exist or is not member") as missing:
        back_end.messages.append(uuid.uuid4(), role="assistant", content="planted")
    assert (theirs.value.sqlstate, _without_ids(theirs.value)) == (
        missing.value.sqlstate,
        _without_ids(missing.value),
    )
    colleagues_turn = act("m2").conversations.thread(colleagues.id).messages[0]
    with pytest.raises(NotFound):
        back_end.feedback.rate(colleagues_turn.id, -1)
    # the service role's other powers stay with the service store
    with pytest.raises(Unsupported, match="working for a member"):
        back_end.members.set_role(t.member["m1"], "owner")
    with pytest.raises(Unsupported):
        back_end.members.add("someone@example.test", tenant_id=t.other_tenant_id)
    with pytest.raises(Unsupported):
        back_end.tenants.update(t.other_tenant_id, is_active=False)
    with pytest.raises(Unsupported):
        back_end.usage.list(tenant_id=t.other_tenant_id)
    with pytest.raises(NotFound):
        back_end.conversations.get(colleagues.id)
    with pytest.raises(NotFound):
        back_end.conversations.update(colleagues.id, title="taken")
    with pytest.raises(NotFound):
        back_end.conversations.thread(colleagues.id)
    with pytest.raises(NotFound):
        back_end.messages.list(colleagues.id)
    assert [c.id for c in back_end.conversations.list(everyone=True).items] == [mine.id]
    assert back_end.messages.search("private") == []
    # the same calls for the member's own thread work
    answer = back_end.messages.append(mine.id, role="assistant", content="private answer")
    assert answer.user_id == t.member["m1"]
    assert back_end.conversations.thread(mine.id).messages == [answer]
    assert [m.id for m in back_end.messages.search("private")] == [answer.id]
    assert back_end.feedback.rate(answer.id, 1).user_id == t.member["m1"]
    assert [m.content for m in act("m2").conversations.thread(colleagues.id).messages] == ["private"]


def test_a_unit_of_work_keeps_one_identity(db_url: str, t: Tenancy) -> None:
    with Store.connect(db_url, service_role=True, max_size=2) as service:
        _one_identity_scenario(service, t)


def _one_identity_scenario(service: Store, t: Tenancy) -> None:
    with service.unit_of_work() as uow:
        with pytest.raises(Unsupported, match="one identity"):
            uow.as_user(t.auth["m1"])
        with pytest.raises(Unsupported):
            uow.as_service()
        # working for a member stays in the unit's transaction
        uow.for_member(t.tenant_id, t.member["m1"]).conversations.create("in the unit")
    assert "in the unit" not in [
        c.title for c in service.for_member(t.tenant_id, t.member["m1"]).conversations.list().items
    ]


def test_a_statement_error_filed_under_operational_is_not_a_lost_connection(db_url: str) -> None:
    import psycopg.errors

    from supatenant.backends.postgres import connection_lost

    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.OperationalError) as raised:
        conn.execute("select repeat('x', 2048)::tsvector")  # 54000: a word too long for a tsvector
    assert raised.value.sqlstate is not None
    assert raised.value.sqlstate.startswith("54")
    assert not connection_lost(raised.value)
    assert connection_lost(psycopg.OperationalError("server closed the connection unexpectedly"))


def test_only_a_service_store_acts_for_others(act: Callable[[str], Store], t: Tenancy) -> None:
    m1 = act("m1")
    with pytest.raises(Unsupported, match="only a service-role store"):
        m1.as_service()
    with pytest.raises(Unsupported):
        m1.as_user(t.auth["owner"])
    with pytest.raises(Unsupported):
        m1.for_member(t.tenant_id, t.member["m2"])
    assert m1.me().id == t.member["m1"]  # the store itself is untouched


def test_pages_go_on_with_after_and_back_with_before(act: Callable[[str], Store]) -> None:
    m1 = act("m1")
    made = [m1.conversations.create(f"thread {i}") for i in range(7)]
    newest_first = [c.id for c in reversed(made)]
    first = m1.conversations.list(limit=3)
    assert first.previous is None
    assert first.has_more
    second = m1.conversations.list(limit=3, after=first.next)
    assert [c.id for c in second.items] == newest_first[3:6]
    assert second.previous is not None
    back = m1.conversations.list(limit=3, before=second.previous)
    assert [c.id for c in back.items] == [c.id for c in first.items]
    assert back.previous is None  # the first page again: nothing before it
    last = m1.conversations.list(limit=3, after=second.next)
    assert [c.id for c in last.items] == newest_first[6:]
    assert not last.has_more
    assert last.next is None
    # messages: the same names, the same two directions
    back_end_free = made[0].id
    for i in range(5):
        m1.messages.append(back_end_free, role="user", content=f"turn {i}")
    page = m1.messages.list(back_end_free, limit=2)
    older = m1.messages.list(back_end_free, limit=2, after=page.next)
    assert [m.content for m in older.items] == ["turn 2", "turn 1"]
    newer = m1.messages.list(back_end_free, limit=2, before=older.previous)
    assert [m.content for m in newer.items] == ["turn 4", "turn 3"]


def test_a_cursor_is_refused_on_another_list_or_when_altered(act: Callable[[str], Store]) -> None:
    m1 = act("m1")
    a, b = m1.conversations.create("a"), m1.conversations.create("b")
    for conv in (a, b):
        for i in range(3):
            m1.messages.append(conv.id, role="user", content=f"{conv.title} {i}")
    of_a = m1.messages.list(a.id, limit=1).next
    assert of_a is not None
    assert [m.content for m in m1.messages.list(a.id, limit=1, after=of_a).items] == ["a 1"]
    with pytest.raises(InvalidInput, match="another conversation") as refused:
        m1.messages.list(b.id, limit=1, after=of_a)
    assert refused.value.details[0]["field"] == "after"
    of_conversations = m1.conversations.list(limit=1).next
    assert of_conversations is not None
    with pytest.raises(InvalidInput, match="another list"):
        m1.messages.list(a.id, after=of_conversations)
    with pytest.raises(InvalidInput, match="not a cursor"):
        m1.messages.list(a.id, after=of_a[:-1])
    with pytest.raises(InvalidInput, match="not both"):
        m1.messages.list(a.id, after=of_a, before=of_a)


def test_a_thread_is_one_statement_and_leads_on_to_older_messages(
    act: Callable[[str], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    m1, m2 = act("m1"), act("m2")
    conv = m1.conversations.create("long")
    for i in range(5):
        m1.messages.append(conv.id, role="user", content=f"turn {i}")
    if isinstance(m1, Store):  # the async store is generated from the same source
        ops: list[Any] = []
        run = m1.backend.run

        def counted(op: Any, what: str, *lookup: Any) -> Any:
            ops.append(op)
            return run(op, what, *lookup)

        monkeypatch.setattr(m1.backend, "run", counted)
        m1.conversations.thread(conv.id, limit=3)
        monkeypatch.undo()
        assert len(ops) == 1  # conversation and messages read by one statement: one snapshot
    thread = m1.conversations.thread(conv.id, limit=3)
    assert [m.content for m in thread.messages] == ["turn 2", "turn 3", "turn 4"]
    assert thread.has_more
    assert thread.next is not None
    older = m1.messages.list(conv.id, after=thread.next)
    assert [m.content for m in older.items] == ["turn 1", "turn 0"]
    whole = m1.conversations.thread(conv.id, limit=5)
    assert not whole.has_more
    assert len(whole.messages) == 5
    empty = m1.conversations.thread(m1.conversations.create("empty").id)
    assert empty.messages == []
    assert not empty.has_more
    # a colleague's thread: not found, with the messages
    with pytest.raises(NotFound):
        m2.conversations.thread(conv.id)
