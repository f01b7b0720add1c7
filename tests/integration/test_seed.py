"""The seed: deterministic, idempotent, consistent with itself, and isolated by RLS."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supatenant import Store
from supatenant.errors import Conflict, DatabaseUnreachable, SetupError
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import ANCHOR, Sizes, TenantRows, key

SIZES = Sizes(
    tenants=3,
    users_per_tenant=4,
    conversations_per_user=2,
    messages_per_conversation=6,
    feedback_rate=0.5,
    days=5,
)
TABLES = ("tenants", "users", "conversations", "messages", "feedback", "usage_metrics")


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select * from public.{t} order by 1, 2, 3").fetchall() for t in TABLES}


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from public.{t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.fixture
def seeded(migrated_database: Callable[[], str]) -> str:
    url = migrated_database()
    seed_database(url, SIZES, 42, ANCHOR)
    return url


def test_the_same_seed_gives_the_same_rows(seeded: str, migrated_database: Callable[[], str]) -> None:
    other = migrated_database()
    seed_database(other, SIZES, 42, ANCHOR)
    a, b = _dump(seeded), _dump(other)
    for table in TABLES:
        assert a[table] == b[table], table
    assert len(a["messages"]) == 3 * 4 * 2 * 6


def test_a_different_seed_gives_different_rows(migrated_database: Callable[[], str]) -> None:
    url = migrated_database()
    seed_database(url, SIZES, 1, ANCHOR)
    seed_database(url, SIZES, 2, ANCHOR)
    assert _counts(url)["tenants"] == 6


def test_running_it_again_adds_nothing_and_completes_what_is_missing(seeded: str) -> None:
    before = _counts(seeded)
    report, _ = seed_database(seeded, SIZES, 42, ANCHOR)
    assert (report.tenants_written, report.tenants_present) == (0, 3)
    assert _counts(seeded) == before
    bigger, _ = seed_database(seeded, Sizes(**{**SIZES.__dict__, "tenants": 4}), 42, ANCHOR)
    assert (bigger.tenants_written, bigger.tenants_present) == (1, 3)


def test_usage_agrees_exactly_with_the_messages(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        mismatches = conn.execute(
            """
            with from_messages as (
              select tenant_id, user_id, (created_at at time zone 'utc')::date as day,
                     count(*) as requests,
                     sum((metadata->>'prompt_tokens')::bigint) as prompt,
                     sum(token_count) as completion,
                     sum((metadata->>'cost_usd')::numeric) as cost
              from public.messages where role = 'assistant'
              group by 1, 2, 3)
            select * from from_messages f
            full join public.usage_metrics u
              on (u.tenant_id, u.user_id, u.usage_date) = (f.tenant_id, f.user_id, f.day)
            where u.request_count is distinct from f.requests or u.prompt_tokens is distinct from f.prompt
               or u.completion_tokens is distinct from f.completion or u.cost_usd is distinct from f.cost
            """
        ).fetchall()
        counters = conn.execute(
            "select count(*) from public.conversations c where message_count <>"
            " (select count(*) from public.messages m where m.conversation_id = c.id)"
            " or last_message_at is distinct from (select max(created_at) from public.messages m where m.conversation_id = c.id)"
        ).fetchone()
        usage_rows = conn.execute("select count(*) from public.usage_metrics").fetchone()
    assert mismatches == []
    assert counters == (0,)
    assert usage_rows is not None
    assert usage_rows[0] > 0


def test_the_data_is_believable(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        roles: dict[str, int] = dict(
            conn.execute("select role, count(*) from public.users group by role").fetchall()
        )
        turns = conn.execute(
            "select role from public.messages where conversation_id = (select id from public.conversations"
            " where id in (select conversation_id from public.messages where role = 'system') limit 1)"
            " order by created_at"
        ).fetchall()
        ratings: dict[int, int] = dict(
            conn.execute("select rating, count(*) from public.feedback group by rating").fetchall()
        )
    assert roles["owner"] == 3
    assert roles["admin"] == 3
    assert [r[0] for r in turns] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert ratings[1] > ratings.get(-1, 0)


def test_auth_users_are_rows_supabase_auth_can_read(seeded: str) -> None:
    """Supabase Auth scans its token columns as strings: a null there breaks sign-in and
    its admin API for every user, so rows written directly hold '' as Auth's own do."""
    with psycopg.connect(seeded) as conn:
        rows = conn.execute(
            "select confirmation_token, recovery_token, email_change_token_new, email_change,"
            " aud, role, email_confirmed_at is not null, raw_app_meta_data ->> 'provider', instance_id"
            " from auth.users where email like '%%@seed42-%%'"
        ).fetchall()
    assert len(rows) == SIZES.tenants * SIZES.users_per_tenant
    assert set(rows) == {("", "", "", "", "authenticated", "authenticated", True, "email", uuid.UUID(int=0))}


def check_member_view(store: Store, cred: dict[str, Any], rows: TenantRows) -> None:
    """What the access matrix lets a seeded member see: their tenant only; all its
    conversations for owners and admins, their own for members; nothing when inactive."""
    if not cred["active"]:
        assert store.tenants.list() == []
        return
    assert [t.id for t in store.tenants.list()] == [rows.tenant["id"]]
    seen = {c.id for c in store.conversations.list(everyone=True, archived=None, limit=100).items}
    own = {c["id"] for c in rows.conversations if str(c["user_id"]) == cred["member_id"]}
    assert seen == ({c["id"] for c in rows.conversations} if cred["role"] != "member" else own)


def test_every_seeded_member_sees_exactly_their_tenant(seeded: str) -> None:
    _, seeding = seed_database(seeded, SIZES, 42, ANCHOR)
    with Store.connect(seeded, service_role=True, max_size=1) as service:
        for index in range(SIZES.tenants):
            rows = seeding.tenant(index)
            for cred in rows.credentials:
                check_member_view(service.as_user(uuid.UUID(cred["auth_id"])), cred, rows)


def _seed_command(url: str, jobs: str) -> list[str]:
    """``supatenant seed`` for SIZES, seed 42, ending at ANCHOR: the rows of the ``seeded`` fixture."""
    flags = {
        "--tenants": SIZES.tenants,
        "--users-per-tenant": SIZES.users_per_tenant,
        "--conversations-per-user": SIZES.conversations_per_user,
        "--messages-per-conversation": SIZES.messages_per_conversation,
        "--feedback-rate": SIZES.feedback_rate,
        "--days": SIZES.days,
        "--seed": 42,
        "--end": ANCHOR.date().isoformat(),
        "--jobs": jobs,
    }
    return [sys.executable, "-m", "supatenant.cli", "seed", "--database-url", url] + [
        str(x) for kv in flags.items() for x in kv
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_mid_tenant_leaves_finished_tenants_whole_and_a_rerun_completes(
    jobs: str, seeded: str, migrated_database: Callable[[], str]
) -> None:
    url = migrated_database()
    last = key(42, "auth", SIZES.tenants - 1, 0)  # the last tenant's first member
    with psycopg.connect(url) as blocker:
        # an uncommitted row with that auth id: the seed waits on it inside the last tenant's
        # transaction, after writing that tenant's row, and is interrupted there
        blocker.execute("insert into auth.users (id, email) values (%s, 'blocker@example.test')", (last,))
        seed = subprocess.Popen(
            _seed_command(url, jobs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with psycopg.connect(url, autocommit=True) as watcher:
            for _ in range(600):
                waiting = watcher.execute(
                    "select count(*) from pg_stat_activity where datname = current_database()"
                    " and wait_event_type = 'Lock' and query like 'insert into auth.users%%'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                assert seed.poll() is None, seed.communicate()
                time.sleep(0.05)
            else:
                pytest.fail("the seed never reached the last tenant")
        seed.send_signal(signal.SIGINT)
        out, err = seed.communicate(timeout=60)
        blocker.rollback()
    assert seed.returncode == 130, (out, err)
    assert "interrupted; every finished tenant is complete, a re-run writes the rest" in err
    partial = _dump(url)
    whole = _dump(seeded)
    finished = {row[0] for row in partial["tenants"]}
    # in one process the tenants before the last are done; with workers one may be cut off too
    assert finished <= {key(42, "tenant", i) for i in range(SIZES.tenants - 1)}
    assert len(finished) >= (SIZES.tenants - 1 if jobs == "1" else 1)
    for table in TABLES:
        # every finished tenant is there in full, and nothing of the interrupted one
        assert partial[table] == [r for r in whole[table] if _tenant_of(table, r) in finished], table
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "select count(*) from auth.users where email like %s", (f"%@seed42-{SIZES.tenants - 1}.%",)
        )
        assert left.fetchone() == (0,)
    rerun = subprocess.run(_seed_command(url, jobs), capture_output=True, text=True, check=True)
    missing = SIZES.tenants - len(finished)
    assert f"seeded {missing} tenants ({len(finished)} already there)" in rerun.stdout
    assert _dump(url) == whole


def test_worker_processes_write_the_same_rows_as_one_process(
    seeded: str, migrated_database: Callable[[], str]
) -> None:
    url = migrated_database()
    report, _ = seed_database(url, SIZES, 42, ANCHOR, jobs=2)
    assert (report.tenants_written, report.messages_written) == (SIZES.tenants, 3 * 4 * 2 * 6)
    assert _dump(url) == _dump(seeded)


def _tenant_of(table: str, row: tuple[Any, ...]) -> Any:
    return row[0] if table in ("tenants", "usage_metrics") else row[1]


def test_a_conflicting_row_stops_the_seed_before_anything_is_written(
    migrated_database: Callable[[], str],
) -> None:
    url = migrated_database()
    with psycopg.connect(url) as conn:
        conn.execute("insert into public.tenants (name, slug) values ('Theirs', 'seed42-1')")
    with pytest.raises(Conflict, match="seed42-1"):
        seed_database(url, SIZES, 42, ANCHOR)
    assert _counts(url)["tenants"] == 1


def test_a_database_without_the_schema_or_server_is_refused(fresh_database: Callable[[], str]) -> None:
    with pytest.raises(SetupError, match="supatenant up"):
        seed_database(fresh_database(), SIZES, 1, ANCHOR)
    with pytest.raises(DatabaseUnreachable):
        seed_database("postgresql://postgres@127.0.0.1:1/none", SIZES, 1, ANCHOR)


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="tenants must be at least 1"):
        seed_database("postgresql://unused", Sizes(tenants=0), 1, ANCHOR)
    with pytest.raises(ValueError, match="feedback-rate"):
        seed_database("postgresql://unused", Sizes(feedback_rate=2.0), 1, ANCHOR)


def test_anchor_is_fixed() -> None:
    assert datetime(2026, 1, 1).date() == ANCHOR.date()


def test_committed_seed_sql_is_current_and_loads_the_same_rows_as_the_seed(
    migrated_database: Callable[[], str],
) -> None:
    from supatenant.project import supabase_dir
    from supatenant.seeding import sql as seed_sql
    from supatenant.seeding.plan import PRESETS

    assert seed_sql.main(["--check"]) == 0, "run `python -m supatenant.seeding.sql` and commit"
    from_file, from_seed = migrated_database(), migrated_database()
    with psycopg.connect(from_file, autocommit=True) as conn:
        conn.execute((supabase_dir() / "seed.sql").read_text())  # trusted project file
    seed_database(from_seed, PRESETS["tiny"], 1, ANCHOR)
    assert _dump(from_file) == _dump(from_seed)


def test_the_command_lists_members_without_passwords_over_a_direct_connection(
    migrated_database: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supatenant import cli
    from supatenant.seeding.load import plan
    from supatenant.seeding.plan import PRESETS

    url = migrated_database()
    flags = ["seed", "--database-url", url, "--preset", "tiny", "--end", "2026-01-01"]
    assert cli.main(flags) == 0
    out = capsys.readouterr().out
    heads = plan(PRESETS["tiny"], 1, ANCHOR).heads
    members = [c for head in heads for c in head.credentials]
    assert out.startswith(f"seeded {len(heads)} tenants (0 already there)")
    for c in members:
        assert f"auth {c['auth_id']}" in out
    assert "(no passwords: act as a member by auth id" in out  # no password works over a direct connection
    written = tmp_path / "members.json"
    assert cli.main([*flags, "--credentials", str(written)]) == 0
    assert json.loads(written.read_text()) == members
    assert all("password" not in c for c in members)
