"""The usage recorder: exact totals after many buffered increments, and nothing lost on failure or exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from decimal import Decimal

import psycopg
import pytest

from supatenant import AsyncStore, AsyncUsageRecorder, Store, UsageNotRecorded, UsageRecorder
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
