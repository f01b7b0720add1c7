"""Triggers, the current-day view, concurrent refresh of the summaries, and archiving."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from tests.integration.helpers import Tenant, make_tenant


def _conversation(conn: psycopg.Connection[Any], tenant: Tenant) -> uuid.UUID:
    row = conn.execute(
        "insert into conversations (tenant_id, user_id, title) values (%s, %s, 't') returning id",
        (tenant.id, tenant.members[0]),
    ).fetchone()
    assert row is not None
    conn.commit()
    return uuid.UUID(str(row[0]))


def _add_message(
    conn: psycopg.Connection[Any], tenant: Tenant, conversation: uuid.UUID, content: str
) -> None:
    conn.execute(
        "insert into messages (tenant_id, conversation_id, user_id, role, content) values (%s, %s, %s, 'user', %s)",
        (tenant.id, conversation, tenant.members[0], content),
    )


def test_new_message_bumps_its_conversation(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    conv = _conversation(conn, tenant)
    before = conn.execute(
        "select message_count, last_message_at, updated_at from conversations where id = %s", (conv,)
    ).fetchone()
    assert before is not None
    assert before[0] == 0
    assert before[1] is None
    for text in ("one", "two", "three"):
        _add_message(conn, tenant, conv, text)
        conn.commit()
    after = conn.execute(
        "select c.message_count, c.last_message_at, c.updated_at, max(m.created_at)"
        " from conversations c join messages m on m.conversation_id = c.id where c.id = %s"
        " group by c.message_count, c.last_message_at, c.updated_at",
        (conv,),
    ).fetchone()
    assert after is not None
    assert after[0] == 3
    assert after[1] == after[3]
    assert after[2] > before[2]


def test_message_user_id_comes_from_the_conversation_and_a_wrong_one_is_refused(
    conn: psycopg.Connection[Any],
) -> None:
    tenant = make_tenant(conn, members=2)
    conv = _conversation(conn, tenant)  # owned by members[0]
    insert = "insert into messages (tenant_id, conversation_id, user_id, role, content) values (%s, %s, %s, 'assistant', 'x')"
    conn.execute(insert, (tenant.id, conv, None))
    conn.execute(insert, (tenant.id, conv, tenant.members[0]))
    rows = conn.execute("select user_id from messages where conversation_id = %s", (conv,)).fetchall()
    assert rows == [(tenant.members[0],)] * 2
    # a writer that names a member must name the thread's: never someone else's thread
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="is not member"):
        conn.execute(insert, (tenant.id, conv, tenant.members[1]))
    conn.rollback()


def test_message_into_missing_conversation_is_refused(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "insert into messages (tenant_id, conversation_id, role, content) values (%s, %s, 'user', 'x')",
            (tenant.id, uuid.uuid4()),
        )
    conn.rollback()
    # naming the member it is for: refused as for another member's thread
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="does not exist or is not member"):
        _add_message(conn, tenant, uuid.uuid4(), "x")
    conn.rollback()


def test_updated_at_follows_updates(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    row = conn.execute("select updated_at from tenants where id = %s", (tenant.id,)).fetchone()
    assert row is not None
    conn.commit()
    conn.execute("update tenants set name = 'Renamed' where id = %s", (tenant.id,))
    later = conn.execute("select updated_at from tenants where id = %s", (tenant.id,)).fetchone()
    assert later is not None
    assert later[0] > row[0]
    conn.rollback()


def test_current_day_usage_shows_only_today(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    member = tenant.members[0]
    conn.execute("select increment_usage(%s, %s, 10, 5, 0, 1, '2001-01-01')", (tenant.id, member))
    conn.execute("select increment_usage(%s, %s, 7, 3, 0)", (tenant.id, member))
    rows = conn.execute(
        "select prompt_tokens, total_tokens, usage_date = (now() at time zone 'utc')::date"
        " from current_day_usage where tenant_id = %s",
        (tenant.id,),
    ).fetchall()
    assert rows == [(7, 10, True)]
    conn.rollback()


def test_refresh_concurrently_while_readers_read(db_url: str, conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    conv = _conversation(conn, tenant)
    _add_message(conn, tenant, conv, "rate me")
    message = conn.execute("select id from messages where conversation_id = %s", (conv,)).fetchone()
    assert message is not None
    conn.execute(
        "insert into feedback (tenant_id, message_id, user_id, rating) values (%s, %s, %s, 1)",
        (tenant.id, message[0], tenant.members[0]),
    )
    conn.commit()

    stop = threading.Event()
    reads: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                while not stop.is_set():
                    row = c.execute("select count(*) from private.message_feedback_summary").fetchone()
                    assert row is not None
                    reads.append(int(row[0]))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            conn.execute("select refresh_summaries()")
            conn.commit()
        while len(reads) < 20:  # the readers made progress during and after the refreshes
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    with conn.transaction():
        act_as(conn, Identity.service())
        summary = conn.execute(
            "select positive_count, negative_count, score from message_feedback_summary(%s)", (conv,)
        ).fetchall()
    assert summary == [(1, 0, 1)]


def test_archive_stale_conversations(conn: psycopg.Connection[Any]) -> None:
    tenant = make_tenant(conn)
    stale, fresh = _conversation(conn, tenant), _conversation(conn, tenant)
    conn.execute(
        "insert into messages (tenant_id, conversation_id, user_id, role, content, created_at)"
        " values (%s, %s, %s, 'user', 'old', now() - interval '40 days')",
        (tenant.id, stale, tenant.members[0]),
    )
    _add_message(conn, tenant, fresh, "new")
    archived = conn.execute("select archive_stale_conversations('30 days')").fetchone()
    assert archived is not None
    assert archived[0] >= 1
    flags = dict(
        conn.execute(
            "select id, is_archived from conversations where id in (%s, %s)", (stale, fresh)
        ).fetchall()
    )
    assert flags == {stale: True, fresh: False}
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("select archive_stale_conversations('-1 day')")
    conn.rollback()
