"""The assistant turn: ordered, streamed, metered once and within quota, on real PostgreSQL.

These tests run on a database of their own (plan limits are global rows), migrated by the
real CLI. A back end is a service store working for one member (``for_member``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from supatenant import (
    AsyncStore,
    IdempotencyConflict,
    InvalidInput,
    MessageClosed,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Store,
    Unavailable,
)
from supatenant._sync.postgres import PostgresBackend
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, PRESETS

Conn = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def url(migrated_database: Callable[[], str]) -> str:
    return migrated_database()


@dataclass
class Tenancy:
    tenant_id: uuid.UUID
    members: list[uuid.UUID]
    auth: list[uuid.UUID]
    conversations: list[uuid.UUID]  # one per member


def make_tenancy(url: str, *, members: int = 2, plan: str = "pro") -> Tenancy:
    tenant = uuid.uuid4()
    ids, auths, convs = [], [], []
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into tenants (id, name, slug, plan) values (%s, 'T', %s, %s)",
            (tenant, f"t-{tenant.hex[:20]}", plan),
        )
        for n in range(members):
            member, auth, conv = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            email = f"m{n}-{auth.hex[:8]}@example.test"
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth, email))
            conn.execute(
                "insert into users (id, tenant_id, auth_id, email, role) values (%s, %s, %s, %s, %s)",
                (member, tenant, auth, email, "owner" if n == 0 else "member"),
            )
            conn.execute(
                "insert into conversations (id, tenant_id, user_id, title) values (%s, %s, %s, 'Help')",
                (conv, tenant, member),
            )
            ids.append(member)
            auths.append(auth)
            convs.append(conv)
    return Tenancy(tenant, ids, auths, convs)


@pytest.fixture
def t(url: str) -> Tenancy:
    return make_tenancy(url)


@pytest.fixture
def service(url: str) -> Iterator[Store]:
    store = Store.connect(url, service_role=True, max_size=4)
    yield store
    store.close()


def back_end(service: Store, t: Tenancy, n: int = 0) -> Store:
    return service.for_member(t.tenant_id, t.members[n])


def usage_rows(conn: Conn, tenant_id: uuid.UUID) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = conn.execute(
        "select user_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd"
        " from usage_metrics where tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def metered_sums(conn: Conn, tenant_id: uuid.UUID) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The usage of the tenant's metered messages, per member and UTC day of the message."""
    rows = conn.execute(
        "select user_id, (created_at at time zone 'utc')::date, count(*), coalesce(sum(prompt_tokens), 0),"
        " coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0)"
        " from messages where tenant_id = %s and metered_at is not null group by 1, 2",
        (tenant_id,),
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def tenant_totals(conn: Conn, tenant_id: uuid.UUID) -> dict[Any, tuple[Any, ...]]:
    rows = conn.execute(
        "select usage_date, request_count, prompt_tokens, completion_tokens, cost_usd, reserved_tokens,"
        " reserved_requests from private.tenant_daily_usage where tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def daily_sums(conn: Conn, tenant_id: uuid.UUID) -> dict[Any, tuple[Any, ...]]:
    rows = conn.execute(
        "select usage_date, sum(request_count), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd), 0, 0"
        " from usage_metrics where tenant_id = %s group by 1",
        (tenant_id,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


# --- order ---------------------------------------------------------------------------------


def test_turns_written_in_one_transaction_keep_their_order(url: str, t: Tenancy, service: Store) -> None:
    member = service.as_user(t.auth[1])
    with member.unit_of_work() as uow:
        for n in range(6):
            uow.messages.append(t.conversations[1], role="user", content=f"turn {n}")
        uow.commit()
    thread = member.conversations.thread(t.conversations[1])
    assert [m.content for m in thread.messages] == [f"turn {n}" for n in range(6)]
    assert [m.seq for m in thread.messages] == [1, 2, 3, 4, 5, 6]
    # the time each row was written, not the transaction's start
    stamps = [m.created_at for m in thread.messages]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 6
    # pages walk back by seq
    first = member.messages.list(t.conversations[1], limit=4)
    assert [m.seq for m in first.items] == [6, 5, 4, 3]
    assert first.next is not None
    rest = member.messages.list(t.conversations[1], limit=4, after=first.next)
    assert [m.seq for m in rest.items] == [2, 1]
    assert rest.next is None


def test_concurrent_writers_of_one_thread_get_distinct_consecutive_numbers(url: str, t: Tenancy) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                barrier.wait()
                for n in range(10):
                    conn.execute(
                        "insert into messages (tenant_id, conversation_id, role, content) values (%s, %s, 'user', %s)",
                        (t.tenant_id, t.conversations[0], str(n)),
                    )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with psycopg.connect(url) as conn:
        seqs = [
            r[0]
            for r in conn.execute(
                "select seq from messages where tenant_id = %s and conversation_id = %s order by seq",
                (t.tenant_id, t.conversations[0]),
            )
        ]
        counted = conn.execute(
            "select message_count from conversations where id = %s", (t.conversations[0],)
        ).fetchone()
    assert seqs == list(range(1, 81))
    assert counted == (80,)


# --- streaming -----------------------------------------------------------------------------


def test_a_streamed_reply_grows_for_readers_completes_and_is_metered_once(
    url: str, t: Tenancy, service: Store
) -> None:
    back = back_end(service, t)
    reader = service.as_user(t.auth[0])
    chunks = [f"word{n} " for n in range(2000)]
    with back.messages.stream(t.conversations[0], model="gpt-4o-mini", flush_bytes=4096) as s:
        for chunk in chunks[:1000]:
            s.append(chunk)
        s.flush()
        seen = reader.conversations.thread(t.conversations[0]).messages[-1]
        assert (seen.status, seen.content) == ("streaming", "".join(chunks[:1000]))
        for chunk in chunks[1000:]:
            s.append(chunk)
        s.set_usage(prompt_tokens=812, completion_tokens=2000, cost_usd=Decimal("0.003125"))
    done = s.message
    assert done is not None
    assert (done.status, done.content, done.prompt_tokens, done.completion_tokens, done.cost_usd) == (
        "complete",
        "".join(chunks),
        812,
        2000,
        Decimal("0.003125"),
    )
    assert done.metered_at is not None
    assert done.completed_at is not None
    assert done.latency_ms is not None
    # 2,000 chunks, a bounded number of round trips: open, about one per 4 KiB, close
    assert s.round_trips <= 2 + len("".join(chunks)) // 4096 + 2
    with psycopg.connect(url) as conn:
        assert usage_rows(conn, t.tenant_id) == metered_sums(conn, t.tenant_id)
        assert list(usage_rows(conn, t.tenant_id).values()) == [(1, 812, 2000, Decimal("0.003125"))]
        before = usage_rows(conn, t.tenant_id)
    # closing again alike changes nothing; differently is refused; nor does text go in
    with pytest.raises(MessageClosed, match="closed"):
        s.append("more")
    with psycopg.connect(url) as conn:
        conn.execute("set role service_role")
        same = conn.execute(
            "select status from close_message(%s, %s, 'complete', null, 812, 2000, 0.003125)",
            (t.tenant_id, done.id),
        ).fetchone()
        assert same == ("complete",)
        for statement, params in (
            ("select close_message(%s, %s, 'complete', null, 900)", (t.tenant_id, done.id)),
            ("select close_message(%s, %s, 'failed')", (t.tenant_id, done.id)),
            ("select append_message_text(%s, %s, 'more')", (t.tenant_id, done.id)),
            (
                "update messages set content = 'edited' where tenant_id = %s and id = %s",
                (t.tenant_id, done.id),
            ),
            ("update messages set cost_usd = 0 where tenant_id = %s and id = %s", (t.tenant_id, done.id)),
        ):
            with pytest.raises(psycopg.Error) as caught, conn.transaction():
                conn.execute(statement, params)
            assert caught.value.sqlstate == "STC01", statement
        conn.rollback()
        assert usage_rows(conn, t.tenant_id) == before
        row = conn.execute("select content from messages where id = %s", (done.id,)).fetchone()
        assert row == ("".join(chunks),)
        # the tables' owner (what a redaction function runs as) may still change it
        conn.execute("reset role")
        with conn.transaction(force_rollback=True):
            conn.execute("update messages set content = '[redacted]' where id = %s", (done.id,))


def test_a_stream_that_raises_is_failed_with_its_text_and_counted_once(
    url: str, t: Tenancy, service: Store
) -> None:
    back = back_end(service, t)
    stream = back.messages.stream(t.conversations[0], model="m")

    def reply() -> None:
        with stream as s:
            s.append("partial ")
            s.append("answer")
            raise RuntimeError("provider hung up")

    with pytest.raises(RuntimeError, match="provider hung up"):
        reply()
    failed = stream.message
    assert failed is not None
    assert (failed.status, failed.content) == ("failed", "partial answer")
    assert failed.status_reason == "RuntimeError: provider hung up"
    with psycopg.connect(url) as conn:
        assert list(usage_rows(conn, t.tenant_id).values()) == [(1, 0, 0, Decimal(0))]
        assert usage_rows(conn, t.tenant_id) == metered_sums(conn, t.tenant_id)


def test_async_stream_cancels_and_completes(url: str, t: Tenancy) -> None:
    async def run() -> tuple[str, str, str]:
        store = await AsyncStore.connect(url, service_role=True, max_size=2)
        try:
            back = store.for_member(t.tenant_id, t.members[1])
            async with back.messages.stream(t.conversations[1], model="m") as s:
                await s.append("stop")
                cancelled = await s.cancel("user pressed stop")
            async with back.messages.stream(t.conversations[1], model="m") as s2:
                await s2.append("fine")
                s2.set_usage(prompt_tokens=3, completion_tokens=1, cost_usd="0.000010")
            assert s2.message is not None
            return cancelled.status, cancelled.status_reason or "", s2.message.status
        finally:
            await store.close()

    assert asyncio.run(run()) == ("cancelled", "user pressed stop", "complete")
    with psycopg.connect(url) as conn:
        assert usage_rows(conn, t.tenant_id) == metered_sums(conn, t.tenant_id)
        assert [v[0] for v in usage_rows(conn, t.tenant_id).values()] == [2]


def test_bad_input_gets_a_typed_error_and_writes_nothing(url: str, t: Tenancy, service: Store) -> None:
    back = back_end(service, t)
    with psycopg.connect(url) as conn:
        before = conn.execute("select count(*) from messages where tenant_id = %s", (t.tenant_id,)).fetchone()
    for usage in (
        {"prompt_tokens": -1},
        {"completion_tokens": 1.5},
        {"cost_usd": Decimal("0.0000001")},
        {"cost_usd": 0.1},
        {"latency_ms": "fast"},
    ):
        with pytest.raises(InvalidInput):
            back.messages.record_turn(t.conversations[0], user_content="q", assistant_content="a", **usage)
    with pytest.raises(InvalidInput):
        back.messages.stream(t.conversations[0], reserve_tokens=-5)
    # the database refuses the same when called directly
    with psycopg.connect(url) as conn:
        conn.execute("set role service_role")
        for args in ("-1, 0, 0", "0, 0, 0.0000001"):
            with pytest.raises(psycopg.Error) as caught, conn.transaction():
                conn.execute(
                    f"select record_turn(%s, %s, 'q', 'a', null, null, {args})",
                    (t.tenant_id, t.conversations[0]),
                )
            assert caught.value.sqlstate == "22023"
        conn.rollback()
    # a chunk that would pass the size limit: refused, the message keeps its text
    with back.messages.stream(t.conversations[0], flush_bytes=1) as s:
        s.append("kept")
        with pytest.raises(InvalidInput):
            s.append("x" * 1_048_576)
    assert s.message is not None
    assert (s.message.content, s.message.status) == ("kept", "complete")
    with psycopg.connect(url) as conn:
        conn.execute("set role service_role")
        opened = conn.execute(
            "select id from open_message(%s, %s, %s)", (t.tenant_id, t.conversations[0], t.members[0])
        ).fetchone()
        assert opened is not None
        conn.execute("select append_message_text(%s, %s, repeat('y', 1048000))", (t.tenant_id, opened[0]))
        with pytest.raises(psycopg.Error) as caught, conn.transaction():
            conn.execute("select append_message_text(%s, %s, repeat('z', 1000))", (t.tenant_id, opened[0]))
        assert caught.value.sqlstate == "23514"
        length = conn.execute(
            "select octet_length(content) from messages where id = %s", (opened[0],)
        ).fetchone()
        assert length == (1048000,)
        conn.rollback()
    with psycopg.connect(url) as conn:
        after = conn.execute("select count(*) from messages where tenant_id = %s", (t.tenant_id,)).fetchone()
        assert after is not None
        assert before is not None
        assert after[0] == before[0] + 1
        assert usage_rows(conn, t.tenant_id) == metered_sums(conn, t.tenant_id)


def test_members_neither_stream_nor_record_assistant_turns(url: str, t: Tenancy, service: Store) -> None:
    member = service.as_user(t.auth[0])
    with pytest.raises(PermissionDenied):
        member.messages.stream(t.conversations[0]).open()
    with pytest.raises(PermissionDenied):
        member.messages.record_turn(t.conversations[0], user_content="q", assistant_content="a")
    # a back end working for one member cannot stream into a colleague's thread: to it, that
    # thread is not there (the same answer as for one that does not exist)
    with (
        pytest.raises(NotFound, match="not found, or not yours"),
        back_end(service, t, 1).messages.stream(t.conversations[0]) as s,
    ):
        s.append("x")
    with pytest.raises(NotFound, match="not found, or not yours"):
        back_end(service, t, 1).messages.record_turn(
            t.conversations[0], user_content="q", assistant_content="a"
        )
    with (
        pytest.raises(NotFound, match="not found, or not yours"),
        back_end(service, t, 1).messages.stream(uuid.uuid4()) as s,
    ):
        s.append("x")
    # the allowed actor succeeds
    with back_end(service, t, 0).messages.stream(t.conversations[0]) as s:
        s.append("ok")
    assert s.message is not None
    assert s.message.status == "complete"


def test_killing_the_writer_leaves_the_stream_open_until_the_timeout_job_fails_it(
    url: str, t: Tenancy
) -> None:
    store = Store.connect(url, service_role=True, min_size=1, max_size=1)
    try:
        back = store.for_member(t.tenant_id, t.members[0])
        stream = back.messages.stream(t.conversations[0], model="m", reserve_tokens=100, flush_bytes=1)
        stream.open()
        stream.append("half a ")
        backend = store.backend
        assert isinstance(backend, PostgresBackend)
        with backend.pool.connection() as pooled:  # the pool's one connection: the writer's
            writer = pooled.execute("select pg_backend_pid() as pid").fetchone()
        assert writer is not None
        with psycopg.connect(url, autocommit=True) as killer:
            killed = killer.execute("select pg_terminate_backend(%s)", (writer["pid"],)).fetchone()
        assert killed == (True,)
        with pytest.raises(Unavailable):
            stream.append("reply")
    finally:
        store.close()
    message_id = stream.id
    with psycopg.connect(url) as conn:
        row = conn.execute("select status, content from messages where id = %s", (message_id,)).fetchone()
        assert row == ("streaming", "half a ")
        before = usage_rows(conn, t.tenant_id)
        conn.execute("set role service_role")
        assert conn.execute("select close_stale_streams('1 hour')").fetchone() == (0,)
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        assert service.usage.close_stale_streams(timedelta(0)) >= 1
        assert service.usage.close_stale_streams(timedelta(0)) == 0
    finally:
        service.close()
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select status, content, metered_at is not null from messages where id = %s", (message_id,)
        ).fetchone()
        assert row == ("failed", "half a ", True)
        after = usage_rows(conn, t.tenant_id)
        assert sum(v[0] for v in after.values()) == sum(v[0] for v in before.values()) + 1
        assert after == metered_sums(conn, t.tenant_id)
        assert tenant_totals(conn, t.tenant_id) == daily_sums(conn, t.tenant_id)  # reservation released


# --- one atomic turn ---------------------------------------------------------------------


def test_record_turn_is_idempotent_under_its_key(url: str, t: Tenancy, service: Store) -> None:
    back = back_end(service, t)
    turn = dict(
        user_content="Where is my refund?",
        assistant_content="Sent Monday.",
        model="m",
        prompt_tokens=20,
        completion_tokens=5,
        cost_usd=Decimal("0.000150"),
        latency_ms=300,
    )
    first = back.messages.record_turn(t.conversations[0], idempotency_key="req-1", **turn)  # type: ignore[arg-type]
    assert (first.user.role, first.assistant.role) == ("user", "assistant")
    assert first.assistant.seq == first.user.seq + 1
    again = back.messages.record_turn(t.conversations[0], idempotency_key="req-1", **turn)  # type: ignore[arg-type]
    assert (again.user.id, again.assistant.id) == (first.user.id, first.assistant.id)
    with pytest.raises(IdempotencyConflict):
        back.messages.record_turn(
            t.conversations[0],
            idempotency_key="req-1",
            **{**turn, "completion_tokens": 6},  # type: ignore[arg-type]
        )
    with psycopg.connect(url) as conn:
        assert list(usage_rows(conn, t.tenant_id).values()) == [(1, 20, 5, Decimal("0.000150"))]
        count = conn.execute("select count(*) from messages where tenant_id = %s", (t.tenant_id,)).fetchone()
        assert count == (2,)


def test_deleting_a_message_leaves_usage_as_billed(url: str, t: Tenancy, service: Store) -> None:
    turn = back_end(service, t).messages.record_turn(
        t.conversations[0], user_content="q", assistant_content="a", prompt_tokens=7, completion_tokens=3
    )
    with psycopg.connect(url) as conn:
        before = usage_rows(conn, t.tenant_id)
        conn.execute("set role service_role")
        conn.execute(
            "delete from messages where tenant_id = %s and id = %s", (t.tenant_id, turn.assistant.id)
        )
        conn.commit()
        conn.execute("reset role")
        assert usage_rows(conn, t.tenant_id) == before
        assert tenant_totals(conn, t.tenant_id) == daily_sums(conn, t.tenant_id)


def test_totals_equal_the_sum_over_messages_after_random_concurrent_turns(url: str) -> None:
    t = make_tenancy(url, members=4)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    requests: list[str] = []  # one entry per reply that should count: a key once, each stream

    def work(n: int) -> None:
        store = Store.connect(url, service_role=True, max_size=1)
        try:
            barrier.wait()
            for i in range(15):
                key = f"{n}-{i % 12}"  # the last three repeat earlier requests: retries
                rnd = random.Random(key)  # a retry sends the same turn
                member = rnd.randrange(4)
                back = store.for_member(t.tenant_id, t.members[member])
                prompt, completion = rnd.randrange(1, 500), rnd.randrange(1, 200)
                cost = Decimal(rnd.randrange(1, 10**6)) / 10**6
                if rnd.random() < 0.5:
                    back.messages.record_turn(
                        t.conversations[member],
                        user_content="q",
                        assistant_content="a",
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        cost_usd=cost,
                        idempotency_key=key,
                    )
                    requests.append(key)
                else:
                    with back.messages.stream(t.conversations[member], reserve_tokens=50) as s:
                        s.append("streamed")
                        s.set_usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
                    requests.append(f"stream {n} {i}")
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with psycopg.connect(url) as conn:
        usage = usage_rows(conn, t.tenant_id)
        assert usage == metered_sums(conn, t.tenant_id)
        assert sum(v[0] for v in usage.values()) == len(set(requests))  # retries added nothing
        assert tenant_totals(conn, t.tenant_id) == daily_sums(conn, t.tenant_id)
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        quota = service.usage.quota(tenant_id=t.tenant_id)
    finally:
        service.close()
    assert quota.tokens_used == sum(v[1] + v[2] for v in usage.values())
    assert quota.cost_usd == sum(v[3] for v in usage.values())


# --- quotas --------------------------------------------------------------------------------


@pytest.fixture
def limited(url: str) -> Iterator[Callable[..., Tenancy]]:
    """Tenancies on the 'team' plan, whose limits a test sets; the limits are cleared after."""

    def make(**limits: Any) -> Tenancy:
        with psycopg.connect(url) as conn:
            conn.execute(
                "update private.plans set monthly_tokens = %s, monthly_cost_usd = %s, requests_per_day = %s,"
                " members = %s, conversations = %s where plan = 'team'",
                tuple(
                    limits.get(k)
                    for k in (
                        "monthly_tokens",
                        "monthly_cost_usd",
                        "requests_per_day",
                        "members",
                        "conversations",
                    )
                ),
            )
        return make_tenancy(url, members=2, plan="team")

    yield make
    with psycopg.connect(url) as conn:
        conn.execute(
            "update private.plans set monthly_tokens = null, monthly_cost_usd = null, requests_per_day = null,"
            " members = null, conversations = null where plan = 'team'"
        )


def test_sixteen_concurrent_turns_at_the_limit_overshoot_by_at_most_one(
    url: str, limited: Callable[..., Tenancy]
) -> None:
    t = limited(monthly_tokens=1000)
    per_turn = 100  # tokens each turn uses
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        for _ in range(9):  # 900 of 1000 used
            back_end(service, t).messages.record_turn(
                t.conversations[0],
                user_content="q",
                assistant_content="a",
                prompt_tokens=60,
                completion_tokens=40,
            )
    finally:
        service.close()
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def work(n: int) -> None:
        store = Store.connect(url, service_role=True, max_size=1)
        try:
            back = store.for_member(t.tenant_id, t.members[n % 2])
            barrier.wait()
            back.messages.record_turn(
                t.conversations[n % 2],
                user_content="q",
                assistant_content="a",
                prompt_tokens=60,
                completion_tokens=40,
            )
            outcomes.append("ok")
        except QuotaExceeded:
            outcomes.append("refused")
        except BaseException as e:
            outcomes.append(repr(e))
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 15
    with psycopg.connect(url) as conn:
        used = conn.execute(
            "select sum(total_tokens) from usage_metrics where tenant_id = %s", (t.tenant_id,)
        ).fetchone()
        messages = conn.execute(
            "select count(*) from messages where tenant_id = %s", (t.tenant_id,)
        ).fetchone()
    assert used is not None
    assert 1000 <= used[0] <= 1000 + per_turn
    assert messages == (20,)  # refused turns wrote nothing


def test_a_streams_reservation_counts_against_the_quota_until_it_closes(
    url: str, limited: Callable[..., Tenancy]
) -> None:
    t = limited(monthly_tokens=1000, requests_per_day=3)
    service = Store.connect(url, service_role=True, max_size=2)
    try:
        back = back_end(service, t)
        member = service.as_user(t.auth[1])
        first = back.messages.stream(t.conversations[0], reserve_tokens=600)
        first.open()
        bar = member.usage.quota()
        assert (bar.tokens_used, bar.tokens_reserved, bar.monthly_tokens, bar.requests_per_day) == (
            0,
            600,
            1000,
            3,
        )
        back.messages.stream(t.conversations[0], reserve_tokens=600).open()  # 600 < 1000: admitted
        with pytest.raises(QuotaExceeded, match="tokens"):
            back.messages.stream(t.conversations[0], reserve_tokens=1).open()
        first.complete(prompt_tokens=100, completion_tokens=50)
        bar = member.usage.quota()
        assert (bar.tokens_used, bar.tokens_reserved, bar.requests_today) == (150, 600, 1)
    finally:
        service.close()


def test_requests_per_day_and_cost_limits_refuse_the_next_turn(
    url: str, limited: Callable[..., Tenancy]
) -> None:
    t = limited(requests_per_day=2, monthly_cost_usd=Decimal("1"))
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        back = back_end(service, t)
        back.messages.record_turn(t.conversations[0], user_content="q", assistant_content="a", cost_usd="0.5")
        back.messages.record_turn(t.conversations[0], user_content="q", assistant_content="a", cost_usd="0.6")
        with pytest.raises(QuotaExceeded):
            back.messages.record_turn(t.conversations[0], user_content="q", assistant_content="a")
    finally:
        service.close()


def test_member_and_conversation_limits_refuse_the_next_one(
    url: str, limited: Callable[..., Tenancy]
) -> None:
    t = limited(members=2, conversations=2)
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.Error) as caught, conn.transaction():
            conn.execute(
                "insert into users (tenant_id, email) values (%s, 'third@example.test')", (t.tenant_id,)
            )
        assert caught.value.sqlstate == "STQ01"
        with pytest.raises(psycopg.Error) as caught, conn.transaction():
            conn.execute(
                "insert into conversations (tenant_id, user_id) values (%s, %s)", (t.tenant_id, t.members[0])
            )
        assert caught.value.sqlstate == "STQ01"
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        with pytest.raises(QuotaExceeded):
            service.as_user(t.auth[0]).conversations.create("one too many")
    finally:
        service.close()


# --- the seed ------------------------------------------------------------------------------


def test_the_seed_writes_streamed_complete_replies_whose_usage_adds_up(url: str) -> None:
    seed_database(url, PRESETS["tiny"], 3, ANCHOR)
    with psycopg.connect(url) as conn:
        tenants = [r[0] for r in conn.execute("select id from tenants where slug not like 't-%%'").fetchall()]
        assert tenants
        for tenant_id in tenants:
            assert usage_rows(conn, tenant_id) == metered_sums(conn, tenant_id)
            assert tenant_totals(conn, tenant_id) == daily_sums(conn, tenant_id)
        replies = conn.execute(
            "select count(*), count(*) filter (where status = 'complete' and prompt_tokens is not null"
            " and completion_tokens is not null and cost_usd is not null and metered_at is not null)"
            " from messages where role = 'assistant' and tenant_id = any(%s)",
            (tenants,),
        ).fetchone()
        assert replies is not None
        assert replies[0] > 0
        assert replies[0] == replies[1]
        gaps = conn.execute(
            "select count(*) from (select conversation_id, count(*) n, max(seq) top, min(seq) low"
            " from messages where tenant_id = any(%s) group by 1) x where n <> top or low <> 1",
            (tenants,),
        ).fetchone()
        assert gaps == (0,)


def test_the_timeout_job_running_beside_turns_counts_everything_once(
    url: str, limited: Callable[..., Tenancy]
) -> None:
    t = limited(monthly_tokens=10**9)  # limits on: streams reserve
    errors: list[BaseException] = []
    stop = threading.Event()

    def abandon(n: int) -> None:  # writers that die mid-stream
        store = Store.connect(url, service_role=True, max_size=1)
        try:
            for i in range(20):
                back = store.for_member(t.tenant_id, t.members[(n + i) % 2])
                s = back.messages.stream(t.conversations[(n + i) % 2], reserve_tokens=30, flush_bytes=1)
                s.open()
                with contextlib.suppress(MessageClosed):  # the job may have closed it already
                    s.append("gone")
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    def turns(n: int) -> None:
        store = Store.connect(url, service_role=True, max_size=1)
        try:
            for i in range(20):
                member = (n + i) % 2
                store.for_member(t.tenant_id, t.members[member]).messages.record_turn(
                    t.conversations[member],
                    user_content="q",
                    assistant_content="a",
                    prompt_tokens=3,
                    completion_tokens=2,
                    cost_usd="0.000001",
                )
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    def sweep() -> None:
        store = Store.connect(url, service_role=True, max_size=1)
        try:
            while not stop.is_set():
                store.usage.close_stale_streams(timedelta(0))
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    workers = [threading.Thread(target=abandon, args=(n,)) for n in range(3)]
    workers += [threading.Thread(target=turns, args=(n,)) for n in range(3)]
    for th in workers:
        th.start()
    for th in workers:
        th.join()
    stop.set()
    sweeper.join()
    assert errors == []
    service = Store.connect(url, service_role=True, max_size=1)
    try:
        service.usage.close_stale_streams(timedelta(0))
    finally:
        service.close()
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "select count(*) from messages where tenant_id = %s and status = 'streaming'", (t.tenant_id,)
        ).fetchone()
        assert left == (0,)
        usage = usage_rows(conn, t.tenant_id)
        assert usage == metered_sums(conn, t.tenant_id)
        assert sum(v[0] for v in usage.values()) == 3 * 20 + 3 * 20
        assert tenant_totals(conn, t.tenant_id) == daily_sums(conn, t.tenant_id)  # no reservation left
