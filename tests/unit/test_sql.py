"""The psycopg compiler: one text per shape, parameters in the order the text takes them, and
the caller's ids (before the store knows them) read from the transaction's settings."""

from __future__ import annotations

import uuid

import pytest
from psycopg.types.json import Jsonb

from supatenant import _sql
from supatenant.ops import (
    CALLER_MEMBER,
    CALLER_TENANT,
    AllOf,
    AnyOf,
    Call,
    Cmp,
    Delete,
    Insert,
    Lookup,
    Op,
    Order,
    Select,
    Update,
    eq,
)

T, M = str(CALLER_TENANT), str(CALLER_MEMBER)


def ops(a: str, b: str) -> list[Op]:
    """Operations of every kind, with ``a`` and ``b`` where values go."""
    return [
        Select("messages", (eq("tenant_id", a), eq("conversation_id", b)), (Order("seq", True),), 51),
        Select("conversations", (eq("tenant_id", T), eq("id", a)), single=True, columns=("id", "title")),
        Select(
            "conversations",
            (
                Cmp("id", "in", [a, T, b]),
                Cmp("is_archived", "is", False),
                AnyOf((Cmp("updated_at", "lt", a), AllOf((eq("updated_at", b), Cmp("id", "lt", a))))),
                Cmp("title", "wfts", b),
            ),
        ),
        Select("conversations", (Cmp("id", "in", []),), count=True),
        Insert(
            "messages",
            ({"tenant_id": T, "conversation_id": a, "metadata": {"k": b}}, {"tenant_id": a, "content": b}),
        ),
        Update("feedback", {"rating": a, "comment": None}, (eq("tenant_id", T), eq("user_id", M))),
        Delete("feedback", (eq("tenant_id", a), eq("message_id", b))),
        Call("search_messages", {"p_query": a, "p_tenant_id": T, "p_limit": 20}),
        Call("tenant_quota", {"p_tenant_id": b}, "value"),
    ]


def plain(params: list[object]) -> list[object]:
    return [p.obj if isinstance(p, Jsonb) else p for p in params]


def test_one_text_per_shape_and_the_values_as_parameters() -> None:
    x, y = str(uuid.uuid4()), str(uuid.uuid4())
    for first, second in zip(ops("a", "b"), ops(x, y), strict=True):
        (query, params), (again, other) = _sql.statement(first), _sql.statement(second)
        assert query is again  # composed once, kept
        # a kept text takes the parameters in the order composing it anew would
        assert plain(other) == plain(_sql._COMPOSE[type(second)](second)[1])
        assert query.count(b"%s") == len(params) == len(other)
        assert T not in other  # the caller's ids are never parameters
        assert M not in other
        assert x.encode() not in query  # values never go into the text


def test_the_callers_ids_are_read_from_the_transactions_settings() -> None:
    query, params, names_caller = _sql.compile_op(ops("a", "b")[1])
    assert names_caller
    assert query == (
        b'select "id", "title" from "public"."conversations"'
        b' where "tenant_id" = current_setting(\'supatenant.tenant_id\')::uuid and "id" = %s limit 2'
    )
    assert params == ["a"]
    update = _sql.compile_op(ops("a", "b")[5])
    assert update[2]
    assert b"current_setting('supatenant.member_id')::uuid" in update[0]
    assert not _sql.compile_op(ops("a", "b")[0])[2]


@pytest.mark.parametrize("chosen", [None, uuid.uuid4()])
def test_the_lookup_sets_the_ids_only_when_it_finds_one_membership(chosen: uuid.UUID | None) -> None:
    auth = uuid.uuid4()
    query, params = _sql.lookup(Lookup(auth, chosen, ("id", "tenant_id")))
    assert params == [str(auth)] + ([str(chosen)] if chosen else [])
    assert b"count(*) over ()" in query
    assert b"case found when 1 then tenant_id::text else '' end" in query
    assert b"case found when 1 then id::text else '' end" in query
    assert query.startswith(
        b'select "id", "tenant_id" from (select *, count(*) over () as found from (select'
    )
