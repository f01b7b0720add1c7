"""The API's contract with a production app: reads survive an additive migration, updates
change exactly what is given (None clears), and bad arguments never reach the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from supatenant import UNSET, InvalidInput, PermissionDenied, Store
from supatenant.errors import DatabaseError, RejectedInput
from supatenant.models import ConversationsUpdate, TenantsUpdate, UsersUpdate
from tests.integration.test_store import Tenancy, _make_tenancy

# columns a newer migration could add to every table the app reads (expand, then contract)
ADDITIVE = [
    "alter table public.{t} add column added_later text not null default 'new'",
    "alter table public.{t} add column added_later_json jsonb",
]


def test_reads_and_writes_survive_a_column_added_by_a_newer_migration(
    migrated_database: Callable[[], str],
) -> None:
    url = migrated_database()
    t = _make_tenancy(url)
    with psycopg.connect(url) as conn:
        for table in ("tenants", "users", "conversations", "messages", "feedback", "usage_metrics"):
            for statement in ADDITIVE:
                conn.execute(statement.format(t=table))
    with Store.connect(url, service_role=True, max_size=2) as service:
        m1 = service.as_user(t.auth["m1"])
        conv = m1.conversations.create("after the expand")
        assert m1.conversations.get(conv.id).title == "after the expand"
        back_end = service.for_member(t.tenant_id, t.member["m1"])
        answer = back_end.messages.append(conv.id, role="assistant", content="hello")
        m1.messages.append(conv.id, role="user", content="hi")
        assert [m.content for m in m1.conversations.thread(conv.id).messages] == ["hello", "hi"]
        assert m1.feedback.rate(answer.id, 1).rating == 1
        assert m1.me().id == t.member["m1"]
        assert service.tenants.get(t.tenant_id).id == t.tenant_id
        assert [c.id for c in m1.conversations.list().items] == [conv.id]
        service.usage.increment(t.tenant_id, t.member["m1"], prompt_tokens=3)
        assert sum(r.prompt_tokens for r in service.usage.list(tenant_id=t.tenant_id)) == 3
        assert m1.conversations.archive(conv.id).is_archived


def test_updates_change_what_is_given_and_none_clears(db_url: str) -> None:
    t: Tenancy = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        m1 = service.as_user(t.auth["m1"])
        conv = m1.conversations.create("titled", metadata={"k": 1})
        same = m1.conversations.update(conv.id)
        assert (same.title, same.metadata, same.updated_at) == ("titled", {"k": 1}, conv.updated_at)
        cleared = m1.conversations.update(conv.id, title=None)
        assert (cleared.title, cleared.metadata) == (None, {"k": 1})
        assert m1.conversations.update(conv.id, metadata={}).metadata == {}
        with pytest.raises(InvalidInput, match="metadata"):
            m1.conversations.update(conv.id, metadata=None)  # type: ignore[arg-type]
        before = service.tenants.get(t.tenant_id)
        assert service.tenants.update(t.tenant_id).plan == before.plan
        with pytest.raises(InvalidInput, match="name"):
            service.tenants.update(t.tenant_id, name=None)  # type: ignore[arg-type]
        assert service.tenants.update(t.tenant_id, is_active=True, name=UNSET).name == before.name


def test_update_models_carry_no_defaults() -> None:
    for model in (ConversationsUpdate, TenantsUpdate, UsersUpdate):
        assert model().model_dump(exclude_none=True) == {}, model
        assert all(not f.is_required() and f.default is None for f in model.model_fields.values())


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("list", {"limit": 0}, "limit"),
    ("list", {"limit": 10**9}, "limit"),
    ("list", {"limit": "ten"}, "limit"),
    ("get", {"conversation_id": "not-a-uuid"}, "conversation_id"),
    ("get", {"conversation_id": 42}, "conversation_id"),
    ("create", {"title": "nul \x00 byte"}, "title"),
    ("create", {"title": "lone \ud800 surrogate"}, "title"),
    ("create", {"metadata": {"bad": object()}}, "metadata"),
    ("create", {"metadata": {"nested": ["nul\x00"]}}, "metadata"),
    ("create", {"surprise": 1}, "input"),
]


@pytest.mark.parametrize(("method", "arguments", "field"), BAD_ARGUMENTS)
def test_bad_arguments_are_invalid_input_with_the_field_and_nothing_is_sent(
    db_url: str, method: str, arguments: dict[str, Any], field: str
) -> None:
    t = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        m1 = service.as_user(t.auth["m1"])
        m1.me()
        with pytest.raises(InvalidInput) as caught:
            getattr(m1.conversations, method)(**arguments)
        error = caught.value
        assert not isinstance(error, DatabaseError)  # nothing reached the database
        assert error.sqlstate is None
        assert [d["field"].split(".")[0] for d in error.details] == [field]
        assert m1.conversations.list().items == []


def test_values_the_database_refuses_are_rejected_input_with_their_sqlstate(db_url: str) -> None:
    t = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        with pytest.raises(RejectedInput) as caught:
            service.tenants.create("  ", f"blank-{uuid.uuid4().hex[:8]}")  # the name check (23514)
        assert caught.value.sqlstate == "23514"
        assert isinstance(caught.value, InvalidInput)
        assert isinstance(caught.value, DatabaseError)
        assert service.tenants.get(t.tenant_id).id == t.tenant_id


def test_a_failed_call_in_a_unit_of_work_undoes_itself_only(db_url: str) -> None:
    t = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        m1 = service.as_user(t.auth["m1"])
        back_end = service.for_member(t.tenant_id, t.member["m1"])
        conv = m1.conversations.create("rated twice")
        answer = back_end.messages.append(conv.id, role="assistant", content="an answer")
        with m1.unit_of_work() as uow:
            kept = uow.conversations.create("kept")
            uow.feedback.rate(answer.id, 1, comment="first")
            rerated = uow.feedback.rate(answer.id, -1, comment="second")  # insert conflicts, then updates
            with pytest.raises(PermissionDenied):
                uow.members.add("not-allowed@example.test")  # refused, caught: the unit goes on
            with pytest.raises(InvalidInput):
                uow.conversations.get("nope")  # type: ignore[arg-type]
            also = uow.conversations.create("also kept")
            uow.commit()
        assert (rerated.rating, rerated.comment) == (-1, "second")
        titles = {c.title for c in m1.conversations.list().items}
        assert {kept.title, also.title} <= titles
        [feedback] = m1.feedback.list(message_id=answer.id)
        assert (feedback.rating, feedback.comment) == (-1, "second")
        assert all(m.email != "not-allowed@example.test" for m in service.members.list(tenant_id=t.tenant_id))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"cost_usd": 0.1}, "cost_usd"),  # a float: never money
        ({"cost_usd": "0.1234567"}, "cost_usd"),  # finer than the column's millionth
        ({"cost_usd": Decimal("1e-7")}, "cost_usd"),
    ],
)
def test_money_is_exact_or_refused(db_url: str, arguments: dict[str, Any], field: str) -> None:
    t = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        with pytest.raises(InvalidInput) as caught:
            service.usage.increment(t.tenant_id, t.member["m1"], **arguments)
        assert [d["field"] for d in caught.value.details] == [field]
        assert service.usage.list(tenant_id=t.tenant_id) == []
        row = service.usage.increment(t.tenant_id, t.member["m1"], cost_usd="0.123456")
        assert row.cost_usd == Decimal("0.123456")


def test_a_limit_is_an_int(db_url: str) -> None:
    t = _make_tenancy(db_url)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        m1 = service.as_user(t.auth["m1"])
        for bad in (True, "5", 5.0):
            with pytest.raises(InvalidInput, match="limit"):
                m1.conversations.list(limit=bad)  # type: ignore[arg-type]
        assert m1.conversations.list(limit=5).items == []
