"""A unit of work ends with its ``with`` block, and the pool hands out only clean connections.

After the block the unit's connection is back in the pool, where the next request takes it:
a call through the old unit would run there as the pool's login role (RLS bypassed) inside a
transaction that the next request commits. So an ended unit refuses every call. The pool
itself discards a connection that is inside a transaction when it is handed out, and a call
acts as its store's identity whatever role or claims its connection was left with. Each case runs through ``Store`` and ``AsyncStore``, on a
pool of one connection, so the next request surely gets the unit's connection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg.pq import TransactionStatus

from supatenant import AsyncStore, Store, UnitOfWorkEnded
from supatenant._sync.postgres import open_pool
from supatenant.settings import PoolOptions
from tests.blocking import Blocking
from tests.integration.world import World


@dataclass
class Api:
    """One of the two APIs, driven from sync test code."""

    service: Store  # a service store on a pool of one connection
    unit_of_work: Callable[[Store], AbstractContextManager[Any]]


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, db_url: str) -> Iterator[Api]:
    if request.param == "sync":
        with Store.connect(db_url, service_role=True, max_size=1) as service:
            yield Api(service, lambda store: store.unit_of_work())
        return
    loop = asyncio.new_event_loop()

    @contextmanager
    def unit_of_work(store: Store) -> Iterator[Any]:
        target: AsyncStore = store._target  # type: ignore[attr-defined]  # a Blocking(AsyncStore)
        block = target.unit_of_work()
        uow = loop.run_until_complete(block.__aenter__())
        try:
            yield Blocking(uow, loop)
        except BaseException as e:
            if not loop.run_until_complete(block.__aexit__(type(e), e, e.__traceback__)):
                raise
        else:
            loop.run_until_complete(block.__aexit__(None, None, None))

    blocking: Any = Blocking(
        loop.run_until_complete(AsyncStore.connect(db_url, service_role=True, max_size=1)), loop
    )
    try:
        yield Api(blocking, unit_of_work)
    finally:
        blocking.close()
        loop.close()


def _titles(db_url: str, tenant_id: uuid.UUID) -> set[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("select title from conversations where tenant_id = %s", (tenant_id,)).fetchall()
    return {str(title) for (title,) in rows}


def _role(db_url: str, member_id: uuid.UUID) -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("select role from users where id = %s", (member_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_unit_of_work_refuses_every_call_after_its_block(api: Api, db_url: str, world: World) -> None:
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    assert m1.tenant_id is not None
    store = api.service.as_user(m1.auth_id)
    inside, late = f"inside {uuid.uuid4()}", f"late {uuid.uuid4()}"
    with api.unit_of_work(store) as uow:
        uow.conversations.create(inside)
        uow.commit()
    with pytest.raises(UnitOfWorkEnded, match="ended"):
        uow.conversations.create(late)
    with pytest.raises(UnitOfWorkEnded):
        uow.conversations.list()
    with pytest.raises(UnitOfWorkEnded):
        uow.commit()
    # the next request on the unit's (the pool's only) connection commits its own work only
    with api.unit_of_work(store) as following:
        following.conversations.create(f"following {uuid.uuid4()}")
        following.commit()
    titles = _titles(db_url, m1.tenant_id)
    assert inside in titles
    assert late not in titles
    assert store.conversations.list(title_contains=late).items == []


def test_a_member_cannot_make_itself_owner_through_an_ended_unit_of_work(
    api: Api, db_url: str, world: World
) -> None:
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    assert m1.member_id is not None
    store = api.service.as_user(m1.auth_id)
    with api.unit_of_work(store) as uow:
        me = uow.members.me()
    assert me.role == "member"
    with pytest.raises(UnitOfWorkEnded):
        uow.members.set_role(me.id, "owner")
    with pytest.raises(UnitOfWorkEnded):
        uow.commit()
    # what would have committed a write left behind on the connection: the next unit's commit
    with api.unit_of_work(store) as following:
        following.conversations.create(f"following {uuid.uuid4()}")
        following.commit()
    assert _role(db_url, m1.member_id) == "member"
    assert store.members.me().role == "member"


def test_an_ended_unit_of_work_cannot_open_another(api: Api, world: World) -> None:
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    with api.unit_of_work(api.service.as_user(m1.auth_id)) as uow:
        pass
    with pytest.raises(UnitOfWorkEnded), api.unit_of_work(uow):
        pass


# the pool: a connection used while it sat in the pool is not handed out, and whatever a
# connection carries session-wide, every call acts as its own store's identity

STALE_WRITE = "insert into auth.users (id, email) values (gen_random_uuid(), 'stale@example.test')"


def _leave_settings(victim: uuid.UUID) -> list[str]:
    """What a request could leave behind session-wide, outliving its transaction: another
    role, and another user's claims in every setting auth.uid() and auth.role() read."""
    claims = f'{{"sub": "{victim}", "role": "service_role"}}'
    return [
        "set role service_role",
        f"select set_config('request.jwt.claims', '{claims}', false)",
        f"select set_config('request.jwt.claim.sub', '{victim}', false)",
        "select set_config('request.jwt.claim.role', 'service_role', false)",
    ]


def _stale_writes(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("select count(*) from auth.users where email = 'stale@example.test'").fetchone()
    assert row is not None
    return int(str(row[0]))


def _back_in_pool(pool: Any) -> bool:
    """Whether the pool's one connection is back (returns go through the pool's worker)."""
    return int(pool.get_stats().get("pool_available", 0)) == 1


def test_the_pool_discards_a_connection_used_while_in_the_pool(db_url: str) -> None:
    with open_pool(db_url, PoolOptions(min_size=1, max_size=1)) as pool:
        with pool.connection() as conn:
            stale, pid = conn, conn.info.backend_pid
        while not _back_in_pool(pool):
            time.sleep(0.01)
        # pooled connections are in autocommit mode (each call sends its own begin and commit):
        # a holder who kept one opens a transaction, as the login role, and leaves it open
        stale.execute("begin")
        stale.execute(STALE_WRITE)
        with pool.connection() as conn:
            assert conn.info.backend_pid != pid
            assert conn.info.transaction_status == TransactionStatus.IDLE
            conn.execute("select 1")
            conn.commit()  # would have committed the stale write on the old connection
    assert stale.closed
    assert _stale_writes(db_url) == 0


def test_a_call_acts_as_its_store_whatever_the_connection_was_left_with(
    api: Api, world: World, conn: psycopg.Connection[Any]
) -> None:
    m1, victim = world.actors["m1"], world.actors["m2"].auth_id
    assert m1.auth_id is not None
    assert victim is not None
    pool: Any = api.service.backend.pool  # type: ignore[attr-defined]  # one connection
    member = api.service.as_user(m1.auth_id)
    mine = conn.execute("select count(*) from conversations where user_id = %s", (m1.member_id,)).fetchone()
    assert mine is not None
    assert mine[0] > 0

    if isinstance(pool, psycopg_pool.ConnectionPool):
        with pool.connection() as c:
            for statement in _leave_settings(victim):
                c.execute(statement)
    else:
        loop = api.service._loop  # type: ignore[attr-defined]  # Blocking's event loop

        async def ataint() -> None:
            async with pool.connection() as c:
                for statement in _leave_settings(victim):
                    await c.execute(statement)

        loop.run_until_complete(ataint())
    # the pool's only connection now runs as service_role with the victim's claims, session-wide
    assert member.me().id == m1.member_id
    seen = member.conversations.list(everyone=True, limit=100).items
    assert {c.user_id for c in seen} == {m1.member_id}
    assert len(seen) == mine[0]
