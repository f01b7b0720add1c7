"""Data governance on real PostgreSQL: the audit log, erasure, redaction, retention and the
governance matrix of README (each refusal next to the same action allowed)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, LiteralString

import psycopg
import pytest

from supatenant import NotFound, PermissionDenied, Store
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as
from supatenant.errors import InvalidInput
from supatenant.governance.maintain import maintain
from tests.integration.governance_world import Gov, build, summary_totals, usage_totals, where_found

Conn = psycopg.Connection[Any]


@pytest.fixture
def gov(db_url: str) -> Gov:
    return build(db_url)


@pytest.fixture
def service(db_url: str) -> Store:
    store = Store.connect(db_url, service_role=True)
    return store


def as_user(service: Store, gov: Gov, name: str, tenant: uuid.UUID | None = None) -> Store:
    return service.as_user(gov.auth[name], tenant_id=tenant or gov.tenant)


def events(conn: Conn, tenant: uuid.UUID) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select action, subject_type, subject_id, actor_role, actor_member_id, before, after"
        " from audit_events where tenant_id = %s order by seq",
        (tenant,),
    ).fetchall()


def sqlstate_as(conn: Conn, identity: Identity, statement: LiteralString, *params: object) -> str | None:
    """The SQLSTATE refusing ``statement`` run as ``identity`` (None when it runs); rolled back."""
    try:
        with conn.transaction(force_rollback=True):
            act_as(conn, identity)
            conn.execute(statement, params)
    except psycopg.Error as e:
        return e.sqlstate
    return None


def person_needles(gov: Gov, name: str) -> list[str]:
    """The member's ids, account id and email, and the ids of their threads and messages."""
    owned = [k for k in gov.conversations if k.startswith(f"{name}.")]
    return [
        str(gov.member[name]),
        str(gov.auth[name]),
        re.escape(gov.email[name]),
        *(str(gov.conversations[k]) for k in owned),
        *(str(m) for k in owned for m in gov.messages[k]),
    ]


# --- audit log ---------------------------------------------------------------------------------


def test_membership_and_tenant_changes_are_audited_by_triggers(db_url: str, gov: Gov, service: Store) -> None:
    owner = as_user(service, gov, "owner")
    admin = as_user(service, gov, "admin")
    admin.members.set_role(gov.member["m1"], "admin")
    admin.members.deactivate(gov.member["m2"])
    owner.tenants.update(settings={"tone": "formal"})
    service.tenants.update(gov.tenant, plan="team")
    with psycopg.connect(db_url) as conn:
        got = events(conn, gov.tenant)
    actions = [(e[0], e[1]) for e in got]
    assert actions[:1] == [("tenant.create", "tenant")]
    assert actions.count(("member.add", "member")) == 4
    changes = [e for e in got if e[0] in ("member.change", "tenant.change")]
    assert [(e[0], e[2], e[3], e[4], e[5], e[6]) for e in changes] == [
        (
            "member.change",
            gov.member["m1"],
            "authenticated",
            gov.member["admin"],
            {"role": "member"},
            {"role": "admin"},
        ),
        (
            "member.change",
            gov.member["m2"],
            "authenticated",
            gov.member["admin"],
            {"is_active": True},
            {"is_active": False},
        ),
        (
            "tenant.change",
            gov.tenant,
            "authenticated",
            gov.member["owner"],
            {"settings": {}},
            {"settings": {"tone": "formal"}},
        ),
        ("tenant.change", gov.tenant, "service_role", None, {"plan": "pro"}, {"plan": "team"}),
    ]


def test_admins_read_their_tenants_events_and_nobody_changes_them(
    db_url: str, gov: Gov, service: Store
) -> None:
    admin_events = as_user(service, gov, "admin").governance.audit_events(limit=100)
    assert admin_events
    assert {e.tenant_id for e in admin_events} == {gov.tenant}
    assert as_user(service, gov, "m1").governance.audit_events() == []
    # the other tenant's admin sees only their own tenant's
    assert (
        as_user(service, gov, "outsider_admin", gov.other).governance.audit_events(tenant_id=gov.tenant) == []
    )
    assert service.governance.audit_events(tenant_id=gov.tenant, limit=1000) == admin_events
    with psycopg.connect(db_url) as conn:
        for identity in (gov.who("admin"), gov.who("owner"), Identity.service()):
            for statement in (
                "update audit_events set action = 'export' where tenant_id = %s",
                "delete from audit_events where tenant_id = %s",
                "insert into audit_events (tenant_id, actor_role, action, subject_type)"
                " values (%s, 'x', 'export', 'tenant')",
            ):
                assert sqlstate_as(conn, identity, statement, gov.tenant) == "42501", statement
        # not even the tables' owner, outside an erasure
        for statement in (
            "update audit_events set action = 'export' where tenant_id = %s",
            "delete from audit_events where tenant_id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
                conn.execute(statement, (gov.tenant,))


# --- erasure -----------------------------------------------------------------------------------


def test_erasing_a_member_leaves_nothing_of_them_and_keeps_the_tenants_totals(
    db_url: str, gov: Gov, service: Store
) -> None:
    admin = as_user(service, gov, "admin")
    admin.members.set_role(gov.member["m2"], "member")  # an event by the admin about m2
    as_user(service, gov, "m2").messages.append(gov.conversations["m2.0"], role="user", content="one more")
    admin.governance.redact_message(gov.messages["m2.0"][0], reason="a card number")
    with psycopg.connect(db_url) as conn:
        usage, summary = usage_totals(conn, gov.tenant), summary_totals(conn, gov.tenant)
        assert where_found(conn, person_needles(gov, "m2"))  # the scan finds them before
        kept_before = len(events(conn, gov.tenant))
    report = admin.governance.erase_member(gov.member["m2"])
    assert report["conversations"] == 2
    assert report["messages"] == 9
    assert report["account_deleted"] is True
    with psycopg.connect(db_url) as conn:
        assert where_found(conn, person_needles(gov, "m2")) == []
        assert usage_totals(conn, gov.tenant) == usage
        assert summary_totals(conn, gov.tenant) == summary
        after = events(conn, gov.tenant)
        # every earlier event is kept (pseudonymised), and the erasure is recorded
        assert len(after) >= kept_before + 1
        assert after[-1][0] == "member.erase"
        assert after[-1][4] == gov.member["admin"]
        # the other members' rows are untouched
        left = conn.execute(
            "select count(*) from messages where tenant_id = %s and user_id = %s",
            (gov.tenant, gov.member["m1"]),
        ).fetchone()
    assert left == (8,)


def test_a_member_of_two_tenants_keeps_the_other_membership_and_account(
    db_url: str, gov: Gov, service: Store
) -> None:
    report = service.governance.erase_member(gov.member["m1"], tenant_id=gov.tenant)
    assert report["account_deleted"] is False
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select count(*) from auth.users where id = %s", (gov.auth["m1"],)
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from usage_metrics where user_id = %s", (gov.member["m1_elsewhere"],)
        ).fetchone() == (1,)
        assert conn.execute("select count(*) from users where id = %s", (gov.member["m1"],)).fetchone() == (
            0,
        )
    # m1 still works in the other tenant
    assert as_user(service, gov, "m1", gov.other).me().id == gov.member["m1_elsewhere"]


def test_who_may_erase_and_missing_looks_like_forbidden(db_url: str, gov: Gov, service: Store) -> None:
    missing = uuid.uuid4()
    refused: list[tuple[str, Callable[[], object]]] = [
        (
            "member erases a colleague",
            lambda: as_user(service, gov, "m1").governance.erase_member(gov.member["m2"]),
        ),
        (
            "member erases themself",
            lambda: as_user(service, gov, "m1").governance.erase_member(gov.member["m1"]),
        ),
        (
            "another tenant's admin",
            lambda: as_user(service, gov, "outsider_admin", gov.other).governance.erase_member(
                gov.member["m2"], tenant_id=gov.tenant
            ),
        ),
        (
            "admin erases the owner",
            lambda: as_user(service, gov, "admin").governance.erase_member(gov.member["owner"]),
        ),
        (
            "admin erases a missing member",
            lambda: as_user(service, gov, "admin").governance.erase_member(missing),
        ),
        (
            "member erases a conversation",
            lambda: as_user(service, gov, "m1").governance.erase_conversation(gov.conversations["m1.0"]),
        ),
        (
            "admin erases the tenant",
            lambda: as_user(service, gov, "admin").governance.erase_tenant(gov.tenant),
        ),
        (
            "another tenant's owner erases it",
            lambda: as_user(service, gov, "o_owner", gov.other).governance.erase_tenant(gov.tenant),
        ),
        ("a missing tenant", lambda: service.governance.erase_tenant(missing)),
        (
            "member redacts",
            lambda: as_user(service, gov, "m1").governance.redact_message(gov.messages["m1.0"][0]),
        ),
        (
            "admin redacts a missing message",
            lambda: as_user(service, gov, "admin").governance.redact_message(missing),
        ),
    ]
    with psycopg.connect(db_url) as conn:
        before = conn.execute("select count(*) from messages where tenant_id = %s", (gov.tenant,)).fetchone()
    outcomes = {}
    for why, action in refused:
        try:
            action()
            outcomes[why] = "allowed"
        except NotFound as e:
            outcomes[why] = "not found" if "not found, or not visible to you" in str(e) else str(e)
    assert outcomes == dict.fromkeys(outcomes, "not found")
    with psycopg.connect(db_url) as conn:
        assert (
            conn.execute("select count(*) from messages where tenant_id = %s", (gov.tenant,)).fetchone()
            == before
        )
    # and the allowed actors succeed
    assert (
        as_user(service, gov, "admin").governance.erase_conversation(gov.conversations["m1.0"])["messages"]
        == 4
    )
    assert as_user(service, gov, "owner").governance.erase_member(gov.member["admin"])["conversations"] == 2


def test_the_last_owner_is_not_erased(gov: Gov, service: Store) -> None:
    with pytest.raises(InvalidInput, match="without an active owner"):
        service.governance.erase_member(gov.member["owner"], tenant_id=gov.tenant)


def test_erasing_a_conversation_keeps_usage_and_pseudonymises_its_events(
    db_url: str, gov: Gov, service: Store
) -> None:
    admin = as_user(service, gov, "admin")
    admin.governance.redact_message(gov.messages["m1.0"][1])
    with psycopg.connect(db_url) as conn:
        usage = usage_totals(conn, gov.tenant)
    assert admin.governance.erase_conversation(gov.conversations["m1.0"]) == {
        "feedback": 2,
        "messages": 4,
        "conversations": 1,
    }
    owned = [str(gov.conversations["m1.0"]), *(str(m) for m in gov.messages["m1.0"])]
    with psycopg.connect(db_url) as conn:
        assert where_found(conn, owned) == []
        assert usage_totals(conn, gov.tenant) == usage
        assert events(conn, gov.tenant)[-1][0] == "conversation.erase"


def test_erasing_a_tenant_leaves_nothing_of_it(db_url: str, gov: Gov, service: Store) -> None:
    other_before = None
    with psycopg.connect(db_url) as conn:
        other_before = usage_totals(conn, gov.other)
    tenant_only = ("owner", "admin", "m2")
    needles = [str(gov.tenant), *(n for name in tenant_only for n in person_needles(gov, name))]
    report = as_user(service, gov, "owner").governance.erase_tenant(gov.tenant)
    assert report["accounts_deleted"] == 3  # m1 keeps the account the other tenant knows
    with psycopg.connect(db_url) as conn:
        assert where_found(conn, needles) == []
        assert usage_totals(conn, gov.other) == other_before
        assert conn.execute(
            "select count(*) from auth.users where id = %s", (gov.auth["m1"],)
        ).fetchone() == (1,)
        erased = conn.execute(
            "select after, actor_auth_id, actor_member_id from audit_events where action = 'tenant.erase'"
            " and after = %s::jsonb",
            (psycopg.types.json.Jsonb(report),),
        ).fetchall()
    assert report["members"] == 4
    assert erased == [(report, None, None)]


def test_an_erasure_killed_half_way_leaves_the_member_whole(db_url: str, gov: Gov) -> None:
    """The erase deletes usage, feedback and messages, then waits on a conversation another
    session holds; its connection is killed there. Everything must still be there."""
    needles = person_needles(gov, "m2")
    with psycopg.connect(db_url) as conn:
        before = {n: where_found(conn, [n]) for n in needles[:3]}
        rows_before = conn.execute(
            "select (select count(*) from messages where user_id = %(m)s), (select count(*) from usage_metrics"
            " where user_id = %(m)s), (select count(*) from feedback where user_id = %(m)s)",
            {"m": gov.member["m2"]},
        ).fetchone()
        usage = usage_totals(conn, gov.tenant)
    holder = psycopg.connect(db_url)
    holder.execute("select 1 from conversations where id = %s for update", (gov.conversations["m2.1"],))
    eraser = psycopg.connect(db_url, autocommit=True)
    pid = eraser.info.backend_pid
    failure: list[BaseException] = []

    def erase() -> None:
        try:
            eraser.execute("select erase_member(%s, %s)", (gov.tenant, gov.member["m2"]))
        except BaseException as e:
            failure.append(e)

    worker = threading.Thread(target=erase)
    worker.start()
    with psycopg.connect(db_url, autocommit=True) as watcher:
        for _ in range(200):  # until the erase waits on the held conversation, half-way through
            waiting = watcher.execute(
                "select wait_event_type from pg_stat_activity where pid = %s", (pid,)
            ).fetchone()
            if waiting and waiting[0] == "Lock":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the erase never reached the held conversation")
        watcher.execute("select pg_terminate_backend(%s)", (pid,))
    worker.join(10)
    holder.rollback()
    holder.close()
    assert failure
    assert isinstance(failure[0], psycopg.OperationalError)
    with psycopg.connect(db_url) as conn:
        assert {n: where_found(conn, [n]) for n in needles[:3]} == before
        assert (
            conn.execute(
                "select (select count(*) from messages where user_id = %(m)s), (select count(*) from usage_metrics"
                " where user_id = %(m)s), (select count(*) from feedback where user_id = %(m)s)",
                {"m": gov.member["m2"]},
            ).fetchone()
            == rows_before
        )
        assert usage_totals(conn, gov.tenant) == usage
    assert rows_before is not None
    assert rows_before[0] == 8


# --- redaction ---------------------------------------------------------------------------------


def test_redaction_replaces_the_content_keeps_no_copy_and_is_audited(
    db_url: str, gov: Gov, service: Store
) -> None:
    target = gov.messages["m1.0"][1]
    with psycopg.connect(db_url) as conn:
        secret = f"my card is 4111 1111 1111 {uuid.uuid4().hex}"
        conn.execute("update messages set content = %s where id = %s", (secret, target))
        conn.commit()
        original = conn.execute("select content from messages where id = %s", (target,)).fetchone()
        usage = usage_totals(conn, gov.tenant)
    assert original is not None
    with pytest.raises(NotFound):
        as_user(service, gov, "m1").governance.redact_message(target)
    as_user(service, gov, "admin").governance.redact_message(target, reason="leaked API key")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select content from messages where id = %s", (target,)).fetchone() == (
            "[redacted]",
        )
        assert where_found(conn, [re.escape(original[0])]) == []
        assert usage_totals(conn, gov.tenant) == usage
        last = events(conn, gov.tenant)[-1]
    assert last[:3] == ("message.redact", "message", target)
    assert last[4] == gov.member["admin"]
    assert last[6] == {"content": "[redacted]", "reason": "leaked API key"}
    # members still read the thread, the marker in place
    thread = as_user(service, gov, "m1").conversations.thread(gov.conversations["m1.0"])
    assert "[redacted]" in [m.content for m in thread.messages]


# --- retention ---------------------------------------------------------------------------------


def test_retention_deletes_old_rows_in_batches_keeps_counters_and_is_audited(
    db_url: str, gov: Gov, service: Store
) -> None:
    with psycopg.connect(db_url) as conn:
        # age m1's threads: m1.0's turns 40 days old, m1.1 (archived) 100 days
        conn.execute(
            "update messages set created_at = now() - interval '40 days' where conversation_id = %s",
            (gov.conversations["m1.0"],),
        )
        conn.execute(
            "update conversations set last_message_at = now() - interval '100 days',"
            " created_at = now() - interval '100 days' where id = %s",
            (gov.conversations["m1.1"],),
        )
        conn.commit()
        usage = usage_totals(conn, gov.tenant)
    admin = as_user(service, gov, "admin")
    with pytest.raises(NotFound):
        admin.governance.set_retention(messages_days=30)
    with pytest.raises(InvalidInput):
        service.governance.set_retention(messages_days=0, tenant_id=gov.tenant)
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute(
            'update tenants set settings = \'{"retention": {"messages_days": "soon"}}\' where id = %s',
            (gov.tenant,),
        )
    owner = as_user(service, gov, "owner")
    assert owner.governance.set_retention(archived_conversations_days=90, messages_days=30) == {
        "archived_conversations_days": 90,
        "messages_days": 30,
    }
    with psycopg.connect(db_url) as conn, conn.transaction():
        act_as(conn, gov.who("m1"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select apply_retention(10)")
    handled = maintain(db_url, batch_size=3)
    assert set(handled) == {"retention", "stale streams"}  # every job ran
    assert handled["retention"] == 1 + 4  # the archived thread, then m1.0's four turns (3 + 1)
    with psycopg.connect(db_url) as conn:
        counters = conn.execute(
            "select c.id, c.message_count, (select count(*) from messages m where m.tenant_id = c.tenant_id"
            " and m.conversation_id = c.id) from conversations c where c.tenant_id = %s",
            (gov.tenant,),
        ).fetchall()
        assert all(count == actual for _, count, actual in counters)
        ids = {c[0] for c in counters}
        assert gov.conversations["m1.1"] not in ids
        assert gov.conversations["m1.0"] in ids
        assert usage_totals(conn, gov.tenant) == usage
        applied = [e for e in events(conn, gov.tenant) if e[0] == "retention.apply"]
        assert sum(e[6]["messages"] for e in applied) == 4
        assert sum(e[6]["conversations"] for e in applied) == 1
    assert maintain(db_url, batch_size=3)["retention"] == 0


def test_plain_reads_are_refused_to_other_tenants(db_url: str, gov: Gov) -> None:
    """The audit table's policy, row by row: an admin of the other tenant sees none of this one's."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        act_as(conn, gov.who("outsider_admin"))
        assert conn.execute(
            "select count(*) from audit_events where tenant_id = %s", (gov.tenant,)
        ).fetchone() == (0,)
        own = conn.execute("select count(*) from audit_events where tenant_id = %s", (gov.other,)).fetchone()
    assert own is not None
    assert own[0] > 0
    with psycopg.connect(db_url) as conn, conn.transaction():
        act_as(conn, Identity.anon())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from audit_events")


def test_permission_errors_stay_typed(gov: Gov, service: Store) -> None:
    anon = service.as_user(uuid.uuid4())
    with pytest.raises((NotFound, PermissionDenied)):
        anon.governance.erase_tenant(gov.tenant)


def test_the_seed_writes_audit_events(migrated_database: Callable[[], str]) -> None:
    from supatenant.seeding.load import seed_database
    from supatenant.seeding.plan import ANCHOR, PRESETS

    url = migrated_database()
    _, seeding = seed_database(url, PRESETS["tiny"], 1, ANCHOR)
    with psycopg.connect(url) as conn:
        counts: dict[str, int] = {
            str(action): int(str(n))
            for action, n in conn.execute(
                "select action, count(*) from audit_events group by action"
            ).fetchall()
        }
        members = conn.execute("select count(*) from users").fetchone()
    assert counts == {"tenant.create": len(seeding.heads), "member.add": members[0] if members else -1}
    # and an admin of a seeded tenant reads their tenant's
    head = seeding.heads[0]
    admin = next(c for c in head.credentials if c["role"] in ("owner", "admin") and c["active"])
    with Store.connect(url, auth_user_id=uuid.UUID(admin["auth_id"])) as store:
        assert len(store.governance.audit_events()) == 1 + len(head.credentials)
