"""The assistant turn on the supabase-py backend, at the HTTP boundary: the function calls a
streamed reply and a recorded turn send, and threads paged by ``seq``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest

from supatenant import AsyncMessageStream, NotFound, QuotaExceeded, Store
from supatenant.models import Message
from supatenant.paging import Position, read_cursor
from tests.blocking import Blocking
from tests.unit.test_supabase_wire import MEMBER, NOW, TENANT, Wire, member, open_store, wire

__all__ = ["member", "open_store", "wire"]  # the fixtures, shared with the main wire tests

CONV = uuid.uuid4()


def message_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": str(TENANT),
        "conversation_id": str(CONV),
        "user_id": str(MEMBER),
        "role": "assistant",
        "content": "",
        "tool_calls": None,
        "model": "m",
        "token_count": None,
        "latency_ms": None,
        "metadata": {},
        "created_at": NOW,
        "seq": 2,
        "status": "streaming",
        "status_reason": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "cost_usd": None,
        "reserved_tokens": None,
        "streamed_at": NOW,
        "completed_at": None,
        "metered_at": None,
    }
    return row | changes


def test_a_streamed_reply_is_three_function_calls(open_store: Callable[..., Store], wire: Wire) -> None:
    back = open_store().for_member(TENANT, MEMBER)
    opened = message_row()
    wire.reply(200, opened)
    wire.reply(200, 9)
    wire.reply(200, message_row(id=opened["id"], content="Hello, world", status="complete", cost_usd=0.0001))
    s: Any = back.messages.stream(CONV, model="m", reserve_tokens=500, flush_bytes=8)
    if isinstance(s, AsyncMessageStream):  # driven on the async store's loop
        s = Blocking(s, cast(Any, back.messages)._loop)
    s.open()  # what the context manager does on entry and exit, callable on both APIs here
    s.append("Hello, ")
    s.append("wo")  # 9 bytes buffered: flushed
    s.append("rld")
    s.set_usage(prompt_tokens=5, completion_tokens=3, cost_usd="0.0001", latency_ms=20)
    s.complete()
    assert s.message is not None
    assert s.message.status == "complete"
    open_call, append_call, close_call = wire.sent
    assert (open_call.path, open_call.body) == (
        "/rest/v1/rpc/open_message",
        {
            "p_tenant_id": str(TENANT),
            "p_conversation_id": str(CONV),
            "p_member_id": str(MEMBER),
            "p_role": "assistant",
            "p_model": "m",
            "p_reserve_tokens": 500,
        },
    )
    assert (append_call.path, append_call.body) == (
        "/rest/v1/rpc/append_message_text",
        {
            "p_tenant_id": str(TENANT),
            "p_message_id": opened["id"],
            "p_text": "Hello, wo",
            "p_member_id": str(MEMBER),
        },
    )
    assert (close_call.path, close_call.body) == (
        "/rest/v1/rpc/close_message",
        {
            "p_tenant_id": str(TENANT),
            "p_message_id": opened["id"],
            "p_status": "complete",
            "p_reason": None,
            "p_prompt_tokens": 5,
            "p_completion_tokens": 3,
            "p_cost_usd": "0.0001",
            "p_latency_ms": 20,
            "p_text": "rld",
            "p_member_id": str(MEMBER),
        },
    )


def test_a_recorded_turn_is_one_call_and_a_quota_refusal_is_typed(
    open_store: Callable[..., Store], wire: Wire
) -> None:
    back = open_store().for_member(TENANT, MEMBER)
    asked = message_row(role="user", seq=1, status="complete", content="q", model=None)
    answered = message_row(seq=2, status="complete", content="a", prompt_tokens=1, completion_tokens=2)
    wire.reply(200, [asked, answered])
    turn = back.messages.record_turn(
        CONV,
        user_content="q",
        assistant_content="a",
        prompt_tokens=1,
        completion_tokens=2,
        idempotency_key="k1",
    )
    assert (str(turn.user.id), str(turn.assistant.id)) == (asked["id"], answered["id"])
    [sent] = wire.sent
    assert (sent.path, sent.body) == (
        "/rest/v1/rpc/record_turn",
        {
            "p_tenant_id": str(TENANT),
            "p_conversation_id": str(CONV),
            "p_member_id": str(MEMBER),
            "p_user_content": "q",
            "p_assistant_content": "a",
            "p_idempotency_key": "k1",
            "p_prompt_tokens": 1,
            "p_completion_tokens": 2,
            "p_cost_usd": "0",
        },
    )
    wire.error(400, "STQ01", "tenant has used its 1000 tokens for this month")
    with pytest.raises(QuotaExceeded) as refused:
        back.messages.record_turn(CONV, user_content="q", assistant_content="a")
    assert refused.value.sqlstate == "STQ01"


def test_a_thread_pages_back_by_seq(member: Store, wire: Wire) -> None:
    rows = [message_row(seq=n, status="complete") for n in (9, 8, 7)]
    wire.reply(200, {"tenant_id": str(TENANT), "id": str(CONV), "messages": rows})
    page = member.messages.list(CONV, limit=2)
    assert page.next is not None
    assert read_cursor(page.next, kind="messages", within=CONV, field="after", what="") == Position(
        "messages", 8, uuid.UUID(rows[1]["id"]), CONV
    )
    wire.reply(200, {"tenant_id": str(TENANT), "id": str(CONV), "messages": []})
    member.messages.list(CONV, limit=2, after=page.next)
    first, second = wire.sent
    # one request: the conversation (NotFound when it is not the caller's) and its messages
    assert first.path.endswith("/conversations")
    assert first.headers["accept"] == "application/vnd.pgrst.object+json"
    assert ("id", f"eq.{CONV}") in first.query
    assert ("messages.order", "seq.desc,id.desc") in first.query
    assert ("messages.limit", "3") in first.query
    keyset = f'(seq.lt."8",and(seq.eq."8",id.lt."{rows[1]["id"]}"))'
    assert ("messages.or", keyset) in second.query
    wire.error(406, "PGRST116", "JSON object requested, multiple (or no) rows returned")
    with pytest.raises(NotFound):
        member.messages.list(uuid.uuid4())


def test_a_thread_is_one_request_embedding_its_latest_messages(member: Store, wire: Wire) -> None:
    conversation = {
        "id": str(CONV),
        "tenant_id": str(TENANT),
        "user_id": str(MEMBER),
        "title": "t",
        "metadata": {},
        "is_archived": False,
        "message_count": 3,
        "last_message_at": None,
        "created_at": "2026-11-22T00:00:00+00:00",
        "updated_at": "2026-11-22T00:00:00+00:00",
    }
    latest = [message_row(seq=n, status="complete") for n in (3, 2, 1)]
    wire.reply(200, {**conversation, "messages": latest})
    thread = member.conversations.thread(CONV, limit=2)
    [sent] = wire.sent  # one request: PostgREST reads both in one statement, one snapshot
    query = dict(sent.query)
    assert query["select"].endswith(",messages(" + ",".join(Message.model_fields) + ")")
    assert query["messages.order"] == "seq.desc,id.desc"
    assert query["messages.limit"] == "3"
    assert query["id"] == f"eq.{CONV}"
    assert sent.headers["accept"] == "application/vnd.pgrst.object+json"
    assert [m.seq for m in thread.messages] == [2, 3]
    assert thread.has_more
    assert thread.next is not None
    assert read_cursor(thread.next, kind="messages", within=CONV, field="after", what="").at == 2
