"""The cost of row-level security on typical reads: an API role against the service role.

    .venv/bin/python -m bench.bench_rls [--messages 1000000] [--conversations-per-tenant 15000]

Each comparison times the same read as a user of the API (``authenticated``, acting as a
member or admin exactly as PostgREST does: role and JWT claims set in the transaction)
and as ``service_role`` with an explicit tenant filter, alternating round by round, each
on a connection of its own (so each keeps its own cached plan), and reports the medians
and their ratio:

1. a member reading the latest 50 messages of one of their conversations; and, as a
   baseline, the same read on a copy of the messages table guarded by the simple policy
   of Supabase's RLS performance guide (``tenant_id in (select tenant_id from users where
   auth_id = (select auth.uid()))``);
2. an admin listing the 20 most recently updated conversations of a tenant that has
   ``--conversations-per-tenant`` of them;
3. a member calling ``message_feedback_summary`` (for one of their conversations) and
   ``monthly_usage_summary``;
4. a member searching messages by full text (``--search``, web-search syntax).

The summary and search reads adapt to the schema: where the functions take
``p_tenant_id`` (and ``search_messages`` exists), they are called with it; else the
service role filters the function's rows by tenant and search is a select on messages.
The statements measured are printed with the figures.

Reports figures only; nothing here asserts a speed. ``bench.bench_schema`` runs this
too, on the same data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from bench.dataset import BIG_TENANT_SLUG, load, scratch_database
from supatenant.auth import Identity
from supatenant.backends.postgres import act_as

MIN_ROUNDS = 20
SEARCH = "refund -shipping"
THREAD = (
    "select id, role, content, created_at from {table}"
    " where tenant_id = %s and conversation_id = %s order by seq desc limit 50"
)
ADMIN_LIST = "select * from conversations where tenant_id = %s order by updated_at desc limit 20"
GUIDE_POLICY = "tenant_id in (select tenant_id from public.users where auth_id = (select auth.uid()))"


@dataclass(frozen=True)
class Read:
    identity: Identity
    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class People:
    tenant_id: UUID
    member_auth_id: UUID
    conversation_id: UUID
    admin_auth_id: UUID


def create_guide_copy(url: str) -> None:
    """``bench_guide_messages``: messages copied with their indexes, under the guide's one policy."""
    with psycopg.connect(url) as conn:
        conn.execute("create table bench_guide_messages (like public.messages including all)")
        conn.execute("insert into bench_guide_messages select * from public.messages")
        conn.execute("alter table bench_guide_messages enable row level security")
        conn.execute(
            "create policy guide_select on bench_guide_messages for select to authenticated"
            f" using ({GUIDE_POLICY})"
        )
        conn.execute("revoke all on bench_guide_messages from public, anon, authenticated, service_role")
        conn.execute("grant select on bench_guide_messages to authenticated, service_role")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze bench_guide_messages")


def _people(url: str) -> People:
    """The big tenant, a plain member there with one of their threads, and its admin."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select u.tenant_id, u.auth_id, c.id,"
            "  (select a.auth_id from users a where a.tenant_id = u.tenant_id and a.role = 'admin' limit 1)"
            " from users u join conversations c on c.tenant_id = u.tenant_id and c.user_id = u.id"
            " where u.tenant_id = (select id from tenants where slug = %s) and u.role = 'member'"
            "  and c.message_count > 0"
            " order by u.email, c.id limit 1",
            (BIG_TENANT_SLUG,),
        ).fetchone()
    assert row is not None, "no member with messages in the big tenant"
    return People(*row)


def function_args(conn: psycopg.Connection[Any], name: str) -> set[str] | None:
    """Input argument names of ``public.<name>`` over all its overloads; None when there is none."""
    rows = conn.execute(
        "select a.name from pg_proc p"
        " left join lateral unnest(p.proargnames, coalesce(p.proargmodes,"  # no modes: all are inputs
        "   array_fill('i'::\"char\", array[coalesce(cardinality(p.proargnames), 0)])))"
        "   as a(name, mode) on a.mode in ('i', 'b', 'v')"
        " where p.pronamespace = 'public'::regnamespace and p.proname = %s",
        (name,),
    ).fetchall()
    if not rows:
        return None
    return {r[0] for r in rows if r[0] is not None}


def detect_forms(url: str) -> dict[str, bool]:
    """Which reads the schema offers in the tenant-argument form."""
    with psycopg.connect(url) as conn:
        feedback = function_args(conn, "message_feedback_summary") or set()
        usage = function_args(conn, "monthly_usage_summary") or set()
        search = function_args(conn, "search_messages") or set()
    return {
        "message_feedback_summary": "p_tenant_id" in feedback,
        "monthly_usage_summary": "p_tenant_id" in usage,
        "search_messages": {"p_query", "p_tenant_id"} <= search,
    }


def compare(url: str, reads: dict[str, Read], rounds: int, seconds: float) -> dict[str, Any]:
    """Time each read ``rounds`` times (fewer when ``seconds`` run out, never under MIN_ROUNDS)."""
    timings: dict[str, list[float]] = {name: [] for name in reads}
    rows: dict[str, int] = {}
    with ExitStack() as stack:
        conns = {name: stack.enter_context(psycopg.connect(url)) for name in reads}
        deadline = time.monotonic() + seconds
        done = 0
        while done < rounds and (done < MIN_ROUNDS or time.monotonic() < deadline):
            for name, read in reads.items():  # alternate, so drift hits all alike
                conn = conns[name]
                with conn.transaction():
                    act_as(conn, read.identity)
                    start = time.perf_counter()
                    got = conn.execute(read.sql, read.params, prepare=True).fetchall()
                    timings[name].append(time.perf_counter() - start)
                rows[name] = len(got)
            done += 1
    result: dict[str, Any] = {
        f"{name}_ms": round(statistics.median(t) * 1e3, 3) for name, t in timings.items()
    }
    result["rows"] = rows
    result["rounds"] = done
    return result


def _pair(
    url: str, api: str, api_read: Read, service_read: Read, rounds: int, seconds: float
) -> dict[str, Any]:
    """One API role against service_role: medians, ratio and the statements measured."""
    result = compare(url, {api: api_read, "service_role": service_read}, rounds, seconds)
    result[f"{api}_over_service"] = round(result[f"{api}_ms"] / result["service_role_ms"], 2)
    result["sql"] = {api: api_read.sql, "service_role": service_read.sql}
    return result


def thread_read(url: str, people: People, rounds: int, seconds: float) -> dict[str, Any]:
    member, service = Identity.user(people.member_auth_id), Identity.service()
    params = (people.tenant_id, people.conversation_id)
    ours, guide = THREAD.format(table="messages"), THREAD.format(table="bench_guide_messages")
    reads = {
        "member": Read(member, ours, params),
        "service_role": Read(service, ours, params),
        "guide_copy_member": Read(member, guide, params),
        "guide_copy_service_role": Read(service, guide, params),
    }
    result = compare(url, reads, rounds, seconds)
    result["member_over_service"] = round(result["member_ms"] / result["service_role_ms"], 2)
    result["guide_copy_member_over_service"] = round(
        result["guide_copy_member_ms"] / result["guide_copy_service_role_ms"], 2
    )
    result["sql"] = ours
    result["guide_policy"] = GUIDE_POLICY
    return result


def admin_list(url: str, people: People, rounds: int, seconds: float) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from conversations where tenant_id = %s", (people.tenant_id,))
        counted = row.fetchone()
    assert counted is not None
    params = (people.tenant_id,)
    result = _pair(
        url,
        "admin",
        Read(Identity.user(people.admin_auth_id), ADMIN_LIST, params),
        Read(Identity.service(), ADMIN_LIST, params),
        rounds,
        seconds,
    )
    return {"conversations_in_tenant": counted[0], **result}


def feedback_summary(url: str, people: People, new_form: bool, rounds: int, seconds: float) -> dict[str, Any]:
    member = Identity.user(people.member_auth_id)
    if new_form:
        sql = "select * from public.message_feedback_summary(p_conversation_id => %s, p_tenant_id => %s)"
        member_read = Read(member, sql, (people.conversation_id, people.tenant_id))
        service_read = Read(Identity.service(), sql, (people.conversation_id, people.tenant_id))
    else:
        sql = "select * from public.message_feedback_summary(p_conversation_id => %s)"
        member_read = Read(member, sql, (people.conversation_id,))
        service_read = Read(
            Identity.service(), sql + " where tenant_id = %s", (people.conversation_id, people.tenant_id)
        )
    form = "p_tenant_id argument" if new_form else "no p_tenant_id: service filters the rows by tenant"
    return {"form": form, **_pair(url, "member", member_read, service_read, rounds, seconds)}


def usage_summary(url: str, people: People, new_form: bool, rounds: int, seconds: float) -> dict[str, Any]:
    member = Identity.user(people.member_auth_id)
    if new_form:
        sql = "select * from public.monthly_usage_summary(p_tenant_id => %s)"
        member_read = Read(member, sql, (people.tenant_id,))
        service_read = Read(Identity.service(), sql, (people.tenant_id,))
    else:
        sql = "select * from public.monthly_usage_summary()"
        member_read = Read(member, sql, ())
        service_read = Read(Identity.service(), sql + " where tenant_id = %s", (people.tenant_id,))
    form = "p_tenant_id argument" if new_form else "no p_tenant_id: service filters the rows by tenant"
    return {"form": form, **_pair(url, "member", member_read, service_read, rounds, seconds)}


def search(
    url: str, people: People, query: str, new_form: bool, rounds: int, seconds: float
) -> dict[str, Any]:
    member = Identity.user(people.member_auth_id)
    if new_form:
        member_read = Read(member, "select * from public.search_messages(p_query => %s)", (query,))
        service_read = Read(
            Identity.service(),
            "select * from public.search_messages(p_query => %s, p_tenant_id => %s)",
            (query, people.tenant_id),
        )
        form = "search_messages(p_query[, p_tenant_id])"
    else:
        sql = (
            "select * from messages where tenant_id = %s"
            " and to_tsvector('english', content) @@ websearch_to_tsquery('english', %s)"
            " order by created_at desc limit 20"
        )
        member_read = Read(member, sql, (people.tenant_id, query))
        service_read = Read(Identity.service(), sql, (people.tenant_id, query))
        form = "select on messages (no search_messages function)"
    return {"form": form, "query": query, **_pair(url, "member", member_read, service_read, rounds, seconds)}


def schema_version(url: str) -> str | None:
    """The newest migration the Supabase CLI recorded as applied."""
    with psycopg.connect(url) as conn:
        row = conn.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()
    return None if row is None else row[0]


def run(url: str, rounds: int, seconds: float, query: str = SEARCH) -> dict[str, Any]:
    """Every comparison above, on loaded data; creates the guide's copy first."""
    start = time.monotonic()
    create_guide_copy(url)
    copy_seconds = round(time.monotonic() - start, 1)
    people = _people(url)
    forms = detect_forms(url)
    return {
        "schema_version": schema_version(url),
        "tenant_argument_forms": forms,
        "guide_copy_seconds": copy_seconds,
        "thread_read": thread_read(url, people, rounds, seconds),
        "admin_list_conversations": admin_list(url, people, rounds, seconds),
        "message_feedback_summary": feedback_summary(
            url, people, forms["message_feedback_summary"], rounds, seconds
        ),
        "monthly_usage_summary": usage_summary(url, people, forms["monthly_usage_summary"], rounds, seconds),
        "search": search(url, people, query, forms["search_messages"], rounds, seconds),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations-per-tenant", type=int, default=15_000)
    parser.add_argument("--rounds", type=int, default=2000, help="rounds per comparison, at most")
    parser.add_argument(
        "--read-seconds", type=float, default=5.0, help="time per comparison, at most (20 rounds at least)"
    )
    parser.add_argument("--search", default=SEARCH, help="the full-text query (web-search syntax)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args()
    with scratch_database() as url:
        start = time.monotonic()
        load(url, args.messages, args.conversations_per_tenant)
        results: dict[str, Any] = {"load_seconds": round(time.monotonic() - start, 1)}
        results.update(run(url, args.rounds, args.read_seconds, args.search))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
