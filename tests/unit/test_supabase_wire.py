"""The supabase-py backend at the HTTP boundary.

An httpx transport records the exact requests supabase-py sends for each repository call
(method, path, query string, ``Prefer``, ``Accept``, ``Authorization``) and answers the way
PostgREST answers: rows as JSON, counts in ``Content-Range``, 406 ``PGRST116`` for a
missing single row, 409 with ``23505``, 401/403 with ``42501``. Each case runs on the sync
``Client`` and on the ``AsyncClient``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from urllib.parse import parse_qsl

import httpx
import pytest
from supabase import AsyncClient, Client
from supabase.lib.client_options import AsyncClientOptions, SyncClientOptions

from supatenant import (
    AsyncStore,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Store,
    Unavailable,
)
from supatenant.models import Conversation, Tenant, UsageIncrement
from supatenant.paging import Position, read_cursor
from tests.blocking import Blocking

URL = "http://project.test"
KEY = "anon-key"
AUTH_ID, TENANT, MEMBER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOW = "2026-11-22T10:00:00.123456+00:00"


def token(sub: uuid.UUID) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return (
        f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': str(sub), 'role': 'authenticated'})}.signature"
    )


USER_TOKEN = token(AUTH_ID)

MEMBER_ROW = {
    "id": str(MEMBER),
    "tenant_id": str(TENANT),
    "auth_id": str(AUTH_ID),
    "email": "m1@example.test",
    "display_name": None,
    "role": "member",
    "is_active": True,
    "created_at": NOW,
    "updated_at": NOW,
}


def conversation_row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": str(uuid.uuid4()),
        "tenant_id": str(TENANT),
        "user_id": str(MEMBER),
        "title": "Refund question",
        "metadata": {},
        "is_archived": False,
        "message_count": 0,
        "last_message_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return row | changes


@dataclass
class Sent:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: httpx.Headers
    body: Any


@dataclass
class Wire:
    """Answers requests in order from ``replies``, and keeps every request it saw."""

    replies: list[httpx.Response | httpx.HTTPError] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def reply(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.replies.append(httpx.Response(status, json=body, headers=headers))

    def error(self, status: int, code: str, message: str) -> None:
        self.reply(status, {"code": code, "message": message, "details": None, "hint": None})

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        self.sent.append(Sent(request.method, request.url.path, query, request.headers, body))
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.pop(0)
        if isinstance(reply, httpx.HTTPError):
            raise reply
        return reply


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture(params=["sync", "async"])
def open_store(request: pytest.FixtureRequest, wire: Wire) -> Iterator[Callable[..., Store]]:
    """Stores on a supabase-py client whose HTTP goes to ``wire``."""
    transport = httpx.MockTransport(wire.handle)
    if request.param == "sync":
        client = Client(URL, KEY, SyncClientOptions(httpx_client=httpx.Client(transport=transport)))
        yield lambda **kw: Store.from_supabase(client, **kw)
        return
    loop = asyncio.new_event_loop()
    aclient = AsyncClient(URL, KEY, AsyncClientOptions(httpx_client=httpx.AsyncClient(transport=transport)))
    yield lambda **kw: cast(Store, Blocking(AsyncStore.from_supabase(aclient, **kw), loop))
    loop.close()


@pytest.fixture
def member(open_store: Callable[..., Store], wire: Wire) -> Store:
    """A member's store, its membership already looked up (one request, checked here)."""
    store = open_store(access_token=USER_TOKEN)
    wire.reply(200, [MEMBER_ROW])
    assert store.me().id == MEMBER
    lookup = wire.sent.pop()
    assert (lookup.method, lookup.path) == ("GET", "/rest/v1/users")
    assert lookup.query == [
        ("select", "id,tenant_id,auth_id,email,display_name,role,is_active,created_at,updated_at"),
        ("auth_id", f"eq.{AUTH_ID}"),
        ("is_active", "is.true"),
        ("limit", "2"),
    ]
    return store


def test_every_request_carries_the_users_token_and_the_api_key(member: Store, wire: Wire) -> None:
    wire.reply(200, conversation_row())
    member.conversations.get(uuid.uuid4())
    [sent] = wire.sent
    assert sent.headers["authorization"] == f"Bearer {USER_TOKEN}"
    assert sent.headers["apikey"] == KEY


def test_a_service_store_sends_the_clients_own_key(open_store: Callable[..., Store], wire: Wire) -> None:
    wire.reply(200, [])
    assert open_store().tenants.list() == []
    assert wire.sent[0].headers["authorization"] == f"Bearer {KEY}"
    # reads name the columns the models know: a column added later is neither read nor fatal
    assert wire.sent[0].query == [("select", ",".join(Tenant.model_fields)), ("order", "name.asc")]


def test_get_asks_for_one_object_and_a_406_is_not_found(member: Store, wire: Wire) -> None:
    conversation_id = uuid.uuid4()
    row = conversation_row(id=str(conversation_id))
    wire.reply(200, row)
    assert member.conversations.get(conversation_id).id == conversation_id
    wire.error(406, "PGRST116", "JSON object requested, multiple (or no) rows returned")
    with pytest.raises(NotFound, match=f"conversation {conversation_id} not found"):
        member.conversations.get(conversation_id)
    for sent in wire.sent:
        assert (sent.method, sent.path) == ("GET", "/rest/v1/conversations")
        assert sent.headers["accept"] == "application/vnd.pgrst.object+json"
        columns = ",".join(Conversation.model_fields)
        assert sent.query == [
            ("select", columns),
            ("tenant_id", f"eq.{TENANT}"),
            ("id", f"eq.{conversation_id}"),
        ]


def test_a_fresh_store_looks_its_membership_up_first_in_a_request_of_its_own(
    open_store: Callable[..., Store], wire: Wire
) -> None:
    # PostgREST cannot chain requests: the lookup is a request, then the call names the tenant
    store = open_store(access_token=USER_TOKEN)
    conversation_id = uuid.uuid4()
    wire.reply(200, [MEMBER_ROW])
    wire.reply(200, conversation_row(id=str(conversation_id)))
    assert store.conversations.get(conversation_id).id == conversation_id
    lookup, get = wire.sent
    assert (lookup.path, lookup.query[1:]) == (
        "/rest/v1/users",
        [("auth_id", f"eq.{AUTH_ID}"), ("is_active", "is.true"), ("limit", "2")],
    )
    assert (get.path, get.query[1:]) == (
        "/rest/v1/conversations",
        [("tenant_id", f"eq.{TENANT}"), ("id", f"eq.{conversation_id}")],
    )
    # known from then on: the next call is one request
    wire.reply(200, conversation_row(id=str(conversation_id)))
    store.conversations.get(conversation_id)
    assert len(wire.sent) == 3
    # no membership: NotFound from the lookup, and the call is never sent
    other = open_store(access_token=USER_TOKEN)
    wire.reply(200, [])
    with pytest.raises(NotFound, match="no active membership"):
        other.messages.append(conversation_id, role="user", content="hello")
    assert [s.path for s in wire.sent[3:]] == ["/rest/v1/users"]


def test_create_posts_the_validated_json_and_asks_for_the_row_back(member: Store, wire: Wire) -> None:
    wire.reply(201, [conversation_row(metadata={"channel": "web"})])
    created = member.conversations.create("Refund question", metadata={"channel": "web"})
    assert created.metadata == {"channel": "web"}
    [sent] = wire.sent
    assert (sent.method, sent.path) == ("POST", "/rest/v1/conversations")
    assert sent.headers["prefer"] == "return=representation,missing=default"
    assert sent.body == [
        {
            "tenant_id": str(TENANT),
            "user_id": str(MEMBER),
            "title": "Refund question",
            "metadata": {"channel": "web"},
        }
    ]
    [(name, columns)] = sent.query
    assert name == "columns"
    assert set(columns.split(",")) == {'"tenant_id"', '"user_id"', '"title"', '"metadata"'}


def test_bad_input_is_refused_before_any_request(member: Store, wire: Wire) -> None:
    with pytest.raises(InvalidInput, match="title"):
        member.conversations.create("x" * 501)
    with pytest.raises(InvalidInput, match="role"):
        member.messages.append(uuid.uuid4(), role="robot", content="beep")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as too_long:
        member.messages.append(uuid.uuid4(), role="user", content="é" * (2**19) + "!")  # 1 MiB + 1 byte
    assert [(d["field"], d["type"]) for d in too_long.value.details] == [("content", "too_long")]
    assert str(too_long.value).startswith("messages.append: content:")
    assert wire.sent == []
    wire.error(403, "42501", "new row violates row-level security policy")
    with pytest.raises(NotFound):  # exactly 1 MiB: sent (and refused by the server, here)
        member.messages.append(uuid.uuid4(), role="user", content="é" * 2**19)
    assert len(wire.sent) == 1


def test_list_pages_by_keyset_and_reads_the_total_from_content_range(member: Store, wire: Wire) -> None:
    rows = [conversation_row(updated_at=f"2026-11-2{i}T00:00:00+00:00") for i in (3, 2, 1)]
    wire.reply(200, [], {"Content-Range": "*/7"})
    wire.reply(200, rows)
    page = member.conversations.list(limit=2, with_total=True, title_contains="50%_off")
    assert page.total == 7
    assert [str(c.id) for c in page.items] == [rows[0]["id"], rows[1]["id"]]
    assert page.next is not None
    assert read_cursor(page.next, kind="conversations", within=None, field="after", what="") == Position(
        "conversations", datetime(2026, 11, 22, tzinfo=UTC), uuid.UUID(rows[1]["id"])
    )
    counted, listed = wire.sent
    assert counted.headers["prefer"] == "count=exact"
    assert ("limit", "0") in counted.query
    assert ("title", "ilike.%50\\%\\_off%") in listed.query
    assert ("order", "updated_at.desc,id.desc") in listed.query
    assert ("limit", "3") in listed.query

    wire.reply(200, [])
    member.conversations.list(limit=2, after=page.next)
    or_filter = dict(wire.sent[-1].query)["or"]
    at = "2026-11-22T00:00:00+00:00"
    assert or_filter == f'(updated_at.lt."{at}",and(updated_at.eq."{at}",id.lt."{rows[1]["id"]}"))'


def test_search_is_a_call_of_search_messages_in_the_members_tenant(member: Store, wire: Wire) -> None:
    wire.reply(200, [])
    assert member.messages.search('"charged twice" -refund') == []
    [sent] = wire.sent
    # a function, so the full-text index serves it; the database bounds it by the caller's memberships
    assert (sent.method, sent.path) == ("POST", "/rest/v1/rpc/search_messages")
    assert sent.body == {"p_query": '"charged twice" -refund', "p_tenant_id": str(TENANT), "p_limit": 20}


def test_rating_again_after_a_409_changes_the_existing_rating(member: Store, wire: Wire) -> None:
    message_id = uuid.uuid4()
    feedback = {
        "id": str(uuid.uuid4()),
        "tenant_id": str(TENANT),
        "message_id": str(message_id),
        "user_id": str(MEMBER),
        "rating": -1,
        "comment": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    wire.error(
        409,
        "23505",
        'duplicate key value violates unique constraint "feedback_tenant_id_message_id_user_id_key"',
    )
    wire.reply(200, [feedback])
    assert member.feedback.rate(message_id, -1).rating == -1
    posted, patched = wire.sent
    assert (posted.method, patched.method) == ("POST", "PATCH")
    assert patched.body == {"rating": -1, "comment": None}
    assert patched.query == [
        ("tenant_id", f"eq.{TENANT}"),
        ("message_id", f"eq.{message_id}"),
        ("user_id", f"eq.{MEMBER}"),
    ]
    assert patched.headers["prefer"] == "return=representation"


def test_a_conflict_surfaces_as_conflict(open_store: Callable[..., Store], wire: Wire) -> None:
    wire.error(409, "23505", 'duplicate key value violates unique constraint "tenants_slug_key"')
    with pytest.raises(Conflict, match="create tenant 'acme'") as caught:
        open_store().tenants.create("Acme", "acme")
    assert caught.value.sqlstate == "23505"


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (403, "42501", 'new row violates row-level security policy for table "users"'),
        (401, "42501", "permission denied for table users"),
        (401, "PGRST301", "JWT expired"),
    ],
)
def test_refusals_surface_as_permission_denied(
    member: Store, wire: Wire, status: int, code: str, message: str
) -> None:
    wire.error(status, code, message)
    with pytest.raises(PermissionDenied, match=message):
        member.members.add("new@example.test")


def test_an_update_that_matches_nothing_is_not_found(member: Store, wire: Wire) -> None:
    wire.reply(200, [])
    with pytest.raises(NotFound, match="archive conversation"):
        member.conversations.archive(uuid.uuid4())
    assert wire.sent[0].body == {"is_archived": True}


def test_usage_goes_through_the_functions_with_exact_decimals(
    open_store: Callable[..., Store], wire: Wire
) -> None:
    service = open_store()
    usage_row = {
        "tenant_id": str(TENANT),
        "user_id": str(MEMBER),
        "usage_date": "2026-11-22",
        "request_count": 1,
        "prompt_tokens": 3,
        "completion_tokens": 0,
        "total_tokens": 3,
        "cost_usd": 0.0125,
        "updated_at": NOW,
    }
    wire.reply(200, usage_row)
    assert service.usage.increment(TENANT, MEMBER, prompt_tokens=3, cost_usd="0.0125").total_tokens == 3
    wire.reply(200, 1)
    batch = [UsageIncrement(tenant_id=TENANT, user_id=MEMBER, prompt_tokens=2, cost_usd=Decimal("0.1"))]
    assert service.usage.increment_many(batch) == 1
    wire.reply(204)
    service.usage.refresh_summaries()
    single, many, refresh = wire.sent
    assert (single.method, single.path) == ("POST", "/rest/v1/rpc/increment_usage")
    assert single.body == {
        "p_tenant_id": str(TENANT),
        "p_user_id": str(MEMBER),
        "p_prompt_tokens": 3,
        "p_completion_tokens": 0,
        "p_cost_usd": "0.0125",
        "p_request_count": 1,
    }
    assert many.path == "/rest/v1/rpc/increment_usage_batch"
    assert many.body == {
        "p_increments": [
            {
                "tenant_id": str(TENANT),
                "user_id": str(MEMBER),
                "request_count": 1,
                "prompt_tokens": 2,
                "completion_tokens": 0,
                "cost_usd": "0.1",
            }
        ]
    }
    assert refresh.path == "/rest/v1/rpc/refresh_summaries"


def test_summaries_are_function_calls_filtered_by_the_database(member: Store, wire: Wire) -> None:
    wire.reply(200, [])
    wire.reply(200, [])
    conversation_id = uuid.uuid4()
    assert member.feedback.summary(conversation_id) == []
    assert member.usage.monthly() == []
    feedback, monthly = wire.sent
    assert (feedback.path, feedback.body) == (
        "/rest/v1/rpc/message_feedback_summary",
        {"p_conversation_id": str(conversation_id), "p_tenant_id": str(TENANT)},
    )
    assert (monthly.path, monthly.body) == (
        "/rest/v1/rpc/monthly_usage_summary",
        {"p_tenant_id": str(TENANT)},
    )


def test_an_unreachable_api_is_unavailable(open_store: Callable[..., Store], wire: Wire) -> None:
    wire.replies.append(httpx.ConnectError("connection refused"))
    with pytest.raises(Unavailable, match="could not be reached"):
        open_store().tenants.create("Acme", "acme")  # a POST: postgrest-py retries only reads


def test_invitations_are_function_calls_and_a_revoke_is_a_delete(member: Store, wire: Wire) -> None:
    invitation_id, expires = uuid.uuid4(), "2026-11-29T10:00:00+00:00"
    wire.reply(200, [{"invitation_id": str(invitation_id), "token": "t" * 64, "expires_at": expires}])
    made = member.members.invite("new@example.test", role="admin")
    assert (made.invitation_id, made.token) == (invitation_id, "t" * 64)
    wire.reply(200, [{"id": str(invitation_id)} | INVITATION])
    assert member.members.revoke_invitation(invitation_id).id == invitation_id
    invite, revoke = wire.sent
    assert (invite.method, invite.path) == ("POST", "/rest/v1/rpc/invite_member")
    assert invite.body == {
        "p_tenant_id": str(TENANT),
        "p_email": "new@example.test",
        "p_role": "admin",
        "p_valid_for": "P7D",
    }
    assert (revoke.method, revoke.path) == ("DELETE", "/rest/v1/invitations")
    assert revoke.query == [("tenant_id", f"eq.{TENANT}"), ("id", f"eq.{invitation_id}")]


INVITATION = {
    "tenant_id": str(TENANT),
    "email": "new@example.test",
    "role": "admin",
    "invited_by": str(MEMBER),
    "sent_by_service": False,
    "expires_at": NOW,
    "accepted_at": None,
    "member_id": None,
    "created_at": NOW,
}


def test_accepting_and_listing_memberships_send_the_users_token(
    open_store: Callable[..., Store], wire: Wire
) -> None:
    store = open_store(access_token=USER_TOKEN)
    wire.reply(200, MEMBER_ROW)
    assert store.accept_invitation("secret-token").id == MEMBER
    wire.reply(200, [{"tenant_id": str(TENANT), "tenant_name": "Acme", "tenant_slug": "acme"} | ROLE])
    [membership] = store.memberships()
    assert (membership.tenant_id, membership.member_id) == (TENANT, MEMBER)
    accept, listing = wire.sent
    assert (accept.path, accept.body) == ("/rest/v1/rpc/accept_invitation", {"p_token": "secret-token"})
    assert listing.path == "/rest/v1/rpc/my_memberships"
    assert all(s.headers["authorization"] == f"Bearer {USER_TOKEN}" for s in wire.sent)


ROLE = {"member_id": str(MEMBER), "role": "member"}


def test_an_unknown_invitation_is_not_found(open_store: Callable[..., Store], wire: Wire) -> None:
    wire.error(400, "P0002", "no such invitation, or it was used, revoked or has expired")
    with pytest.raises(NotFound):
        open_store(access_token=USER_TOKEN).accept_invitation("stale")


@pytest.mark.parametrize("client", [None, "https://x.supabase.co", object()])
def test_a_store_needs_a_supabase_client_of_its_kind(client: object) -> None:
    for store in (Store, AsyncStore):
        with pytest.raises(InvalidInput) as refused:
            store.from_supabase(client)  # type: ignore[arg-type]
        assert refused.value.details[0]["field"] == "client"
    made = Client(URL, KEY)
    assert Store.from_supabase(made).backend is not None  # the allowed kind
    with pytest.raises(InvalidInput):
        AsyncStore.from_supabase(made)  # type: ignore[arg-type]  # a sync client for the async store
