"""The adversarial isolation harness: a world, the access matrix as an oracle, a runner.

- ``build_world`` fills a fresh migrated database (as the superuser) with four tenants, every
  actor of the access matrix, and rows of every kind in every tenant; ``World.base`` is the
  ground truth, read back as JSON.
- The oracle (``expect_*``) is written from README's "Who may do what" and DESIGN's membership
  rules, never from the policies: for a statement and an actor it predicts the rows the actor
  reads, or the exact change a write makes, or that the write is refused (and which SQLSTATEs
  count as a refusal). Integrity (keys, foreign keys, "a tenant keeps an active owner") is
  modelled on the same ground truth, so a refusal for a bad reference is told apart from an
  access refusal.
- ``run`` executes a statement as an actor the way PostgREST does (``set_config('role')`` and
  ``set_config('request.jwt.claims')`` in the transaction), in a savepoint, then re-reads the
  database as the superuser in the same transaction, which is always rolled back.

Where the matrix is silent the oracle accepts either outcome (success with the predicted effect,
or a refusal with nothing changed), never a third: a chosen id or timestamp on insert; assigning
a column the actor may never change the value it already has; a turn naming a member other than
its thread's owner; an invitation whose sender has since lost the right to invite. Readings it
takes: a display name is its member's alone to change; an "active owner" is one who can sign in.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from supatenant.auth import Identity
from supatenant.backends.postgres import act_as

Row = dict[str, Any]
Key = tuple[Any, ...]
Tables = dict[str, dict[Key, Row]]


class _Any:
    """A predicted value the oracle cannot know (a generated id, a timestamp, a token)."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()

# columns every comparison ignores: stamped by triggers on any update
IGNORED = frozenset({"updated_at"})

# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------

NAMESPACE = uuid.UUID("6f1d0c5e-2b6a-4a53-9d0e-7c1b4f0a9e21")


def uid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


@dataclass(frozen=True)
class Actor:
    name: str
    role: Literal["anon", "authenticated", "service_role"]
    auth_id: str | None = None
    email: str | None = None

    def identity(self) -> Identity:
        if self.role == "anon":
            return Identity.anon()
        if self.role == "service_role":
            return Identity.service()
        assert self.auth_id is not None
        return Identity.user(uuid.UUID(self.auth_id))


# the attackers the suite draws from (the brief's list); the others exist to prove allowed sides
ATTACKERS = (
    "anon",
    "nomember",
    "inactive",
    "inactive_tenant",
    "m1",
    "m2",
    "admin",
    "owner",
    "cross_admin",
    "both",
    "b_member",
    "service",
)
HELPERS = ("b_owner", "e_owner")

TENANTS = (("A", "Acme", True), ("B", "Beta", True), ("C", "Gone", False), ("E", "Echo", True))
PEOPLE = (
    "owner",
    "admin",
    "m1",
    "m2",
    "inactive",
    "inactive_tenant",
    "cross_admin",
    "both",
    "b_member",
    "b_owner",
    "e_owner",
    "nomember",
)
# (person, tenant, role, active); b_member joins B by accepting an invitation
MEMBERSHIPS = (
    ("owner", "A", "owner", True),
    ("admin", "A", "admin", True),
    ("m1", "A", "member", True),
    ("m2", "A", "member", True),
    ("inactive", "A", "member", False),
    ("cross_admin", "A", "member", True),
    ("both", "A", "member", True),
    ("b_owner", "B", "owner", True),
    ("both", "B", "member", True),
    ("inactive_tenant", "C", "owner", True),
    ("e_owner", "E", "owner", True),
    ("cross_admin", "E", "admin", True),
)
# member rows added with no account yet: (label, tenant, email, role); the owner row in E is
# the service's, and m2 holds only a member invitation there
PENDING_ROWS = (
    ("pending_A", "A", "pending@example.test", "member"),
    ("pending_E", "E", "NoMember@example.test", "member"),
    ("pending_owner_E", "E", "m2@example.test", "owner"),
)
# (label, person, tenant, archived, age in days)
CONVERSATIONS = (
    ("c_owner", "owner", "A", False, 0),
    ("c_admin", "admin", "A", False, 0),
    ("c_m1", "m1", "A", False, 0),
    ("c_m1_archived", "m1", "A", True, 0),
    ("c_m2", "m2", "A", False, 0),
    ("c_m2_stale", "m2", "A", False, 90),
    ("c_inactive", "inactive", "A", False, 0),
    ("c_cross_A", "cross_admin", "A", False, 0),
    ("c_cross_E", "cross_admin", "E", False, 0),
    ("c_both_A", "both", "A", False, 0),
    ("c_both_B", "both", "B", False, 0),
    ("c_b_owner", "b_owner", "B", False, 0),
    ("c_b_member", "b_member", "B", False, 0),
    ("c_inactive_tenant", "inactive_tenant", "C", False, 0),
    ("c_e_owner", "e_owner", "E", False, 0),
)
TOPICS = ("invoice", "delivery", "password", "warranty")
SEARCH_WORDS = (*TOPICS, "refund", "zebra")
# extra ratings beyond each owner rating their own answer: (rater, tenant, message label, rating)
EXTRA_FEEDBACK = (
    ("admin", "A", "c_m1:answer", -1),
    ("owner", "A", "c_m2:question", 1),
    ("b_owner", "B", "c_both_B:answer", -1),
    ("cross_admin", "E", "c_e_owner:answer", 1),
)
# invitations made by the service: (label, tenant, email, role)
INVITATIONS = (
    ("inv_A_nomember", "A", "nomember@example.test", "member"),
    ("inv_A_m2", "A", "m2@example.test", "admin"),
    ("inv_A_future", "A", "future@example.test", "admin"),
    ("inv_A_expired", "A", "b_member@example.test", "member"),
    ("inv_B_owner", "B", "new-owner@example.test", "owner"),
    ("inv_B_b_member", "B", "b_member@example.test", "member"),
    ("inv_C_nomember", "C", "nomember@example.test", "member"),
    ("inv_E_nomember", "E", "NOMEMBER@example.test", "member"),
    ("inv_E_m1", "E", "m1@example.test", "admin"),
    ("inv_E_m2", "E", "m2@example.test", "member"),
)

# the relations API roles can reach, with their primary keys
PUBLIC_TABLES = {
    "public.tenants": ("id",),
    "public.users": ("tenant_id", "id"),
    "public.invitations": ("tenant_id", "id"),
    "public.conversations": ("tenant_id", "id"),
    "public.messages": ("tenant_id", "id"),
    "public.feedback": ("tenant_id", "id"),
    "public.usage_metrics": ("tenant_id", "user_id", "usage_date"),
}
VIEWS = {"public.current_day_usage": ("tenant_id", "user_id", "usage_date")}
PRIVATE_SUMMARIES = ("private.message_feedback_summary", "private.monthly_usage_summary")


@dataclass
class World:
    url: str
    actors: dict[str, Actor]
    base: Tables
    columns: dict[str, dict[str, str]]  # relation -> column -> type, for casts
    functions: dict[str, dict[str, str]]  # public function -> argument -> type
    summaries: dict[str, list[Row]]  # private materialized views as refreshed
    tokens: dict[str, str]  # invitation label -> its token
    ids: dict[str, str]  # labels -> ids (tenants, members, conversations, messages, ...)
    auth_ids: frozenset[str]
    today: str
    built_at: datetime
    # rows outside the API's tables that reference them (e.g. private token hashes), as
    # (parent table, parent columns, update action, referenced keys)
    outside_refs: list[tuple[str, tuple[str, ...], str, frozenset[Key]]] = field(default_factory=list)

    def state(self) -> State:
        return State(self.base)

    def label(self, value: Any) -> str:
        """The world's name for an id, for readable failure messages."""
        for name, known in self.ids.items():
            if known == value:
                return name
        return str(value)


def _rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query.encode(), params).fetchall()  # test-owned, constant SQL


def build_world(conn: psycopg.Connection[Any], url: str) -> World:
    """Fill the database as the superuser and read the ground truth back. Commits."""
    ids: dict[str, str] = {}
    for t, name, active in TENANTS:
        ids[t] = uid(f"tenant:{t}")
        conn.execute(
            "insert into public.tenants (id, name, slug, plan, is_active) values (%s, %s, %s, 'pro', %s)",
            (ids[t], name, f"tenant-{t.lower()}", active),
        )
    actors: dict[str, Actor] = {
        "anon": Actor("anon", "anon"),
        "service": Actor("service", "service_role"),
    }
    for person in PEOPLE:
        auth_id, email = uid(f"auth:{person}"), f"{person}@example.test"
        conn.execute(
            "insert into auth.users (id, email, role, aud, confirmation_token, recovery_token,"
            " email_change_token_new, email_change) values (%s, %s, 'authenticated', 'authenticated', '', '', '', '')",
            (auth_id, email),
        )
        actors[person] = Actor(person, "authenticated", auth_id, email)
        ids[f"auth:{person}"] = auth_id
    for person, t, role, active in MEMBERSHIPS:
        member = uid(f"member:{person}:{t}")
        ids[f"{person}@{t}"] = member
        conn.execute(
            "insert into public.users (id, tenant_id, auth_id, email, display_name, role, is_active)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            (member, ids[t], actors[person].auth_id, actors[person].email, person, role, active),
        )
    for label, t, email, role in PENDING_ROWS:
        ids[label] = uid(f"member:{label}")
        conn.execute(
            "insert into public.users (id, tenant_id, email, role) values (%s, %s, %s, %s)",
            (ids[label], ids[t], email, role),
        )
    tokens: dict[str, str] = {}
    for label, t, email, role in INVITATIONS:
        row = conn.execute(
            "select invitation_id, token from public.invite_member(p_tenant_id => %s::uuid, p_email => %s::text,"
            " p_role => %s::text)",
            (ids[t], email, role),
        ).fetchone()
        assert row is not None
        ids[label], tokens[label] = str(row[0]), row[1]
    conn.execute(
        "update public.invitations set expires_at = now() - interval '1 day' where id = %s",
        (ids["inv_A_expired"],),
    )
    conn.commit()
    # b_member joins B as PostgREST would run it for them
    with conn.transaction():
        act_as(conn, actors["b_member"].identity())
        joined = conn.execute(
            "select (r).id from (select public.accept_invitation(p_token => %s::text) r) x",
            (tokens["inv_B_b_member"],),
        ).fetchone()
        assert joined is not None
        ids["b_member@B"] = str(joined[0])
    conn.commit()
    member_of = {(p, t): ids[f"{p}@{t}"] for p, t, _, _ in (*MEMBERSHIPS, ("b_member", "B", "", True))}
    n = 0
    for label, person, t, archived, age in CONVERSATIONS:
        ids[label] = uid(f"conversation:{label}")
        conn.execute(
            "insert into public.conversations (id, tenant_id, user_id, title, is_archived, created_at)"
            " values (%s, %s, %s, %s, %s, now() - make_interval(days => %s))",
            (ids[label], ids[t], member_of[(person, t)], f"{label} title", archived, age),
        )
        topic = TOPICS[n % len(TOPICS)]
        turns = [("question", "user", f"refund {topic} question from {person}")]
        turns.append(("answer", "assistant", f"answer about {topic} refund"))
        if n % 3 == 0:
            turns.insert(0, ("system", "system", "you are helpful"))
        for i, (kind, role, content) in enumerate(turns):
            n += 1
            ids[f"{label}:{kind}"] = uid(f"message:{label}:{kind}")
            conn.execute(
                "insert into public.messages (id, tenant_id, conversation_id, user_id, role, content, model,"
                " token_count, latency_ms, tool_calls, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s::jsonb, now() - make_interval(days => %s, secs => %s))",
                (
                    ids[f"{label}:{kind}"],
                    ids[t],
                    ids[label],
                    member_of[(person, t)],
                    role,
                    content,
                    "gpt-test" if role == "assistant" else None,
                    40 + n if role == "assistant" else None,
                    900 + n if role == "assistant" else None,
                    '[{"name": "lookup"}]' if role == "assistant" and n % 2 else None,
                    age,
                    1000 - 10 * n + i,
                ),
            )
    # a reply still streaming, silent for an hour: the one open message of the world
    ids["c_m1:stream"] = uid("message:c_m1:stream")
    conn.execute(
        "insert into public.messages (id, tenant_id, conversation_id, role, content, model, status, streamed_at,"
        " created_at) values (%s, %s, %s, 'assistant', 'half a refund answer', 'gpt-test', 'streaming',"
        " now() - interval '1 hour', now() - interval '1 hour')",
        (ids["c_m1:stream"], ids["A"], ids["c_m1"]),
    )
    ratings = [(person, t, f"{label}:answer", 1) for label, person, t, _, _ in CONVERSATIONS]
    for rater, t, message, rating in (*ratings, *EXTRA_FEEDBACK):
        label = f"f:{rater}:{message}"
        ids[label] = uid(f"feedback:{label}")
        conn.execute(
            "insert into public.feedback (id, tenant_id, message_id, user_id, rating, comment)"
            " values (%s, %s, %s, %s, %s, %s)",
            (ids[label], ids[t], ids[message], member_of[(rater, t)], rating, f"by {rater}"),
        )
    for i, ((_, t), member) in enumerate(sorted(member_of.items())):
        for days in (0, 40):
            conn.execute(
                "select public.increment_usage(p_tenant_id => %s::uuid, p_user_id => %s::uuid,"
                " p_prompt_tokens => %s::bigint, p_completion_tokens => %s::bigint, p_cost_usd => %s::numeric,"
                " p_usage_date => ((now() at time zone 'utc')::date - %s::integer))",
                (ids[t], member, 10 * (i + 1), 5 * (i + 1), f"0.00{i + 1}", days),
            )
    conn.execute("select public.refresh_summaries()")
    conn.commit()

    base = snapshot(conn)
    summaries = {
        name: [r[0] for r in _rows(conn, f"select to_jsonb(s) from {name} s")] for name in PRIVATE_SUMMARIES
    }
    columns: dict[str, dict[str, str]] = {}
    for rel, col, typ in _rows(
        conn,
        "select c.relnamespace::regnamespace::text || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod)"
        " from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v') and a.attnum > 0"
        " and not a.attisdropped order by a.attnum",
    ):
        columns.setdefault(rel, {})[col] = typ
    functions: dict[str, dict[str, str]] = {}
    for name, argnames, argtypes in _rows(
        conn,
        "select p.proname, coalesce(p.proargnames[1:p.pronargs], '{}'),"
        " array(select format_type(t, null) from unnest(p.proargtypes) t)"
        " from pg_proc p where p.pronamespace = 'public'::regnamespace",
    ):
        functions[name] = dict(zip(argnames, argtypes, strict=True))
    outside_refs = []
    for child, parent, cols, pcols, on_update in _rows(
        conn,
        "select conrelid::regclass::text, pc.relnamespace::regnamespace::text || '.' || pc.relname,"
        " array(select attname from unnest(conkey) with ordinality k(n, i)"
        "       join pg_attribute on attrelid = conrelid and attnum = k.n order by k.i),"
        " array(select attname from unnest(confkey) with ordinality k(n, i)"
        "       join pg_attribute on attrelid = confrelid and attnum = k.n order by k.i), confupdtype::text"
        " from pg_constraint join pg_class pc on pc.oid = confrelid join pg_class cc on cc.oid = conrelid"
        " where contype = 'f' and pc.relnamespace = 'public'::regnamespace"
        " and cc.relnamespace <> 'public'::regnamespace",
    ):
        select = sql.SQL("select distinct {} from {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols), sql.SQL(child)
        )
        keys = frozenset(tuple(r) for r in conn.execute(select).fetchall())
        outside_refs.append((parent, tuple(pcols), on_update, keys))
    today_row = conn.execute("select (now() at time zone 'utc')::date::text, now()").fetchone()
    assert today_row is not None
    conn.commit()
    return World(
        url=url,
        actors=actors,
        base=base,
        columns=columns,
        functions=functions,
        summaries=summaries,
        tokens=tokens,
        ids=ids,
        auth_ids=frozenset(a.auth_id for a in actors.values() if a.auth_id),
        today=today_row[0],
        built_at=today_row[1],
        outside_refs=outside_refs,
    )


def snapshot(conn: psycopg.Connection[Any]) -> Tables:
    """Every row of every API-reachable table, as JSON, keyed by primary key."""
    parts = [f"select {i}, to_jsonb(t) from {name} t" for i, name in enumerate(PUBLIC_TABLES)]
    names = list(PUBLIC_TABLES)
    out: Tables = {name: {} for name in names}
    for i, row in _rows(conn, " union all ".join(parts)):
        name = names[i]
        out[name][tuple(row[c] for c in PUBLIC_TABLES[name])] = row
    return out


# ---------------------------------------------------------------------------------------------
# A predicted database: the ground truth plus an overlay of changes
# ---------------------------------------------------------------------------------------------


def norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 6)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def same(a: Any, b: Any) -> bool:
    return a is ANY or b is ANY or norm(a) == norm(b)


class State:
    def __init__(self, base: Tables) -> None:
        self.base = base
        self.over: dict[str, dict[Key, Row | None]] = {}
        self._new = 0
        self.collided = False  # a row was written onto another row's primary key

    def copy(self) -> State:
        other = State(self.base)
        other.over = {t: dict(rows) for t, rows in self.over.items()}
        other._new = self._new
        other.collided = self.collided
        return other

    def rows(self, table: str) -> list[Row]:
        over = self.over.get(table, {})
        out = [r for k, r in self.base[table].items() if k not in over]
        out.extend(r for r in over.values() if r is not None)
        return out

    def key(self, table: str, row: Row) -> Key:
        key = tuple(row.get(c, ANY) for c in PUBLIC_TABLES[table])
        if any(v is ANY for v in key):
            self._new += 1
            return ("new", self._new)
        return key

    def get(self, table: str, key: Key) -> Row | None:
        over = self.over.get(table, {})
        if key in over:
            return over[key]
        return self.base[table].get(key)

    def put(self, table: str, row: Row, old_key: Key | None = None) -> None:
        new_key = self.key(table, row)
        if new_key != old_key and self.get(table, new_key) is not None:
            self.collided = True
        if old_key is not None and old_key != new_key:
            self.over.setdefault(table, {})[old_key] = None
        self.over.setdefault(table, {})[new_key] = row

    def remove(self, table: str, key: Key) -> None:
        self.over.setdefault(table, {})[key] = None

    def compare(self, actual: Tables) -> list[str]:
        """How ``actual`` (the database after a statement) differs from this prediction."""
        problems: list[str] = []
        for table, base_rows in self.base.items():
            over = self.over.get(table, {})
            now_rows = actual[table]
            gone = {k for k in base_rows if k not in now_rows}
            want_gone = {k for k, r in over.items() if r is None and k in base_rows}
            if gone != want_gone:
                problems.append(
                    f"{table}: removed {sorted(map(str, gone))}, expected {sorted(map(str, want_gone))}"
                )
            added = [now_rows[k] for k in now_rows if k not in base_rows]
            want_added = [r for k, r in over.items() if r is not None and k not in base_rows]
            unmatched = list(added)
            for want in want_added:
                hit = next((a for a in unmatched if _row_matches(want, a)), None)
                if hit is None:
                    problems.append(f"{table}: expected a new row like {want}, got {added}")
                else:
                    unmatched.remove(hit)
            if unmatched:
                problems.append(f"{table}: unexpected new rows {unmatched}")
            for k, now in now_rows.items():
                if k not in base_rows:
                    continue
                wanted = over.get(k)
                if wanted is not None:
                    if not _row_matches(wanted, now):
                        problems.append(f"{table} {k}: expected {_changed(base_rows[k], wanted)}, got {now}")
                elif not _row_matches(base_rows[k], now):
                    problems.append(f"{table} {k}: changed unexpectedly: {_changed(base_rows[k], now)}")
        return problems


def _row_matches(want: Row, got: Row) -> bool:
    return all(c in IGNORED or same(v, got.get(c)) for c, v in want.items())


def _changed(old: Row, new: Row) -> dict[str, Any]:
    return {c: v for c, v in new.items() if c not in IGNORED and not same(old.get(c), v)}


# ---------------------------------------------------------------------------------------------
# Integrity: what the schema refuses whoever writes (not access; that is the matrix below)
# ---------------------------------------------------------------------------------------------

# (table, columns, pending-only)
UNIQUE: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("public.tenants", ("slug",), False),
    ("public.users", ("tenant_id", "auth_id"), False),
    ("public.users", ("tenant_id", "lower:email"), False),
    ("public.feedback", ("tenant_id", "message_id", "user_id"), False),
    ("public.messages", ("tenant_id", "conversation_id", "seq"), False),
    ("public.invitations", ("tenant_id", "lower:email"), True),
)
# (child, columns, parent, parent columns, on delete: cascade | set null column)
FOREIGN_KEYS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...], str], ...] = (
    ("public.users", ("tenant_id",), "public.tenants", ("id",), "cascade"),
    ("public.users", ("auth_id",), "auth.users", ("id",), "null:auth_id"),
    ("public.conversations", ("tenant_id", "user_id"), "public.users", ("tenant_id", "id"), "cascade"),
    (
        "public.messages",
        ("tenant_id", "conversation_id"),
        "public.conversations",
        ("tenant_id", "id"),
        "cascade",
    ),
    ("public.messages", ("tenant_id", "user_id"), "public.users", ("tenant_id", "id"), "cascade"),
    ("public.feedback", ("tenant_id", "message_id"), "public.messages", ("tenant_id", "id"), "cascade"),
    ("public.feedback", ("tenant_id", "user_id"), "public.users", ("tenant_id", "id"), "cascade"),
    ("public.usage_metrics", ("tenant_id", "user_id"), "public.users", ("tenant_id", "id"), "cascade"),
    ("public.invitations", ("tenant_id",), "public.tenants", ("id",), "cascade"),
    (
        "public.invitations",
        ("tenant_id", "invited_by"),
        "public.users",
        ("tenant_id", "id"),
        "null:invited_by",
    ),
    ("public.invitations", ("tenant_id", "member_id"), "public.users", ("tenant_id", "id"), "null:member_id"),
)


def _value(row: Row, col: str) -> Any:
    if col.startswith("lower:"):
        v = row.get(col[6:])
        return v.lower() if isinstance(v, str) else v
    return row.get(col)


def violations(world: World, before: State, after: State, deleting: bool = False) -> set[str]:
    """SQLSTATEs the schema raises for the change from ``before`` to ``after``."""
    found: set[str] = {"23505"} if after.collided else set()
    for table, pk in PUBLIC_TABLES.items():
        seen: set[Key] = set()
        for row in after.rows(table):
            key = tuple(row.get(c) for c in pk)
            if any(v is ANY for v in key):
                continue
            if key in seen:
                found.add("23505")
            seen.add(key)
    for table, cols, pending_only in UNIQUE:
        seen = set()
        for row in after.rows(table):
            if pending_only and row.get("accepted_at") is not None:
                continue
            key = tuple(_value(row, c) for c in cols)
            if any(v is None or v is ANY for v in key):
                continue
            if key in seen:
                found.add("23505")
            seen.add(key)
    # a member id is globally unique (DESIGN: "a member id is globally unique")
    ids = [r["id"] for r in after.rows("public.users") if r.get("id") is not ANY]
    if len(ids) != len(set(ids)):
        found.add("23505")
    for child, cols, parent, pcols, _ in FOREIGN_KEYS:
        if parent == "auth.users":
            parents: set[Key] = {(a,) for a in world.auth_ids}
        else:
            parents = {tuple(r.get(c) for c in pcols) for r in after.rows(parent)}
        for row in after.rows(child):
            vals = tuple(row.get(c) for c in cols)
            if any(v is None or v is ANY for v in vals):
                continue
            if vals not in parents:
                found.add("23503")
    for parent, pcols, on_update, keys in world.outside_refs:
        if deleting or on_update in ("c", "n", "d"):
            continue  # those references follow (outside rows cascade on delete in this schema)
        present = {tuple(r.get(c) for c in pcols) for r in after.rows(parent)}
        if any(
            k not in present
            for k in keys
            if k in {tuple(r.get(c) for c in pcols) for r in before.rows(parent)}
        ):
            found.add("23503")
    # a tenant that has an active owner keeps one, whoever writes (unless it is deleted); an
    # active owner is one who can act: an owner row with no account yet cannot
    tenants_after = {r["id"] for r in after.rows("public.tenants")}
    owned_before = {r["tenant_id"] for r in before.rows("public.users") if _acting_owner(r)}
    owned_after = {r["tenant_id"] for r in after.rows("public.users") if _acting_owner(r)}
    if any(t in tenants_after and t not in owned_after for t in owned_before):
        found.add("23514")
    return found


def _acting_owner(row: Row) -> bool:
    return row.get("role") == "owner" and bool(row.get("is_active")) and row.get("auth_id") is not None


def delete_cascading(state: State, table: str, key: Key) -> None:
    row = state.get(table, key)
    if row is None:
        return
    state.remove(table, key)
    for child, cols, parent, pcols, action in FOREIGN_KEYS:
        if parent != table:
            continue
        target = tuple(row.get(c) for c in pcols)
        for crow in state.rows(child):
            if tuple(crow.get(c) for c in cols) != target:
                continue
            ckey = tuple(crow[c] for c in PUBLIC_TABLES[child])
            if action == "cascade":
                delete_cascading(state, child, ckey)
            else:
                state.put(child, {**crow, action.split(":", 1)[1]: None}, ckey)


# ---------------------------------------------------------------------------------------------
# The oracle: README's access matrix
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    tenant: str
    member: str
    admin: bool
    owner: bool


def scopes(state: State, actor: Actor) -> list[Scope]:
    """The actor's active memberships in active tenants: the only source of any right."""
    if actor.role != "authenticated":
        return []
    active = {t["id"] for t in state.rows("public.tenants") if t["is_active"]}
    return [
        Scope(u["tenant_id"], u["id"], u["role"] in ("owner", "admin"), u["role"] == "owner")
        for u in state.rows("public.users")
        if u.get("auth_id") == actor.auth_id and u.get("is_active") and u["tenant_id"] in active
    ]


def _scope(ss: Sequence[Scope], tenant: Any) -> Scope | None:
    return next((s for s in ss if s.tenant == tenant), None)


def _owns(ss: Sequence[Scope], tenant: Any, member: Any) -> bool:
    """The (tenant, member) pair is one of the actor's own memberships."""
    return any(s.tenant == tenant and s.member == member for s in ss)


def _admin(ss: Sequence[Scope], tenant: Any) -> bool:
    s = _scope(ss, tenant)
    return s is not None and s.admin


def conversation_owner(state: State, tenant: Any, conversation: Any) -> Any:
    conv = state.get("public.conversations", (tenant, conversation))
    return None if conv is None else conv["user_id"]


def can_read(state: State, actor: Actor, rel: str, row: Row, ss: Sequence[Scope] | None = None) -> bool:
    if actor.role == "service_role":
        return True
    if actor.role == "anon":
        return False
    ss = scopes(state, actor) if ss is None else ss
    t = row.get("tenant_id")
    if rel == "public.tenants":
        return _scope(ss, row["id"]) is not None
    if rel == "public.users":
        return _scope(ss, t) is not None
    if rel == "public.invitations":
        return _admin(ss, t)
    if rel == "public.conversations":
        return _admin(ss, t) or _owns(ss, t, row["user_id"])
    if rel == "public.messages":
        return _admin(ss, t) or _owns(ss, t, conversation_owner(state, t, row["conversation_id"]))
    if rel in ("public.feedback", "public.usage_metrics", "public.current_day_usage"):
        return _admin(ss, t) or _owns(ss, t, row["user_id"])
    if rel == "private.message_feedback_summary":
        return _admin(ss, t) or _owns(ss, t, conversation_owner(state, t, row["conversation_id"]))
    if rel == "private.monthly_usage_summary":
        return _admin(ss, t) or _owns(ss, t, row["user_id"])
    raise AssertionError(f"no read rule for {rel}")


Verdict = Literal["allow", "deny", "either"]


def _worst(*verdicts: Verdict) -> Verdict:
    if "deny" in verdicts:
        return "deny"
    return "either" if "either" in verdicts else "allow"


# what the matrix lets API users write, by table: insert columns an allowed actor may send,
# columns nobody but the service writes, and columns the matrix says nothing about (either)
INSERTABLE = {
    "public.users": {"tenant_id", "email", "display_name", "role", "is_active"},
    "public.conversations": {"tenant_id", "user_id", "title", "metadata", "is_archived"},
    "public.messages": {"tenant_id", "conversation_id", "role", "content", "metadata"},
    "public.feedback": {"tenant_id", "message_id", "user_id", "rating", "comment"},
}
UNSPECIFIED_INSERT = {
    "public.conversations": {"id", "created_at", "updated_at"},
    "public.messages": {"id", "user_id", "created_at"},
    "public.feedback": {"id", "created_at", "updated_at"},
}


def insert_verdict(state: State, actor: Actor, table: str, row: Row, cols: set[str]) -> Verdict:
    if actor.role == "service_role":
        return "deny" if table == "public.usage_metrics" else "allow"
    if actor.role == "anon" or table not in INSERTABLE:
        return "deny"
    extra = cols - INSERTABLE[table]
    if extra - UNSPECIFIED_INSERT.get(table, set()):
        return "deny"
    verdict: Verdict = "either" if extra else "allow"
    ss = scopes(state, actor)
    t = row.get("tenant_id")
    if table == "public.users":
        s = _scope(ss, t)
        if s is None or not s.admin or (row.get("role") == "owner" and not s.owner):
            return "deny"
        return verdict
    if table == "public.conversations":
        return verdict if _owns(ss, t, row.get("user_id")) else "deny"
    if table == "public.messages":
        owner = conversation_owner(state, t, row.get("conversation_id"))
        if row.get("role") != "user" or owner is None or not _owns(ss, t, owner):
            return "deny"
        return verdict
    if table == "public.feedback":
        message = state.get("public.messages", (t, row.get("message_id")))
        if not _owns(ss, t, row.get("user_id")) or message is None:
            return "deny"
        return verdict if can_read(state, actor, "public.messages", message, ss) else "deny"
    raise AssertionError(table)


def updatable_columns(state: State, actor: Actor, table: str, row: Row) -> set[str]:
    """Columns whose value the actor may change on this row; empty when the row is not theirs to write."""
    if actor.role == "service_role":
        return set() if table == "public.usage_metrics" else set(state_columns(state, table))
    ss = scopes(state, actor)
    t = row.get("tenant_id")
    if table == "public.tenants":
        s = _scope(ss, row["id"])
        return {"name", "settings"} if s is not None and s.owner else set()
    if table == "public.users":
        # a member edits their own display name only; admins re-role and deactivate
        cols: set[str] = set()
        if _owns(ss, t, row["id"]):
            cols.add("display_name")
        if _admin(ss, t):
            cols |= {"role", "is_active"}
        return cols
    if table == "public.conversations":
        return {"title", "metadata", "is_archived"} if _owns(ss, t, row["user_id"]) else set()
    if table == "public.feedback":
        return {"rating", "comment"} if _owns(ss, t, row["user_id"]) else set()
    return set()


def writable_ever(actor: Actor, table: str) -> set[str]:
    """Columns this kind of actor may write on some row of the table (what a grant could allow)."""
    if actor.role == "service_role":
        return set() if table == "public.usage_metrics" else {"*"}
    if actor.role == "anon":
        return set()
    return {
        "public.tenants": {"name", "settings"},
        "public.users": {"display_name", "role", "is_active"},
        "public.conversations": {"title", "metadata", "is_archived"},
        "public.feedback": {"rating", "comment"},
    }.get(table, set())


def state_columns(state: State, table: str) -> list[str]:
    some = next(iter(state.base[table].values()))
    return list(some)


def update_verdict(state: State, actor: Actor, table: str, old: Row, new: Row, set_cols: set[str]) -> Verdict:
    if actor.role == "anon":
        return "deny"
    effective = {c for c in set_cols if not same(old.get(c), new.get(c))}
    allowed = updatable_columns(state, actor, table, old)
    if not allowed or effective - allowed:
        return "deny"
    if actor.role == "authenticated" and table == "public.users" and effective & {"role", "is_active"}:
        s = _scope(scopes(state, actor), old["tenant_id"])
        if s is None or not s.admin:
            return "deny"
        if (old["role"] == "owner" or new.get("role") == "owner") and not s.owner:
            return "deny"
    ever = writable_ever(actor, table)
    if "*" not in ever and set_cols - ever:
        return "either"  # assigning a column it may never change, to the value it already has
    return "allow"


def delete_verdict(state: State, actor: Actor, table: str, row: Row) -> Verdict:
    if actor.role == "service_role":
        return "deny" if table == "public.usage_metrics" else "allow"
    ss = scopes(state, actor)
    if table == "public.feedback" and _owns(ss, row["tenant_id"], row["user_id"]):
        return "allow"
    if table == "public.invitations" and _admin(ss, row["tenant_id"]):
        return "allow"
    return "deny"


# ---------------------------------------------------------------------------------------------
# Expectations and outcomes
# ---------------------------------------------------------------------------------------------


@dataclass
class Effect:
    state: State
    rowcount: int | None = None
    rows: list[Any] | None = None  # expected returned rows (dicts compared on the keys given)
    ordered: bool = False


@dataclass
class Expect:
    success: Effect | None = None  # the successful outcome that is acceptable, if any
    codes: frozenset[str] = frozenset()  # SQLSTATEs that are acceptable refusals (nothing may change)
    silent: bool = False  # a refusal by filtering: succeeds, no row affected, nothing changed
    why: str = ""

    @property
    def required(self) -> bool:
        """Success is the only acceptable outcome: an allowed action."""
        return self.success is not None and not self.codes and not self.silent

    @property
    def denied(self) -> bool:
        return self.success is None


def deny(why: str, *codes: str, silent: bool = False) -> Expect:
    return Expect(None, frozenset(codes or ("42501",)), silent, why)


def succeed(effect: Effect, verdict: Verdict, why: str) -> Expect:
    return Expect(effect, frozenset({"42501"}) if verdict == "either" else frozenset(), False, why)


def with_integrity(
    world: World,
    before: State,
    effect: Effect,
    verdict: Verdict,
    why: str,
    found: frozenset[str] = frozenset(),
) -> Expect:
    found = found | violations(world, before, effect.state)
    if found:
        codes = set(found) | ({"42501"} if verdict == "either" else set())
        return Expect(None, frozenset(codes), False, f"{why}; refused by integrity {sorted(found)}")
    return succeed(effect, verdict, why)


@dataclass
class Outcome:
    sqlstate: str | None
    error: str
    rowcount: int
    rows: list[Any] | None
    problems: list[str] = field(default_factory=list)


@dataclass
class Statement:
    query: sql.Composed
    params: list[Any]

    def text(self, conn: psycopg.Connection[Any]) -> str:
        return self.query.as_string(conn)


def run(
    conn: psycopg.Connection[Any], world: World, actor: Actor, stmt: Statement, expected: State | None
) -> Outcome:
    """Run ``stmt`` as ``actor`` (PostgREST's per-request settings) in a transaction that is rolled
    back, then read every table as the superuser in that same transaction and compare it with
    ``expected`` (None: nothing may have changed)."""
    with conn.transaction(force_rollback=True):
        act_as(conn, actor.identity())
        sqlstate, error, rowcount, rows = None, "", -1, None
        try:
            with conn.transaction():
                cur = conn.execute(stmt.query, stmt.params)
                rowcount = cur.rowcount
                rows = [r[0] for r in cur.fetchall()] if cur.description else None
        except psycopg.Error as e:
            sqlstate, error = e.sqlstate, (str(e).splitlines() or [type(e).__name__])[0]
        conn.execute("reset role")
        conn.execute("select set_config('request.jwt.claims', '', true)")
        after = snapshot(conn)
    prediction = expected if expected is not None and sqlstate is None else world.state()
    return Outcome(sqlstate, error, rowcount, rows, prediction.compare(after))


def verify(conn: psycopg.Connection[Any], world: World, actor: Actor, stmt: Statement, expect: Expect) -> str:
    """Run and judge: 'allowed', 'denied' or 'neutral'; fails with the whole story otherwise."""
    outcome = run(conn, world, actor, stmt, expect.success.state if expect.success else None)
    verdict = judge(expect, outcome)
    if verdict is None:
        raise AssertionError(explain(conn, world, actor, stmt, expect, outcome))
    return verdict


def judge(expect: Expect, outcome: Outcome) -> str | None:
    if outcome.sqlstate is not None:
        if outcome.sqlstate in expect.codes:
            return "denied" if expect.denied else "neutral"
        return None
    if expect.success is not None and not outcome.problems and _result_matches(expect.success, outcome):
        return "allowed" if expect.required else "neutral"
    if expect.silent and not outcome.problems and outcome.rowcount <= 0 and not outcome.rows:
        return "denied"
    return None


def _result_matches(effect: Effect, outcome: Outcome) -> bool:
    if effect.rowcount is not None and outcome.rowcount != effect.rowcount:
        return False
    if effect.rows is None:
        return True
    got = list(outcome.rows or [])
    if len(got) != len(effect.rows):
        return False
    if effect.ordered:
        return all(_result_row_matches(w, g) for w, g in zip(effect.rows, got, strict=True))
    pool = list(got)
    for want in effect.rows:
        hit = next((g for g in pool if _result_row_matches(want, g)), None)
        if hit is None:
            return False
        pool.remove(hit)
    return True


def _result_row_matches(want: Any, got: Any) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        return _row_matches(want, got)
    return same(want, got)


def explain(
    conn: psycopg.Connection[Any],
    world: World,
    actor: Actor,
    stmt: Statement,
    expect: Expect,
    outcome: Outcome,
) -> str:
    wanted = []
    if expect.success is not None:
        e = expect.success
        wanted.append(f"success (rowcount={e.rowcount}, rows={_short(e.rows, world)})")
    if expect.codes:
        wanted.append(f"refusal with SQLSTATE in {sorted(expect.codes)} and nothing changed")
    if expect.silent:
        wanted.append("no row affected and nothing changed")
    got = (
        f"SQLSTATE {outcome.sqlstate}: {outcome.error}"
        if outcome.sqlstate
        else f"success, rowcount={outcome.rowcount}, rows={_short(outcome.rows, world)}"
    )
    params = [world.label(p) if isinstance(p, str) else p for p in stmt.params]
    changes = "\n    ".join(outcome.problems) or "none"
    return (
        f"\n  actor:     {actor.name} ({actor.role})"
        f"\n  statement: {stmt.text(conn)}"
        f"\n  values:    {params}"
        f"\n  oracle:    {expect.why}"
        f"\n  expected:  {' or '.join(wanted)}"
        f"\n  got:       {got}"
        f"\n  database differences from the expectation:\n    {changes}"
    )


def _short(rows: Sequence[Any] | None, world: World) -> str:
    if rows is None:
        return "-"
    text = [
        {
            k: world.label(v)
            for k, v in r.items()
            if k in ("id", "tenant_id", "user_id", "message_id", "member_id")
        }
        if isinstance(r, dict)
        else r
        for r in rows[:12]
    ]
    return f"{len(rows)} {text}"


# ---------------------------------------------------------------------------------------------
# Statements shaped like PostgREST's, and their expectations
# ---------------------------------------------------------------------------------------------

Op = Literal["eq", "in", "neq"]


@dataclass(frozen=True)
class Cond:
    col: str
    op: Op
    values: tuple[Any, ...]

    def holds(self, row: Row) -> bool:
        v = row.get(self.col)
        if v is None:
            return False
        hit = any(same(v, x) for x in self.values)
        return not hit if self.op == "neq" else hit


def _ident(rel: str) -> sql.Composable:
    schema, name = rel.split(".")
    return sql.Identifier(schema, name)


def where(world: World, rel: str, conds: Sequence[Cond], params: list[Any]) -> sql.Composable:
    if not conds:
        return sql.SQL("")
    parts = []
    for c in conds:
        typ = sql.SQL(world.columns[rel][c.col])
        col = sql.SQL("t.{}").format(sql.Identifier(c.col))
        if c.op == "in":
            marks = sql.SQL(", ").join(sql.SQL("%s::{}").format(typ) for _ in c.values)
            parts.append(sql.SQL("{} in ({})").format(col, marks))
        else:
            parts.append(sql.SQL("{} {} %s::{}").format(col, sql.SQL("<>" if c.op == "neq" else "="), typ))
        params.extend(_param(v) for v in c.values)
    return sql.SQL(" where ") + sql.SQL(" and ").join(parts)


def _param(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, dict | list) else (None if v is None else str(v))


def readable_columns(world: World, rel: str) -> list[str]:
    # token hashes are nobody's to read; everything else in the API's relations is
    return [c for c in world.columns[rel] if c != "token_hash"]


def select_statement(world: World, rel: str, conds: Sequence[Cond]) -> Statement:
    params: list[Any] = []
    cols = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in readable_columns(world, rel))
    query = sql.SQL("select to_jsonb(x) from (select {} from {} as t{}) x").format(
        cols, _ident(rel), where(world, rel, conds, params)
    )
    return Statement(query, params)


def relation_rows(world: World, state: State, rel: str) -> list[Row]:
    if rel == "public.current_day_usage":
        return [r for r in state.rows("public.usage_metrics") if r["usage_date"] == world.today]
    return state.rows(rel)


def expect_select(world: World, actor: Actor, rel: str, conds: Sequence[Cond]) -> Expect:
    state = world.state()
    ss = scopes(state, actor)
    cols = readable_columns(world, rel)
    visible = [
        {c: r.get(c) for c in cols}
        for r in relation_rows(world, state, rel)
        if all(c.holds(r) for c in conds) and can_read(state, actor, rel, r, ss)
    ]
    effect = Effect(state, rows=visible)
    why = f"{actor.name} may read {len(visible)} of these rows"
    if actor.role == "anon":
        return Expect(effect, frozenset({"42501"}), False, "anon reads nothing")
    return Expect(effect, frozenset(), False, why)


def insert_statement(
    world: World, table: str, payload: Sequence[Row], shape: str, conflict: Sequence[str]
) -> Statement:
    """POST /table (PostgREST): json_populate_recordset, with Prefer: resolution=... as ON CONFLICT."""
    cols = sorted({c for row in payload for c in row})
    idents = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    tail: sql.Composable = sql.SQL("")
    if shape == "merge":
        sets = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in cols)
        tail = sql.SQL(" on conflict ({}) do update set {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in conflict), sets
        )
    elif shape == "ignore":
        tail = sql.SQL(" on conflict ({}) do nothing").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in conflict)
        )
    query = sql.SQL(
        "insert into {0} ({1}) select {1} from json_populate_recordset(null::{0}, %s::json){2}"
    ).format(_ident(table), idents, tail)
    return Statement(query, [json.dumps(list(payload))])


DEFAULTS: dict[str, Row] = {
    "public.tenants": {"plan": "free", "is_active": True, "settings": {}},
    "public.users": {"role": "member", "is_active": True, "display_name": None, "auth_id": None},
    "public.conversations": {"title": None, "metadata": {}, "is_archived": False, "message_count": 0},
    "public.messages": {
        "metadata": {},
        "tool_calls": None,
        "model": None,
        "token_count": None,
        "latency_ms": None,
    },
    "public.feedback": {"comment": None},
    "public.invitations": {
        "role": "member",
        "accepted_at": None,
        "member_id": None,
        "invited_by": None,
        "sent_by_service": False,
    },
    "public.usage_metrics": {"request_count": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0},
}


def _proposed(state: State, table: str, payload: Row) -> Row:
    row: Row = {**DEFAULTS.get(table, {}), **payload}
    for c in PUBLIC_TABLES[table]:
        row.setdefault(c, ANY)
    if table == "public.messages":
        # the conversation decides whose message it is, whatever the writer sends
        row["user_id"] = conversation_owner(state, row.get("tenant_id"), row.get("conversation_id")) or ANY
    if table == "public.usage_metrics":
        row["total_tokens"] = ANY
    return row


def _apply_insert(state: State, table: str, row: Row) -> None:
    state.put(table, row)
    if table == "public.messages":
        key = (row["tenant_id"], row["conversation_id"])
        conv = state.get("public.conversations", key)
        if conv is not None:
            bumped = {**conv, "message_count": conv["message_count"] + 1, "last_message_at": ANY}
            state.put("public.conversations", bumped, key)


def expect_insert(
    world: World, actor: Actor, table: str, payload: Sequence[Row], shape: str, conflict: Sequence[str]
) -> Expect:
    base = world.state()
    state = base.copy()
    cols = {c for row in payload for c in row}
    verdicts: list[Verdict] = []
    affected = 0
    if "total_tokens" in cols:
        return deny("total_tokens is computed by the database", "42501", "428C9")
    for item in payload:
        row = _proposed(state, table, item)
        named = item.get("user_id") if table == "public.messages" else None
        if named is not None and named != row["user_id"]:
            # a writer that names a member must name the thread's owner: refused alike whether
            # the thread is another's or missing
            return deny("the turn names someone other than the thread's owner", "42501")
        if table == "public.messages" and row["user_id"] is ANY and actor.role == "service_role":
            return deny("the conversation does not exist", "23503")
        v = insert_verdict(state, actor, table, row, cols)
        if v == "deny":
            # rows go in one by one: an earlier row of a bulk insert may fail its unique keys first
            earlier = violations(world, base, state) & {"23505"}
            why = f"{actor.name} may not insert {world.label(item.get('tenant_id'))} row {item}"
            return deny(why, "42501", *earlier)
        existing = None
        if shape != "insert":
            existing = next(
                (r for r in state.rows(table) if all(same(r.get(c), row.get(c)) for c in conflict)), None
            )
        if existing is None:
            if shape == "merge":
                ever = writable_ever(actor, table)
                if "*" not in ever and cols - ever:
                    v = _worst(v, "either")  # the upsert's SET names columns it may never change
            _apply_insert(state, table, row)
            affected += 1
        elif shape == "ignore":
            pass  # a duplicate, ignored: nothing happens
        else:
            key = tuple(existing[c] for c in PUBLIC_TABLES[table])
            new = {**existing, **item}
            if table == "public.messages" and actor.role == "service_role" and guard_refuses(existing, new):
                return deny("a closed message's text and usage, and any message's lifecycle, stay", "STC01")
            uv = update_verdict(state, actor, table, existing, new, cols)
            if uv == "deny":
                return deny(f"{actor.name} may not change the existing row {key} to {item}")
            v = _worst(v, uv)
            state.put(table, new, key)
            affected += 1
        verdicts.append(v)
    verdict = _worst(*verdicts)
    effect = Effect(state, rowcount=affected)
    return with_integrity(world, base, effect, verdict, f"{actor.name} may {shape} {payload}")


def update_statement(world: World, table: str, values: Row, conds: Sequence[Cond]) -> Statement:
    """PATCH /table?filters (PostgREST): SET from json_populate_record."""
    params: list[Any] = [json.dumps(values)]
    sets = sql.SQL(", ").join(sql.SQL("{0} = b.{0}").format(sql.Identifier(c)) for c in values)
    query = sql.SQL("update {} as t set {} from json_populate_record(null::{}, %s::json) as b{}").format(
        _ident(table), sets, _ident(table), where(world, table, conds, params)
    )
    return Statement(query, params)


def _targets(state: State, table: str, conds: Sequence[Cond]) -> Iterator[tuple[Key, Row]]:
    for row in state.rows(table):
        if all(c.holds(row) for c in conds):
            yield tuple(row[c] for c in PUBLIC_TABLES[table]), row


def _rows_expect(
    world: World,
    base: State,
    state: State,
    allowed: int,
    denied: int,
    maybe: int,
    what: str,
    deleting: bool = False,
) -> Expect:
    """Expectation for an update or delete over filtered rows: ``allowed`` rows are the actor's to
    change, ``denied`` are not, ``maybe`` are the actor's but the change assigns a column it may
    never write the value it already has."""
    changed = allowed + maybe
    if changed == 0:
        if denied:
            return deny(f"{what}: none of the {denied} matching rows is the actor's to change", silent=True)
        return Expect(Effect(state, rowcount=0), frozenset({"42501"}), False, f"{what}: no row matches")
    found = violations(world, base, state, deleting)
    if found:
        codes = found | ({"42501"} if denied or maybe else set())
        return Expect(None, frozenset(codes), False, f"{what}: refused by integrity {sorted(found)}")
    if denied or maybe:
        # refusing the whole statement is as good as skipping the rows that are not the actor's
        effect = Effect(state, rowcount=None if denied else changed)
        return Expect(
            effect, frozenset({"42501"}), False, f"{what}: {allowed} allowed, {denied} not the actor's"
        )
    return Expect(Effect(state, rowcount=changed), frozenset(), False, f"{what}: exactly {changed} rows")


# nobody but the tables' owner changes a closed message's text and usage, and a stream is
# closed (and metered) only through close_message: refused by trigger, whoever writes
CLOSED_MESSAGE_FIELDS = frozenset(
    {"content", "prompt_tokens", "completion_tokens", "cost_usd", "token_count", "model", "latency_ms"}
)
LIFECYCLE_FIELDS = frozenset({"status", "metered_at", "completed_at", "reserved_tokens"})


def guard_refuses(old: Row, new: Row) -> bool:
    changed = {c for c in new if not same(old.get(c), new.get(c))}
    return bool(changed & LIFECYCLE_FIELDS) or (
        old.get("status") != "streaming" and bool(changed & CLOSED_MESSAGE_FIELDS)
    )


def expect_update(world: World, actor: Actor, table: str, values: Row, conds: Sequence[Cond]) -> Expect:
    base = world.state()
    state = base.copy()
    if actor.role == "anon":
        return deny("anon writes nothing")
    if "total_tokens" in values:
        return deny("total_tokens is computed by the database", "42501", "428C9")
    if table == "public.messages" and actor.role == "service_role":
        for _, old in _targets(base, table, conds):
            if guard_refuses(old, {**old, **values}):
                return deny("a closed message's text and usage, and any message's lifecycle, stay", "STC01")
    counts = {"allow": 0, "deny": 0, "either": 0}
    for key, old in list(_targets(base, table, conds)):
        new = {**old, **values}
        v = update_verdict(base, actor, table, old, new, set(values))
        counts[v] += 1
        if v != "deny":
            state.put(table, new, key)
    what = f"{actor.name} sets {values} on {table}"
    return _rows_expect(world, base, state, counts["allow"], counts["deny"], counts["either"], what)


def delete_statement(world: World, table: str, conds: Sequence[Cond]) -> Statement:
    params: list[Any] = []
    query = sql.SQL("delete from {} as t{}").format(_ident(table), where(world, table, conds, params))
    return Statement(query, params)


def expect_delete(world: World, actor: Actor, table: str, conds: Sequence[Cond]) -> Expect:
    base = world.state()
    state = base.copy()
    if actor.role == "anon":
        return deny("anon deletes nothing")
    if actor.role == "service_role" and table == "public.usage_metrics":
        return deny("usage is written only through increment_usage, even by the service role")
    allowed = denied = 0
    for key, row in list(_targets(base, table, conds)):
        if delete_verdict(base, actor, table, row) == "deny":
            denied += 1
        else:
            allowed += 1
            delete_cascading(state, table, key)
    return _rows_expect(
        world, base, state, allowed, denied, 0, f"{actor.name} deletes from {table}", deleting=True
    )


# ---------------------------------------------------------------------------------------------
# Functions, called as PostgREST's /rpc calls them: named arguments
# ---------------------------------------------------------------------------------------------


def rpc_statement(world: World, fn: str, args: Mapping[str, Any]) -> Statement:
    types = world.functions[fn]
    named = sql.SQL(", ").join(
        sql.SQL("{} => %s::{}").format(sql.Identifier(a), sql.SQL(types[a])) for a in args
    )
    query = sql.SQL("select to_jsonb(r) from {}({}) as r").format(sql.Identifier("public", fn), named)
    return Statement(query, [_param(v) for v in args.values()])


def _month(d: str) -> str:
    return d[:7] + "-01"


def expect_rpc(world: World, actor: Actor, fn: str, args: Mapping[str, Any]) -> Expect:
    base = world.state()
    ss = scopes(base, actor)
    service = actor.role == "service_role"
    service_only = {
        "increment_usage",
        "increment_usage_batch",
        "refresh_summaries",
        "archive_stale_conversations",
        *TURN_FUNCTIONS,
    }
    if actor.role == "anon":
        return deny("anon calls nothing")
    if fn in service_only and not service:
        return deny(f"{fn} is the service role's")
    if fn == "my_memberships":
        tenants = {t["id"]: t for t in base.rows("public.tenants")}
        rows: list[Row] = [
            {
                "tenant_id": s.tenant,
                "member_id": s.member,
                "role": "owner" if s.owner else "admin" if s.admin else "member",
                "tenant_name": tenants[s.tenant]["name"],
                "tenant_slug": tenants[s.tenant]["slug"],
            }
            for s in ss
        ]
        return Expect(Effect(base, rows=rows), frozenset(), False, f"{actor.name}'s own memberships")
    if fn in ("message_feedback_summary", "monthly_usage_summary"):
        rel = f"private.{fn}"
        rows = [
            r
            for r in world.summaries[rel]
            if can_read(base, actor, rel, r, ss)
            and same_or_none(args.get("p_tenant_id"), r["tenant_id"])
            and same_or_none(args.get("p_conversation_id"), r.get("conversation_id"))
            and (args.get("p_from") is None or r["month"] >= _month(args["p_from"]))
            and (args.get("p_to") is None or r["month"] <= args["p_to"])
        ]
        return Expect(Effect(base, rows=rows), frozenset(), False, f"{fn} rows {actor.name} may read")
    if fn == "search_messages":
        return _expect_search(world, base, actor, ss, args)
    if fn == "invite_member":
        return _expect_invite(world, base, actor, ss, args)
    if fn == "accept_invitation":
        return _expect_accept(world, base, actor, ss, args)
    if fn == "transfer_ownership":
        return _expect_transfer(world, base, actor, ss, args)
    if fn == "increment_usage":
        return _expect_increment(world, base, [dict(args)], single=True)
    if fn == "increment_usage_batch":
        items = args["p_increments"]
        if not isinstance(items, list):
            return deny("increments must be a JSON array", "22023")
        return _expect_increment(world, base, items, single=False)
    if fn == "refresh_summaries":
        return Expect(Effect(base, rows=[""]), frozenset(), False, "the service refreshes")
    if fn == "archive_stale_conversations":
        return _expect_archive(world, base, args)
    if fn == "tenant_quota":
        quota_of = [t["id"] for t in base.rows("public.tenants")] if service else [x.tenant for x in ss]
        rows = [{"tenant_id": t} for t in dict.fromkeys(quota_of) if same_or_none(args.get("p_tenant_id"), t)]
        return Expect(Effect(base, rows=rows), frozenset(), False, f"the quota of {actor.name}'s tenants")
    if fn in TURN_FUNCTIONS:
        return _expect_turn(world, base, fn, args)
    raise AssertionError(f"no oracle for public.{fn}: add one before exposing it")


TURN_FUNCTIONS = (
    "open_message",
    "append_message_text",
    "close_message",
    "record_turn",
    "close_stale_streams",
)
IDLE = {
    "1 day": timedelta(days=1),
    "10 minutes": timedelta(minutes=10),
    "0 seconds": timedelta(0),
    "-1 seconds": None,
}


def _bad_usage(args: Mapping[str, Any]) -> bool:
    amounts = [args.get(f"p_{n}") for n in ("prompt_tokens", "completion_tokens", "cost_usd", "latency_ms")]
    cost = args.get("p_cost_usd")
    return any(a is not None and a < 0 for a in amounts) or (cost is not None and round(cost, 6) != cost)


def _meter(world: World, state: State, message: Row, usage: Sequence[float]) -> None:
    """What closing an assistant message adds to usage_metrics: one request and its usage, on
    the UTC day it was opened."""
    day = datetime.fromisoformat(message["created_at"]).astimezone(UTC).date().isoformat()
    key = (message["tenant_id"], message["user_id"], day)
    old = state.get("public.usage_metrics", key)
    names = ("request_count", "prompt_tokens", "completion_tokens", "cost_usd")
    start = [0, 0, 0, 0.0] if old is None else [old[n] for n in names]
    row: Row = {"tenant_id": key[0], "user_id": key[1], "usage_date": day}
    row |= {n: start[i] + a for i, (n, a) in enumerate(zip(names, (1, *usage), strict=True))}
    row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
    state.put("public.usage_metrics", row, key if old is not None else None)


def _new_turn(base: State, state: State, args: Mapping[str, Any], role: str, content: str) -> Row | Expect:
    """A message the service writes into ``p_conversation_id``, or the refusal."""
    tenant, conv, member = args["p_tenant_id"], args["p_conversation_id"], args.get("p_member_id")
    owner = conversation_owner(base, tenant, conv)
    if member is not None and not same(member, owner):
        return deny("the turn names someone other than the thread's owner", "42501")
    if owner is None:
        return deny("the conversation does not exist", "23503")
    row: Row = {
        "tenant_id": tenant,
        "conversation_id": conv,
        "user_id": owner,
        "role": role,
        "content": content,
        "id": ANY,
        "seq": ANY,
        "created_at": ANY,
        "reserved_tokens": None,
    }
    _apply_insert(state, "public.messages", row)
    return row


def _expect_turn(world: World, base: State, fn: str, args: Mapping[str, Any]) -> Expect:
    state = base.copy()
    if fn == "close_stale_streams":
        idle = IDLE[args.get("p_idle_for", "10 minutes")]  # the function's default
        if idle is None:
            return deny("the idle time is zero or more", "22023")
        count = 0
        for m in base.rows("public.messages"):
            silent = datetime.now(UTC) - datetime.fromisoformat(m["streamed_at"] or m["created_at"])
            if m["status"] == "streaming" and silent > idle:
                failed = {
                    **m,
                    "status": "failed",
                    "status_reason": ANY,
                    "completed_at": ANY,
                    "metered_at": ANY,
                }
                state.put("public.messages", failed, (m["tenant_id"], m["id"]))
                if m["role"] == "assistant":
                    _meter(world, state, m, (0, 0, 0.0))
                count += 1
        return with_integrity(world, base, Effect(state, rows=[count]), "allow", "stale streams fail")
    if fn == "record_turn":
        if _bad_usage(args):
            return deny("negative usage or a cost finer than the millionth", "22023")
        asked = _new_turn(base, state, args, "user", args["p_user_content"])
        if isinstance(asked, Expect):
            return asked
        answered = _new_turn(base, state, args, "assistant", args["p_assistant_content"])
        assert not isinstance(answered, Expect)
        usage = (
            args.get("p_prompt_tokens", 0),
            args.get("p_completion_tokens", 0),
            args.get("p_cost_usd", 0),
        )
        answered |= {"status": "complete", "prompt_tokens": usage[0], "completion_tokens": usage[1]}
        _meter(world, state, {**answered, "created_at": datetime.now(UTC).isoformat()}, usage)
        rows = [{"role": "user", "status": "complete"}, {"role": "assistant", "status": "complete"}]
        return with_integrity(world, base, Effect(state, rows=rows, ordered=True), "allow", "a turn, metered")
    if fn == "open_message":
        role, reserve = args.get("p_role", "assistant"), args.get("p_reserve_tokens", 0)
        if role not in ("assistant", "tool") or reserve < 0:
            return deny("a stream is an assistant or tool turn with a reservation of 0 or more", "22023")
        opened = _new_turn(base, state, args, role, "")
        if isinstance(opened, Expect):
            return opened
        opened |= {"status": "streaming", "model": args.get("p_model")}
        rows = [{"conversation_id": args["p_conversation_id"], "status": "streaming", "role": role}]
        return with_integrity(world, base, Effect(state, rows=rows), "allow", "a stream opened")
    # append_message_text, close_message: the message named, as the member given sees it
    member = args.get("p_member_id")
    message = state.get("public.messages", (args["p_tenant_id"], args["p_message_id"]))
    if message is not None and member is not None and not same(member, message["user_id"]):
        message = None
    if fn == "close_message":
        status = args.get("p_status", "complete")
        if status not in ("complete", "failed", "cancelled") or _bad_usage(args):
            return deny("a message closes as complete, failed or cancelled, with valid usage", "22023")
    if message is None:
        return deny("no such message", "P0002")
    key = (message["tenant_id"], message["id"])
    if fn == "append_message_text":
        if message["status"] != "streaming":
            return deny("a closed message takes no more text", "STC01")
        content = message["content"] + args["p_text"]
        state.put("public.messages", {**message, "content": content, "streamed_at": ANY}, key)
        return with_integrity(world, base, Effect(state, rows=[len(content.encode())]), "allow", "text added")
    given = {n: args.get(f"p_{n}") for n in ("prompt_tokens", "completion_tokens", "cost_usd", "latency_ms")}
    if message["status"] != "streaming":
        if status == message["status"] and all(v is None or same(v, message[n]) for n, v in given.items()):
            return Expect(Effect(base, rows=[{"id": message["id"]}]), frozenset(), False, "closed alike")
        return deny("the message is already closed", "STC01")
    closed = {
        **message,
        **{n: v for n, v in given.items() if v is not None},
        "content": message["content"] + (args.get("p_text") or ""),
        "status": status,
        "status_reason": args.get("p_reason"),
        "completed_at": ANY,
        "metered_at": ANY if message["role"] == "assistant" else None,
    }
    if given["completion_tokens"] is not None:
        closed["token_count"] = given["completion_tokens"]
    state.put("public.messages", closed, key)
    if message["role"] == "assistant":
        usage = (
            closed.get("prompt_tokens") or 0,
            closed.get("completion_tokens") or 0,
            closed.get("cost_usd") or 0,
        )
        _meter(world, state, message, usage)
    return with_integrity(
        world, base, Effect(state, rows=[{"id": message["id"]}]), "allow", "closed, metered"
    )


def same_or_none(arg: Any, value: Any) -> bool:
    return arg is None or same(arg, value)


def _expect_search(
    world: World, base: State, actor: Actor, ss: Sequence[Scope], args: Mapping[str, Any]
) -> Expect:
    query, limit = args.get("p_query"), args.get("p_limit", 20)
    if query is None:
        return deny("a search needs a query", "22004", "22023", "42501")
    if limit is None or not 1 <= limit <= 1000:
        return deny("limit out of range", "22023", "22004", "42501")
    # the service role may search as a member's back end: that member's threads only
    # (documented on the function); for anyone else p_member_id changes nothing
    member = args.get("p_member_id") if actor.role == "service_role" else None
    hits = [
        m
        for m in base.rows("public.messages")
        if query in m["content"].split()
        and same_or_none(args.get("p_tenant_id"), m["tenant_id"])
        and same_or_none(args.get("p_conversation_id"), m["conversation_id"])
        and can_read(base, actor, "public.messages", m, ss)
        and same_or_none(member, conversation_owner(base, m["tenant_id"], m["conversation_id"]))
    ]
    hits.sort(key=lambda m: (datetime.fromisoformat(m["created_at"]), uuid.UUID(m["id"])), reverse=True)
    rows = [{"tenant_id": m["tenant_id"], "id": m["id"]} for m in hits[:limit]]
    return Expect(Effect(base, rows=rows, ordered=True), frozenset(), False, "messages the actor may read")


VALIDITY = {"1 day": timedelta(days=1), "30 days": timedelta(days=30), "31 days": None, "0 seconds": None}


def _expect_invite(
    world: World, base: State, actor: Actor, ss: Sequence[Scope], args: Mapping[str, Any]
) -> Expect:
    tenant, email = args["p_tenant_id"], args["p_email"]
    role = args.get("p_role", "member")
    if VALIDITY.get(args.get("p_valid_for", "1 day")) is None:
        return deny("an invitation is valid for more than nothing and at most 30 days", "22023", "42501")
    inviter = None
    if actor.role != "service_role":
        s = _scope(ss, tenant)
        if s is None or not s.admin:
            return deny(f"{actor.name} is not an admin of {world.label(tenant)}")
        if role == "owner" and not s.owner:
            return deny("only owners invite owners")
        inviter = s.member
    state = base.copy()
    pending = next(
        (
            i
            for i in base.rows("public.invitations")
            if i["tenant_id"] == tenant and i["email"].lower() == email.lower() and i["accepted_at"] is None
        ),
        None,
    )
    fields = {
        "email": email,
        "role": role,
        "invited_by": inviter,
        "sent_by_service": inviter is None,
        "expires_at": ANY,
        "created_at": ANY,
    }
    if pending is not None:
        state.put("public.invitations", {**pending, **fields}, (tenant, pending["id"]))
        returned = {"invitation_id": pending["id"], "token": ANY, "expires_at": ANY}
    else:
        state.put(
            "public.invitations",
            {"tenant_id": tenant, "id": ANY, "accepted_at": None, "member_id": None, **fields},
        )
        returned = {"invitation_id": ANY, "token": ANY, "expires_at": ANY}
    effect = Effect(state, rows=[returned])
    return with_integrity(
        world, base, effect, "allow", f"{actor.name} invites {email} into {world.label(tenant)}"
    )


def invitation_for(world: World, base: State, token: Any) -> Row | None:
    label = next((lbl for lbl, tok in world.tokens.items() if tok == token), None)
    if label is None:
        return None
    return next((i for i in base.rows("public.invitations") if i["id"] == world.ids[label]), None)


def _expect_accept(
    world: World, base: State, actor: Actor, ss: Sequence[Scope], args: Mapping[str, Any]
) -> Expect:
    refusal = ("42501", "P0002", "23505")
    if actor.role != "authenticated":
        return deny("only a signed-in account accepts an invitation", *refusal)
    inv = invitation_for(world, base, args.get("p_token"))
    if inv is None or inv["accepted_at"] is not None:
        return deny("no such pending invitation", *refusal)
    tenant = next(t for t in base.rows("public.tenants") if t["id"] == inv["tenant_id"])
    if datetime.fromisoformat(inv["expires_at"]) <= datetime.now(UTC) or not tenant["is_active"]:
        return deny("the invitation expired or its tenant is inactive", *refusal)
    assert actor.email is not None
    if inv["email"].lower() != actor.email.lower():
        return deny(f"the invitation is for {inv['email']}, not {actor.email}", *refusal)
    t = inv["tenant_id"]
    if any(u["tenant_id"] == t and u.get("auth_id") == actor.auth_id for u in base.rows("public.users")):
        return deny("already a member of the tenant", *refusal)
    verdict: Verdict = "allow"
    if not inv.get("sent_by_service"):
        # README: accepted only while its sender may still invite (active, with an account, and
        # an owner for an owner invitation)
        sender = base.get("public.users", (t, inv["invited_by"])) if inv.get("invited_by") else None
        may_invite = (
            sender is not None
            and sender["is_active"]
            and sender.get("auth_id") is not None
            and (sender["role"] == "owner" or (sender["role"] == "admin" and inv["role"] != "owner"))
        )
        if not may_invite:
            return deny("its sender may no longer invite", *refusal)
    state = base.copy()
    # a member row added for this address with no account yet becomes theirs; an owner row only
    # through an owner's invitation (only owners grant the owner role)
    row = next(
        (
            u
            for u in base.rows("public.users")
            if u["tenant_id"] == t
            and u["email"].lower() == inv["email"].lower()
            and u.get("auth_id") is None
            and (u["role"] != "owner" or inv["role"] == "owner")
        ),
        None,
    )
    if row is not None:
        joined = {**row, "auth_id": actor.auth_id, "role": inv["role"], "is_active": True}
        state.put("public.users", joined, (t, row["id"]))
    else:
        joined = {
            "tenant_id": t,
            "id": ANY,
            "auth_id": actor.auth_id,
            "email": inv["email"],
            "role": inv["role"],
            "is_active": True,
        }
        state.put("public.users", joined)
    state.put("public.invitations", {**inv, "accepted_at": ANY, "member_id": joined["id"]}, (t, inv["id"]))
    returned = {k: joined[k] for k in ("tenant_id", "id", "auth_id", "role", "is_active")}
    effect = Effect(state, rows=[returned])
    return with_integrity(world, base, effect, verdict, f"{actor.name} accepts their invitation")


def _expect_transfer(
    world: World, base: State, actor: Actor, ss: Sequence[Scope], args: Mapping[str, Any]
) -> Expect:
    tenant, member = args.get("p_tenant_id"), args.get("p_member_id")
    s = _scope(ss, tenant)
    if s is None or not s.owner:
        return deny(f"{actor.name} is not an owner of {world.label(tenant)}")
    if member == s.member:
        return deny("already the owner", "22023", "P0002")
    target = base.get("public.users", (tenant, member))
    if target is None or not target["is_active"] or target.get("auth_id") is None:
        return deny("no active member with an account there", "P0002", "22023")
    state = base.copy()
    promoted = {**target, "role": "owner"}
    state.put("public.users", promoted, (tenant, member))
    me = base.get("public.users", (tenant, s.member))
    assert me is not None
    state.put("public.users", {**me, "role": "admin"}, (tenant, s.member))
    effect = Effect(state, rows=[{k: promoted[k] for k in ("tenant_id", "id", "role")}])
    return with_integrity(world, base, effect, "allow", f"{actor.name} hands {world.label(tenant)} over")


def _expect_increment(
    world: World, base: State, items: Sequence[Mapping[str, Any]], *, single: bool
) -> Expect:
    state = base.copy()
    sums: dict[Key, list[float]] = {}
    prefix = "p_" if single else ""
    for item in items:
        day = item.get(f"{prefix}usage_date") or world.today
        key = (item[f"{prefix}tenant_id"], item[f"{prefix}user_id"], day)
        amounts = [
            item.get(f"{prefix}request_count", 1),
            item.get(f"{prefix}prompt_tokens", 0),
            item.get(f"{prefix}completion_tokens", 0),
            float(item.get(f"{prefix}cost_usd", 0)),
        ]
        acc = sums.setdefault(key, [0, 0, 0, 0.0])
        for i, a in enumerate(amounts):
            acc[i] += a
    names = ("request_count", "prompt_tokens", "completion_tokens", "cost_usd")
    written: list[Row] = []
    for key, acc in sums.items():
        old = base.get("public.usage_metrics", key)
        start = [0, 0, 0, 0.0] if old is None else [old[n] for n in names]
        row: Row = {"tenant_id": key[0], "user_id": key[1], "usage_date": key[2]}
        row |= {n: start[i] + acc[i] for i, n in enumerate(names)}
        row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
        state.put("public.usage_metrics", row, key if old is not None else None)
        written.append(row)
    result: list[Any] = written if single else [len(sums)]
    effect = Effect(state, rows=result)
    return with_integrity(world, base, effect, "allow", "the service records usage")


ARCHIVE = {"30 days": timedelta(days=30), "3650 days": timedelta(days=3650), "0 seconds": None}


def _expect_archive(world: World, base: State, args: Mapping[str, Any]) -> Expect:
    older = ARCHIVE.get(args["older_than"])
    if older is None:
        return deny("older_than must be positive", "22023")
    cutoff = datetime.now(UTC) - older
    state = base.copy()
    n = 0
    for c in base.rows("public.conversations"):
        last = datetime.fromisoformat(c["last_message_at"] or c["created_at"])
        if not c["is_archived"] and last < cutoff:
            state.put("public.conversations", {**c, "is_archived": True}, (c["tenant_id"], c["id"]))
            n += 1
    return Expect(Effect(state, rows=[n]), frozenset(), False, f"{n} stale conversations")


def today_minus(world: World, days: int) -> str:
    return (date.fromisoformat(world.today) - timedelta(days=days)).isoformat()
