"""What an outside attack on the governance and turn functions found, each closed: the
denial, and beside it the same kind of action by the actor who is allowed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from supatenant.backends.postgres import act_as
from tests.integration.governance_world import Gov, build
from tests.integration.test_governance import events, sqlstate_as

Conn = psycopg.Connection[Any]


def test_no_member_row_passes_for_the_erased_members_row(db_url: str) -> None:
    gov = build(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for address in (
            "Erased-members@supatenant.invalid",
            "erased-members@SUPATENANT.invalid",
            "x@supatenant.invalid",
        ):
            assert (
                sqlstate_as(
                    conn,
                    gov.who("admin"),
                    "insert into users (tenant_id, email, role, is_active) values (%s, %s, 'member', false)",
                    gov.tenant,
                    address,
                )
                == "23514"
            )
        # the same insert with an ordinary address is the admin's right
        assert (
            sqlstate_as(
                conn,
                gov.who("admin"),
                "insert into users (tenant_id, email, role, is_active) values (%s, 'new@gov.example', 'member', false)",
                gov.tenant,
            )
            is None
        )
        usage_before = conn.execute(
            "select sum(prompt_tokens), sum(request_count) from usage_metrics where tenant_id = %s",
            (gov.tenant,),
        ).fetchone()
        with conn.transaction():
            act_as(conn, gov.who("admin"))
            conn.execute("select erase_member(%s, %s)", (gov.tenant, gov.member["m2"]))
        bucket = conn.execute(
            "select id from users where tenant_id = %s and lower(email) = 'erased-members@supatenant.invalid'",
            (gov.tenant,),
        ).fetchall()
        assert len(bucket) == 1  # the erase made the one real row
        # the bucket itself is not erasable: it looks like a missing member
        assert (
            sqlstate_as(conn, gov.who("admin"), "select erase_member(%s, %s)", gov.tenant, bucket[0][0])
            == "P0002"
        )
        assert (
            conn.execute(
                "select sum(prompt_tokens), sum(request_count) from usage_metrics where tenant_id = %s",
                (gov.tenant,),
            ).fetchone()
            == usage_before
        )


def test_an_erasure_pseudonymises_values_whole_and_rewrites_no_other_event(db_url: str) -> None:
    gov = build(db_url)
    owner_email = gov.email["owner"].lower()
    crafted = [
        f'{owner_email}", "auth_id": "{gov.auth["owner"]}',  # would splice into the owner's event
        'a@b", "role": "owner',
        'quote"in@gov.example',
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        before: list[tuple[Any, ...]] = []
        for address in crafted:
            with conn.transaction():
                act_as(conn, gov.who("admin"))
                member = conn.execute(
                    "insert into users (tenant_id, email, role, is_active) values (%s, %s, 'member', false) returning id",
                    (gov.tenant, address),
                ).fetchone()
            assert member is not None
            before = [e for e in events(conn, gov.tenant) if e[2] != member[0] and e[0] != "member.erase"]
            with conn.transaction():
                act_as(conn, gov.who("admin"))
                conn.execute("select erase_member(%s, %s)", (gov.tenant, member[0]))
            after = [e for e in events(conn, gov.tenant) if e[0] != "member.erase"]
            # every other event is exactly as it was
            assert [e for e in after if e in before or e[2] is None] == [
                e for e in before if e in after or e[2] is None
            ]
            assert all(e in after for e in before)
            # and nothing of the crafted address is left anywhere in the log
            dump = json.dumps([[str(x) for x in e] for e in events(conn, gov.tenant)])
            assert address not in dump
            assert json.dumps(address)[1:-1] not in dump


def test_a_plan_limit_tells_nothing_to_someone_outside_the_tenant(db_url: str) -> None:
    gov = build(db_url)
    statement = "insert into conversations (tenant_id, user_id, title) values (%s, %s, 'x')"

    def refused(conn: Conn, actor: str, tenant: uuid.UUID) -> str | None:
        try:
            with conn.transaction():  # a savepoint inside the test's transaction
                act_as(conn, gov.who(actor))
                conn.execute(statement, (tenant, gov.member["outsider"]))
        except psycopg.Error as e:
            return e.sqlstate
        return None

    with psycopg.connect(db_url) as conn, conn.transaction(force_rollback=True):
        # the other tenant at its plan's limit of conversations (all undone at the end)
        conn.execute("update tenants set plan = 'free' where id = %s", (gov.other,))
        conn.execute(
            "update private.plans set conversations = (select count(*) from conversations where tenant_id = %s)"
            " where plan = 'free'",
            (gov.other,),
        )
        conn.execute("reset role")
        # someone of tenant T gets the refusal any stranger gets, for it and for no tenant at all
        assert refused(conn, "m2", gov.other) == "42501"
        assert refused(conn, "m2", uuid.uuid4()) == "42501"
        # the tenant's own member is told the plan's limit
        assert refused(conn, "outsider", gov.other) == "STQ01"


def test_an_export_record_names_only_the_subject_it_was_allowed(db_url: str) -> None:
    gov: Gov = build(db_url)
    statement = "select record_export('tenant', %s, %s, 'jsonl', '{}')"
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert sqlstate_as(conn, gov.who("owner"), statement, gov.tenant, gov.other) == "P0002"
        assert sqlstate_as(conn, gov.who("owner"), statement, gov.tenant, gov.tenant) is None
        assert sqlstate_as(conn, gov.who("owner"), statement, gov.tenant, None) is None


def test_no_api_role_moves_the_audit_sequence(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for role in ("anon", "authenticated"):
            for privilege in ("USAGE", "UPDATE", "SELECT"):
                allowed = conn.execute(
                    "select has_sequence_privilege(%s, 'public.audit_events_seq_seq', %s)", (role, privilege)
                ).fetchone()
                assert allowed == (False,), (role, privilege)
        # the log still numbers its events (the triggers write them as the tables' owner)
        gov = build(db_url)
        assert len(events(conn, gov.tenant)) > 0


def test_an_erased_persons_address_leaves_other_tenants_events_too(db_url: str) -> None:
    gov = build(db_url)
    person, address = uuid.uuid4(), f"leaver-{uuid.uuid4().hex[:8]}@gov.example"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (person, address))
        # a membership in the other tenant, added and removed by the service role
        with conn.transaction():
            conn.execute("set local role service_role")
            elsewhere = conn.execute(
                "insert into users (tenant_id, auth_id, email) values (%s, %s, %s) returning id",
                (gov.other, person, address),
            ).fetchone()
            assert elsewhere is not None
            conn.execute("delete from users where tenant_id = %s and id = %s", (gov.other, elsewhere[0]))
        member = conn.execute(
            "insert into users (tenant_id, auth_id, email) values (%s, %s, %s) returning id",
            (gov.tenant, person, address),
        ).fetchone()
        assert member is not None
        assert address in json.dumps([[str(x) for x in e] for e in events(conn, gov.other)])
        with conn.transaction():
            act_as(conn, gov.who("admin"))
            conn.execute("select erase_member(%s, %s)", (gov.tenant, member[0]))
        for tenant in (gov.tenant, gov.other):
            dump = json.dumps([[str(x) for x in e] for e in events(conn, tenant)])
            assert address not in dump
            assert str(person) not in dump
        # the other tenant's events of its own people are as they were
        assert gov.email["outsider"] in json.dumps([[str(x) for x in e] for e in events(conn, gov.other)])


def test_an_erased_stream_gives_its_reservation_back(db_url: str) -> None:
    gov = build(db_url)
    conversation = gov.conversations["m1.0"]

    def reserved(conn: Conn) -> Any:
        conn.execute("select set_config('role', 'service_role', true)")
        row = conn.execute("select tokens_reserved from tenant_quota(%s)", (gov.tenant,)).fetchone()
        conn.execute("select set_config('role', 'none', true)")
        return row[0] if row else None

    with psycopg.connect(db_url) as conn, conn.transaction(force_rollback=True):
        # a plan with a token limit, so streams reserve (all undone at the end)
        conn.execute("update private.plans set monthly_tokens = 1000000000 where plan = 'enterprise'")
        conn.execute("update tenants set plan = 'enterprise' where id = %s", (gov.tenant,))
        before = reserved(conn)
        conn.execute("select set_config('role', 'service_role', true)")
        conn.execute(
            "select open_message(%s, %s, %s, 'assistant', 'm', 90000)",
            (gov.tenant, conversation, gov.member["m1"]),
        )
        conn.execute("select set_config('role', 'none', true)")
        assert reserved(conn) == before + 90000
        act_as(conn, gov.who("admin"))
        conn.execute("select erase_conversation(%s, %s)", (gov.tenant, conversation))
        assert reserved(conn) == before  # nothing left holding the tenant's quota


def test_an_erasure_touches_no_event_of_someone_else_with_the_same_address(db_url: str) -> None:
    gov = build(db_url)
    address = f"carol-{uuid.uuid4().hex[:8]}@victim.example"
    person = uuid.uuid4()
    with psycopg.connect(db_url, autocommit=True) as conn:
        # the other tenant's own Carol, with no account: their events are theirs
        with conn.transaction():
            act_as(conn, gov.who("outsider_admin"))
            conn.execute(
                "insert into users (tenant_id, email, role) values (%s, %s, 'member')", (gov.other, address)
            )
        theirs = events(conn, gov.other)
        # someone signs up with that address, joins tenant T, and is erased (account and all)
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (person, address))
        member = conn.execute(
            "insert into users (tenant_id, auth_id, email) values (%s, %s, %s) returning id",
            (gov.tenant, person, address),
        ).fetchone()
        assert member is not None
        with conn.transaction():
            act_as(conn, gov.who("admin"))
            result = conn.execute("select erase_member(%s, %s)", (gov.tenant, member[0])).fetchone()
        assert result is not None
        assert result[0]["account_deleted"] is True
        assert events(conn, gov.other) == theirs  # nothing of the other tenant's log changed
        assert address not in json.dumps([[str(x) for x in e] for e in events(conn, gov.tenant)])


def test_nobody_is_invited_at_a_reserved_address(db_url: str) -> None:
    gov = build(db_url)
    invite = "select invite_member(%s, %s, 'member', '1 day')"
    with psycopg.connect(db_url, autocommit=True) as conn:
        for address in ("Erased-Members@SUPATENANT.invalid", "anyone@supatenant.invalid"):
            assert sqlstate_as(conn, gov.who("admin"), invite, gov.tenant, address) == "23514"
        assert sqlstate_as(conn, gov.who("admin"), invite, gov.tenant, "welcome@gov.example") is None


def test_nested_values_are_pseudonymised_and_export_records_hold_only_counts(db_url: str) -> None:
    gov = build(db_url)
    m2, address = gov.member["m2"], gov.email["m2"].lower()
    with psycopg.connect(db_url, autocommit=True) as conn:
        note = json.dumps({"note": {"who": address}})
        record = "select record_export('member', %s, %s, 'jsonl', %s::jsonb)"
        assert sqlstate_as(conn, gov.who("m2"), record, gov.tenant, m2, note) == "22023"  # not a count
        assert sqlstate_as(conn, gov.who("m2"), record, gov.tenant, m2, '{"messages": 3}') is None
        with conn.transaction():  # a nested value in an event of theirs, by its owner's hand
            act_as(conn, gov.who("owner"))
            conn.execute(
                "update tenants set settings = settings || %s::jsonb where id = %s",
                (json.dumps({"contact": {"email": address, "member": str(m2)}}), gov.tenant),
            )
            conn.execute("update tenants set settings = settings - 'contact' where id = %s", (gov.tenant,))
        with conn.transaction():
            act_as(conn, gov.who("admin"))
            conn.execute("select erase_member(%s, %s)", (gov.tenant, m2))
        dump = json.dumps([[str(x) for x in e] for e in events(conn, gov.tenant)])
        assert str(m2) not in dump
        assert address not in dump.lower()
