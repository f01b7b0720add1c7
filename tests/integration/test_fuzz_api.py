"""Generated arguments at every public method of both stores, as every kind of caller.

Arguments are drawn from each method's own annotations, valid and not: real ids of the
caller's rows, a colleague's and another tenant's, random UUIDs, text with NUL characters
and lone surrogates, integers past any column, wrong types. Whatever a call does, only a
:class:`SupatenantError` may escape it, and a call that raises leaves every table as it was.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supatenant import AsyncStore, Store, SupatenantError
from supatenant._edge import Unset
from supatenant._sync.repositories.conversations import Conversations
from supatenant._sync.repositories.feedback import Feedback
from supatenant._sync.repositories.governance import Governance
from supatenant._sync.repositories.members import Members
from supatenant._sync.repositories.messages import Messages
from supatenant._sync.repositories.tenants import Tenants
from supatenant._sync.repositories.usage import Usage
from supatenant.paging import Position, write_cursor
from tests.blocking import Blocking
from tests.integration.test_store import Tenancy, _make_tenancy

REPOSITORIES: dict[str, type] = {
    "tenants": Tenants,
    "members": Members,
    "conversations": Conversations,
    "messages": Messages,
    "feedback": Feedback,
    "usage": Usage,
    "governance": Governance,
}
STORE_METHODS = (
    "me",
    "memberships",
    "scope",
    "accept_invitation",
    "as_user",
    "as_identity",
    "as_service",
    "for_member",
    "known_tenant",
)
TABLES = ("tenants", "users", "invitations", "conversations", "messages", "feedback", "usage_metrics")

GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.just(object()),
    st.lists(st.integers(), max_size=2),
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "nul\x00", "surrogate \ud800", "x" * 5000, "%_\\", "'; drop table x; --"]),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@dataclass
class World:
    url: str
    conn: psycopg.Connection[Any]  # a superuser's, outside RLS: reads what is really there
    t: Tenancy
    ids: list[UUID]  # real ids of every kind: the caller's, a colleague's, another tenant's


def uuid_of(value: UUID | None) -> UUID:
    assert value is not None
    return value


FINGERPRINT = " union all ".join(
    f"select '{table}', count(*) || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '')"
    f" from public.{table} t"
    for table in TABLES
)


def fingerprint(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Every row of every table, hashed: what a failed call must leave as it was."""
    return {str(table): str(digest) for table, digest in conn.execute(FINGERPRINT).fetchall()}


def for_type(tp: Any, world: World) -> st.SearchStrategy[Any]:
    """Values for an annotation: mostly of its type (real ids among them), sometimes garbage."""
    return st.one_of(_typed(tp, world), GARBAGE) if tp is not Any else GARBAGE


def _typed(tp: Any, world: World) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _typed(args[0], world)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_typed(a, world) for a in args])
    if tp is type(None):
        return st.none()
    if tp is UUID:
        return st.one_of(st.sampled_from(world.ids), st.uuids())
    if tp is str:
        return TEXT
    if tp is bool:
        return st.booleans()
    if tp is int:
        edges = st.sampled_from([-1, 0, 1, 2**31 - 1, 2**31, 2**63, -(2**63) - 1])
        return st.one_of(edges, st.integers(-5, 1200), st.integers(-(2**70), 2**70))
    if tp is Decimal:
        return st.decimals(allow_nan=True, allow_infinity=True)
    if tp is float:
        return st.one_of(st.sampled_from([-1.0, 0.0, float("nan"), float("inf")]), st.floats(allow_nan=True))
    if tp is date:
        return st.dates()
    if tp is datetime:
        return st.datetimes(timezones=st.sampled_from([None, UTC]))
    if tp is timedelta:
        return st.timedeltas()
    if tp is Unset:
        return st.just(Unset.UNSET)
    if origin is dict or tp is dict:
        return st.one_of(st.dictionaries(st.text(max_size=6), JSON, max_size=3), st.just({"x": object()}))
    if origin in (list, Iterable) or tp is list:
        return st.lists(JSON, max_size=3)
    return GARBAGE


def cursors(world: World) -> st.SearchStrategy[Any]:
    """Cursors as a client may send them: well-formed ones of any list and position (other
    conversations' among them), cut or altered ones, and garbage."""
    well_formed = st.builds(
        Position,
        st.sampled_from(["conversations", "messages"]),
        st.one_of(st.integers(0, 2**63 - 1), st.datetimes(timezones=st.just(UTC))),
        st.one_of(st.sampled_from(world.ids), st.uuids()),
        st.one_of(st.none(), st.sampled_from(world.ids)),
    ).map(write_cursor)
    altered = st.tuples(well_formed, st.integers(0, 120), st.text(max_size=3)).map(
        lambda c: c[0][: c[1]] + c[2]
    )
    return st.one_of(st.none(), well_formed, altered, for_type(str, world))


def arguments(fn: Callable[..., Any], world: World) -> st.SearchStrategy[tuple[list[Any], dict[str, Any]]]:
    hints = typing.get_type_hints(fn, include_extras=True)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[Any], dict[str, Any]]:
        positional: list[Any] = []
        named: dict[str, Any] = {}
        for name, p in inspect.signature(fn).parameters.items():
            if name == "self":
                continue
            if p.default is not inspect.Parameter.empty and draw(st.booleans()):
                continue  # left to its default
            strategy = (
                cursors(world) if name in ("after", "before") else for_type(hints.get(name, Any), world)
            )
            value = draw(strategy)
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and not named:
                positional.append(value)
            else:
                named[name] = value
        if draw(st.integers(0, 20)) == 0:
            named["unexpected"] = draw(GARBAGE)
        return positional, named

    return build()


@pytest.fixture(scope="module")
def world(migrated_database: Callable[[], str]) -> Iterator[World]:
    url = migrated_database()
    t = _make_tenancy(url)
    with Store.connect(url, service_role=True, max_size=1) as service:
        ids: list[UUID] = [t.tenant_id, t.other_tenant_id, *t.auth.values(), *t.member.values()]
        for actor in ("m1", "m2", "outsider"):
            store = service.as_user(t.auth[actor])
            conv = store.conversations.create(f"{actor}'s")
            tenant = t.other_tenant_id if actor == "outsider" else t.tenant_id
            answer = service.for_member(tenant, t.member[actor]).messages.append(
                conv.id, role="assistant", content="an answer"
            )
            store.feedback.rate(answer.id, 1)
            ids += [conv.id, answer.id]
        invitation = service.as_user(t.auth["admin"]).members.invite("invitee@example.test")
        ids.append(uuid_of(invitation.invitation_id))
    with psycopg.connect(url, autocommit=True) as conn:
        yield World(url, conn, t, ids)


@pytest.fixture(scope="module", params=["sync", "async"])
def stores(request: pytest.FixtureRequest, world: World) -> Iterator[dict[str, Any]]:
    """The callers: a member, an admin, the service role and a back end working for a member."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    if loop is None:
        service: Any = Store.connect(world.url, service_role=True, max_size=2)
    else:
        service = Blocking(
            loop.run_until_complete(AsyncStore.connect(world.url, service_role=True, max_size=2)), loop
        )
    t = world.t
    yield {
        "member": service.as_user(t.auth["m1"]),
        "admin": service.as_user(t.auth["admin"]),
        "service": service,
        "back_end": service.for_member(t.tenant_id, t.member["m1"]),
    }
    service.close()
    if loop is not None:
        loop.close()


def _methods(cls: type) -> list[str]:
    return sorted(n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v))


# every public method a caller reaches, each fuzzed on its own; governance last, as its
# erasures that succeed take rows out of the world the others draw ids from
TARGETS = [("store", name) for name in STORE_METHODS] + [
    (where, name) for where, cls in REPOSITORIES.items() for name in _methods(cls)
]


@pytest.mark.parametrize(("where", "name"), TARGETS, ids=[f"{w}.{n}" for w, n in TARGETS])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_only_supatenant_errors_escape_and_a_failed_call_writes_nothing(
    where: str, name: str, data: st.DataObject, world: World, stores: dict[str, Any]
) -> None:
    actor = data.draw(st.sampled_from(sorted(stores)), label="actor")
    store = stores[actor]
    target = store if where == "store" else getattr(store, where)
    inner = target._target if isinstance(target, Blocking) else target
    positional, named = data.draw(arguments(getattr(type(inner), name), world), label="arguments")
    before = fingerprint(world.conn)
    try:
        getattr(target, name)(*positional, **named)
    except SupatenantError:
        assert fingerprint(world.conn) == before, f"{actor} {where}.{name} raised and wrote"
    except BaseException as e:
        pytest.fail(f"{actor} {where}.{name}(*{positional!r}, **{named!r}) raised {type(e).__name__}: {e}")
