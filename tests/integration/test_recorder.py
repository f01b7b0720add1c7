"""The usage recorder: exact totals after many buffered increments, nothing lost on failure or
exit, and one member-day that can never be written holding up nobody else's."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from supatenant import (
    AsyncStore,
    AsyncUsageRecorder,
    InvalidInput,
    InvalidReference,
    Store,
    UsageNotRecorded,
    UsageRecorder,
)
from supatenant.errors import RejectedInput
from supatenant.models import UsageIncrement
from tests.integration.helpers import make_tenant


def _totals(db_url: str, tenant_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, int, int, Decimal]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select user_id, sum(request_count), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)"
            " from usage_metrics where tenant_id = %s group by user_id",
            (tenant_id,),
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows}


def test_concurrent_recording_gives_exact_totals(
    db_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    tenant = make_tenant(conn, members=3)
    with Store.connect(db_url, service_role=True, max_size=2) as service:
        recorder = UsageRecorder(service, max_keys=2, interval=0.05)

        def work(member: uuid.UUID) -> None:
            for _ in range(500):
                recorder.record(
                    tenant.id, member, prompt_tokens=3, completion_tokens=2, cost_usd=Decimal("0.001")
                )

        threads = [threading.Thread(target=work, args=(m,)) for m in tenant.members for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recorder.close()
    assert recorder.recorded == 3000
    assert recorder.pending == 0
    assert _totals(db_url, tenant.id) == {m: (1000, 3000, 2000, Decimal("1.000000")) for m in tenant.members}


def test_a_failed_write_keeps_the_increments_and_close_reports_them(
    db_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    tenant = make_tenant(conn, members=1)
    with Store.connect(db_url, max_size=1) as anon:  # anon may not write usage
        recorder = UsageRecorder(anon, interval=3600)
        for _ in range(4):
            recorder.record(tenant.id, tenant.members[0], prompt_tokens=5)
        with pytest.raises(UsageNotRecorded) as flushing:
            recorder.flush()
        assert recorder.pending == 1  # put back for the next try
        with pytest.raises(UsageNotRecorded) as closing:
            recorder.close()
    [left] = closing.value.increments
    assert (left.request_count, left.prompt_tokens) == (4, 20)
    assert "4 requests" in str(flushing.value)
    assert _totals(db_url, tenant.id) == {}
    # the same increments, given to a recorder that may write, all arrive
    with Store.connect(db_url, service_role=True, max_size=1) as service, UsageRecorder(service) as retry:
        for increment in closing.value.increments:
            retry.add(increment)
    assert _totals(db_url, tenant.id) == {tenant.members[0]: (4, 20, 0, Decimal("0.000000"))}


def test_what_is_buffered_is_written_when_the_process_exits(
    db_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    tenant = make_tenant(conn, members=1)
    script = (
        "import sys, uuid\n"
        "from supatenant import Store, UsageRecorder\n"
        "store = Store.connect(sys.argv[1], service_role=True, max_size=1)\n"
        "recorder = UsageRecorder(store, interval=3600)\n"
        "for _ in range(7):\n"
        "    recorder.record(uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3]), completion_tokens=1)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, db_url, str(tenant.id), str(tenant.members[0])], check=True, timeout=60
    )
    assert _totals(db_url, tenant.id) == {tenant.members[0]: (7, 0, 7, Decimal("0.000000"))}


def test_async_recorder_gives_exact_totals(db_url: str, conn: psycopg.Connection[tuple[object, ...]]) -> None:
    tenant = make_tenant(conn, members=2)

    async def scenario() -> None:
        service = await AsyncStore.connect(db_url, service_role=True, max_size=1)
        async with service, AsyncUsageRecorder(service, max_keys=1, interval=0.01) as recorder:
            for i in range(400):
                recorder.record(tenant.id, tenant.members[i % 2], prompt_tokens=1)
                if i % 50 == 0:
                    await asyncio.sleep(0)  # let the writer run between bursts

    asyncio.run(scenario())
    assert _totals(db_url, tenant.id) == {m: (200, 200, 0, Decimal("0.000000")) for m in tenant.members}


# poison: increments the database will never take, among good ones


@dataclass
class Recording:
    """A recorder of either API driven from sync test code, and what it reported dropping."""

    recorder: Any  # UsageRecorder or AsyncUsageRecorder
    run: Callable[[Any], Any]  # a coroutine run to completion; a plain value passed through
    dropped: list[tuple[UsageIncrement, Exception]] = field(default_factory=list)

    def record(self, tenant_id: uuid.UUID, user_id: uuid.UUID, **amounts: Any) -> None:
        self.recorder.record(tenant_id, user_id, **amounts)

    def flush(self) -> int:
        return int(self.run(self.recorder.flush()))

    def close(self) -> None:
        self.run(self.recorder.close())


@pytest.fixture(params=["sync", "async"])
def recording(request: pytest.FixtureRequest, db_url: str) -> Iterator[Callable[..., Recording]]:
    """Open recorders (``interval`` an hour: only ``flush()`` writes) on a service store."""
    if request.param == "sync":
        with Store.connect(db_url, service_role=True, max_size=1) as service:

            def make_sync(**options: Any) -> Recording:
                recording = Recording(None, lambda value: value)
                recording.recorder = UsageRecorder(
                    service, interval=3600, on_drop=lambda i, e: recording.dropped.append((i, e)), **options
                )
                return recording

            yield make_sync
        return
    loop = asyncio.new_event_loop()
    service_async = loop.run_until_complete(AsyncStore.connect(db_url, service_role=True, max_size=1))

    def make_async(**options: Any) -> Recording:
        recording = Recording(None, loop.run_until_complete)

        async def start() -> AsyncUsageRecorder:  # the recorder's task belongs to the running loop
            return AsyncUsageRecorder(
                service_async, interval=3600, on_drop=lambda i, e: recording.dropped.append((i, e)), **options
            )

        recording.recorder = loop.run_until_complete(start())
        return recording

    try:
        yield make_async
    finally:
        loop.run_until_complete(service_async.close())
        loop.close()


def _keys(increments: list[UsageIncrement]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    return {(i.tenant_id, i.user_id) for i in increments}


def test_increments_that_can_never_be_written_are_dropped_and_the_rest_keep_flowing(
    recording: Callable[..., Recording],
    db_url: str,
    conn: psycopg.Connection[tuple[object, ...]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good_a, good_b, poisoned = (
        make_tenant(conn, members=2),
        make_tenant(conn, members=1),
        make_tenant(conn, 2),
    )
    deleted, huge = poisoned.members
    r = recording()  # max_attempts=3 by default
    for _ in range(2):
        for member in good_a.members:
            r.record(good_a.id, member, prompt_tokens=10, cost_usd="0.5")
        r.record(good_b.id, good_b.members[0], completion_tokens=7)
    r.record(poisoned.id, deleted, prompt_tokens=1)  # its member goes before the flush: 23503
    r.record(poisoned.id, huge, cost_usd=Decimal("1e12"))  # more than numeric(16, 6) holds: 22003
    conn.execute("delete from users where id = %s", (deleted,))
    conn.commit()
    poison = {(poisoned.id, deleted), (poisoned.id, huge)}

    # the first flush writes every good increment and keeps the two at fault for another try
    with pytest.raises(UsageNotRecorded) as first:
        r.flush()
    assert (_keys(first.value.increments), first.value.written) == (poison, 3)
    assert _totals(db_url, good_a.id) == {m: (2, 20, 0, Decimal("1.000000")) for m in good_a.members}
    assert _totals(db_url, good_b.id) == {good_b.members[0]: (2, 0, 14, Decimal("0.000000"))}
    assert (r.recorder.pending, r.recorder.dropped, r.dropped) == (2, [], [])

    # the second try: the two alone, the rest (new increments) in one call
    r.record(good_b.id, good_b.members[0], completion_tokens=1)
    with pytest.raises(UsageNotRecorded) as second:
        r.flush()
    assert (_keys(second.value.increments), second.value.written) == (poison, 1)
    assert r.recorder.dropped == []

    # the third and last: dropped, reported, logged; the good ones still go in
    r.record(good_a.id, good_a.members[0], prompt_tokens=5)
    with caplog.at_level(logging.WARNING, logger="supatenant.recorder"), pytest.raises(UsageNotRecorded):
        r.flush()
    assert r.recorder.pending == 0
    assert {(i.tenant_id, i.user_id): type(e) for i, e in r.recorder.dropped} == {
        (poisoned.id, deleted): InvalidReference,
        (poisoned.id, huge): RejectedInput,
    }
    assert [(i, e) for i, e in r.recorder.dropped] == r.dropped
    assert {i.user_id: (i.request_count, i.cost_usd) for i, _ in r.dropped} == {
        deleted: (1, Decimal(0)),
        huge: (1, Decimal("1e12")),
    }
    drops = [
        rec
        for rec in caplog.records
        if rec.levelno == logging.ERROR and "dropped after 3 attempts" in rec.getMessage()
    ]
    assert len(drops) == 2
    assert _totals(db_url, good_a.id)[good_a.members[0]] == (3, 25, 0, Decimal("1.000000"))

    # nothing is retried any more: the next flush writes what came since, and only that
    r.record(good_a.id, good_a.members[1], prompt_tokens=1)
    assert r.flush() == 1
    assert _totals(db_url, poisoned.id) == {}
    assert _totals(db_url, good_b.id) == {good_b.members[0]: (3, 0, 15, Decimal("0.000000"))}
    # closing reports what was dropped
    with pytest.raises(UsageNotRecorded) as closing:
        r.close()
    assert _keys(closing.value.increments) == poison


def test_a_connection_failure_keeps_everything_and_counts_no_attempt(
    db_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    tenant = make_tenant(conn, members=2)
    service = Store.connect(db_url, service_role=True, max_size=1)
    recorder = UsageRecorder(service, interval=3600, max_attempts=2)
    for member in tenant.members:
        recorder.record(tenant.id, member, prompt_tokens=3)
    service.close()  # the pool is gone: every write is Unavailable
    for _ in range(4):
        with pytest.raises(UsageNotRecorded, match="database connection failed") as failing:
            recorder.flush()
        assert len(failing.value.increments) == 2
    assert (recorder.pending, recorder.dropped) == (2, [])
    with pytest.raises(UsageNotRecorded) as closing:
        recorder.close()
    # nothing was given up on: another recorder writes all of it
    with Store.connect(db_url, service_role=True, max_size=1) as again, UsageRecorder(again) as retry:
        for increment in closing.value.increments:
            retry.add(increment)
    assert _totals(db_url, tenant.id) == {m: (1, 3, 0, Decimal("0.000000")) for m in tenant.members}


@pytest.mark.parametrize(
    "amounts",
    [{"prompt_tokens": -1}, {"cost_usd": "lots"}, {"completion_tokens": 2**63}, {"tokens": 1}],
)
def test_bad_amounts_are_invalid_input_before_anything_is_buffered(
    db_url: str, amounts: dict[str, Any]
) -> None:
    with Store.connect(db_url, service_role=True, max_size=1) as service, UsageRecorder(service) as recorder:
        with pytest.raises(InvalidInput, match="record"):
            recorder.record(uuid.uuid4(), uuid.uuid4(), **amounts)
        assert (recorder.recorded, recorder.pending) == (0, 0)
