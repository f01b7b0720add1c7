"""Through the stores: every argument refused by hand (not by pydantic) names its field in
InvalidInput.details, and nothing is written; the same call with a good value goes through."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from supatenant import InvalidInput, Store
from tests.integration.helpers import make_tenant


@pytest.fixture(scope="module")
def url(migrated_database: Callable[[], str]) -> str:
    return migrated_database()


@pytest.fixture
def service(url: str) -> Iterator[Store]:
    with Store.connect(url, service_role=True, max_size=2) as store:
        yield store


def _thread(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A new tenant, its member and a conversation of theirs."""
    conversation = uuid.uuid4()
    with psycopg.connect(url) as conn:
        tenant = make_tenant(conn)
        conn.execute(
            "insert into conversations (id, tenant_id, user_id) values (%s, %s, %s)",
            (conversation, tenant.id, tenant.members[0]),
        )
    return tenant.id, tenant.members[0], conversation


def _messages(url: str, tenant_id: uuid.UUID) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from messages where tenant_id = %s", (tenant_id,)).fetchone()
    assert row is not None
    return int(row[0])


def _fields(e: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(d["field"], d["type"]) for d in e.value.details]


@pytest.mark.parametrize(
    ("reserve", "expected"),
    [
        (-5, ("reserve_tokens", "greater_than_equal")),
        (2**31, ("reserve_tokens", "less_than_equal")),
        ("many", ("reserve_tokens", "int_parsing")),  # pydantic's own check, the same shape
    ],
)
def test_stream_reserve_tokens_is_named(
    url: str, service: Store, reserve: Any, expected: tuple[str, str]
) -> None:
    tenant, member, conversation = _thread(url)
    back = service.for_member(tenant, member)
    with pytest.raises(InvalidInput) as e:
        back.messages.stream(conversation, reserve_tokens=reserve)
    assert _fields(e) == [expected]
    assert _messages(url, tenant) == 0
    with back.messages.stream(conversation, reserve_tokens=10) as s:
        s.append("fine")
    assert _messages(url, tenant) == 1


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": -1}, ("prompt_tokens", "greater_than_equal")),
        ({"completion_tokens": 2**31}, ("completion_tokens", "less_than_equal")),
        ({"latency_ms": -2}, ("latency_ms", "greater_than_equal")),
        ({"cost_usd": "0.0000001"}, ("cost_usd", "value_error")),  # the Money type's own check
    ],
)
def test_record_turn_usage_is_named(
    url: str, service: Store, usage: dict[str, Any], expected: tuple[str, str]
) -> None:
    tenant, member, conversation = _thread(url)
    back = service.for_member(tenant, member)
    with pytest.raises(InvalidInput) as e:
        back.messages.record_turn(conversation, user_content="q", assistant_content="a", **usage)
    assert _fields(e) == [expected]
    assert _messages(url, tenant) == 0
    back.messages.record_turn(conversation, user_content="q", assistant_content="a", prompt_tokens=1)
    assert _messages(url, tenant) == 2


def test_stream_flush_settings_and_usage_are_named(url: str, service: Store) -> None:
    tenant, member, conversation = _thread(url)
    back = service.for_member(tenant, member)
    with pytest.raises(InvalidInput) as e:
        back.messages.stream(conversation, flush_bytes=0)
    assert _fields(e) == [("flush_bytes", "greater_than_equal")]
    with pytest.raises(InvalidInput) as e:
        back.messages.stream(conversation, flush_seconds=-1.0)
    assert _fields(e) == [("flush_seconds", "greater_than_equal")]
    with back.messages.stream(conversation, flush_bytes=1) as s:
        s.append("kept")
        with pytest.raises(InvalidInput) as e:
            s.set_usage(completion_tokens=-1)
        assert _fields(e) == [("completion_tokens", "greater_than_equal")]
        with pytest.raises(InvalidInput) as e:
            s.append("x" * 1_048_576)  # past the size limit: refused, nothing kept
        assert _fields(e) == [("text", "too_long")]
        with pytest.raises(InvalidInput) as e:
            s.append(b"bytes")  # type: ignore[arg-type]
        assert _fields(e) == [("text", "string_type")]
    assert s.message is not None
    assert (s.message.content, s.message.status) == ("kept", "complete")


def test_exporting_a_member_and_a_conversation_at_once_names_both(url: str, service: Store) -> None:
    tenant, member, conversation = _thread(url)
    with pytest.raises(InvalidInput) as e:
        list(service.export.jsonl(tenant_id=tenant, member_id=member, conversation_id=conversation))
    assert _fields(e) == [("member_id", "exclusive"), ("conversation_id", "exclusive")]
    assert any(
        b'"type": "end"' in chunk or b'"type":"end"' in chunk
        for chunk in service.export.jsonl(tenant_id=tenant, conversation_id=conversation)
    )


def test_acting_as_two_callers_at_once_names_both(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Store.connect(url, auth_user_id=uuid.uuid4(), service_role=True)
    assert _fields(refused) == [("auth_user_id", "exclusive"), ("service_role", "exclusive")]
    with Store.connect(url, service_role=True, max_size=1) as alone:  # one of them: fine
        assert alone.as_service() is not None


def test_a_user_of_several_tenants_is_asked_for_tenant_id(url: str, service: Store) -> None:
    auth_id = uuid.uuid4()
    with psycopg.connect(url) as conn:
        first, second = make_tenant(conn), make_tenant(conn)
        conn.execute("insert into auth.users (id, email) values (%s, 'two@example.test')", (auth_id,))
        for tenant in (first, second):
            conn.execute(
                "update users set auth_id = %s, email = 'two@example.test' where id = %s",
                (auth_id, tenant.members[0]),
            )
    with pytest.raises(InvalidInput) as refused:
        service.as_user(auth_id).conversations.create("where?")
    assert _fields(refused) == [("tenant_id", "missing")]
    with psycopg.connect(url) as conn:
        written = conn.execute(
            "select count(*) from conversations where tenant_id in (%s, %s)", (first.id, second.id)
        ).fetchone()
    assert written == (0,)
    chosen = service.as_user(auth_id, tenant_id=second.id).conversations.create("here")
    assert chosen.tenant_id == second.id
