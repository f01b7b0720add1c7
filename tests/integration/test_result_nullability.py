"""The refined result models (DailyUsage, MonthlyUsage, FeedbackSummary, Quota, UsageMetrics)
claim that some columns of views and function results are never null, which the catalog
cannot say. Each claim is held here to a seeded database: every row the views and functions
return validates for several actors, the claimed columns hold no null over all the data,
the catalog's NOT NULLs the claims rest on are there, and a tenant with no usage or
feedback gets what the models say (no rows, or a quota of zeros)."""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ValidationError

from supatenant import Store
from supatenant.auth import Identity
from supatenant.backends.postgres import ACT_AS
from supatenant.models import DailyUsage, FeedbackSummary, MonthlyUsage, Quota, UsageMetrics
from supatenant.seeding.load import seed_database
from supatenant.seeding.plan import today
from tests.integration.test_seed import SIZES  # the same small world the seed's tests use

# each refined model, and what returns its rows (read as the caller, as the API reads them)
SOURCES: dict[type[BaseModel], str] = {
    DailyUsage: "select * from public.current_day_usage",
    MonthlyUsage: "select * from public.monthly_usage_summary()",
    FeedbackSummary: "select * from public.message_feedback_summary()",
    Quota: "select * from public.tenant_quota()",
    UsageMetrics: "select * from public.usage_metrics",
}


def never_null(model: type[BaseModel]) -> list[str]:
    """The fields ``model`` says are never null."""
    return [
        name
        for name, f in model.model_fields.items()
        if type(None) not in typing.get_args(f.annotation) and f.annotation is not types.NoneType
    ]


@dataclass(frozen=True)
class Seeded:
    url: str
    members: list[dict[str, Any]]  # the seed's credentials: auth_id, member_id, tenant_id, role, active
    tenants: list[uuid.UUID]
    empty_tenant: uuid.UUID  # no conversations, usage or feedback
    empty_owner: uuid.UUID  # its owner's auth user id
    down_only: uuid.UUID  # a message rated once, down


@pytest.fixture(scope="module")
def seeded(migrated_database: Callable[[], str]) -> Seeded:
    url = migrated_database()
    _, seeding = seed_database(url, SIZES, 11, today())  # ends today: today's view has rows
    members = [c for i in range(SIZES.tenants) for c in seeding.tenant(i).credentials]
    empty, owner_auth = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into public.tenants (id, name, slug, plan) values (%s, 'Empty', %s, 'free')",
            (empty, f"empty-{empty.hex[:12]}"),
        )
        conn.execute(
            "insert into auth.users (id, email) values (%s, 'empty-owner@example.test')", (owner_auth,)
        )
        conn.execute(
            "insert into public.users (tenant_id, auth_id, email, role)"
            " values (%s, %s, 'empty-owner@example.test', 'owner')",
            (empty, owner_auth),
        )
        # a message nobody rated, now rated down by its conversation's owner: its summary has
        # no positive rating and a score below zero, and is still non-null throughout
        found = conn.execute(
            "select m.tenant_id, m.id, m.user_id from public.messages m"
            " join public.users u on u.tenant_id = m.tenant_id and u.id = m.user_id and u.is_active"
            " where not exists (select 1 from public.feedback f where f.tenant_id = m.tenant_id"
            " and f.message_id = m.id) order by m.id limit 1"
        ).fetchone()
        assert found is not None
        conn.execute(
            "insert into public.feedback (tenant_id, message_id, user_id, rating) values (%s, %s, %s, -1)",
            found,
        )
        # today's usage (the seed's days end before today) for every active member
        for c in members:
            if c["active"]:
                conn.execute(
                    "select public.increment_usage(%s, %s, 120, 30, 0.0042)", (c["tenant_id"], c["member_id"])
                )
        conn.execute("select public.refresh_summaries()")
        conn.commit()
    tenants = [uuid.UUID(str(seeding.tenant(i).tenant["id"])) for i in range(SIZES.tenants)]
    return Seeded(url, members, tenants, empty, owner_auth, found[1])


def _actors(seeded: Seeded) -> list[tuple[str, Identity]]:
    """The service role; every active seeded member (owners, admins, members); the empty
    tenant's owner."""
    actors = [("service", Identity.service())]
    actors += [
        (f"{c['role']} {c['email']}", Identity.user(uuid.UUID(c["auth_id"])))
        for c in seeded.members
        if c["active"]
    ]
    return [*actors, ("owner of the empty tenant", Identity.user(seeded.empty_owner))]


@pytest.fixture
def raw(seeded: Seeded) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(seeded.url, row_factory=dict_row) as conn:
        yield conn


def _rows_as(
    conn: psycopg.Connection[dict[str, Any]], identity: Identity, query: str
) -> list[dict[str, Any]]:
    """The rows ``query`` returns to ``identity``, acting exactly as the API's psycopg backend does."""
    with conn.transaction(force_rollback=True):
        conn.execute(ACT_AS, (identity.role, identity.claims_json()))
        return conn.execute(sql.SQL(query)).fetchall()


def test_every_row_of_every_view_and_function_validates_for_every_actor(
    seeded: Seeded, raw: psycopg.Connection[dict[str, Any]]
) -> None:
    seen = dict.fromkeys(SOURCES, 0)
    for name, identity in _actors(seeded):
        for model, query in SOURCES.items():
            for row in _rows_as(raw, identity, query):
                try:
                    model.model_validate(row)  # a null in a claimed column raises here
                except ValidationError as e:
                    pytest.fail(f"{model.__name__} as {name}: {e}")
                seen[model] += 1
    # every model met real rows (the claims were tried, not skipped over empty results)
    assert all(count > 0 for count in seen.values()), seen


def test_the_repositories_return_the_refined_models_for_every_actor(seeded: Seeded) -> None:
    returned: dict[type[BaseModel], int] = dict.fromkeys(SOURCES, 0)
    with Store.connect(seeded.url, service_role=True, max_size=2) as service:
        stores: list[tuple[str, Store, uuid.UUID | None]] = [("service", service, t) for t in seeded.tenants]
        stores += [
            (c["email"], service.as_user(uuid.UUID(c["auth_id"])), None)
            for c in seeded.members
            if c["active"]
        ]
        stores += [
            (
                f"back end for {c['email']}",
                service.for_member(uuid.UUID(c["tenant_id"]), uuid.UUID(c["member_id"])),
                None,
            )
            for c in seeded.members
            if c["active"] and c["role"] == "member"
        ]
        for name, store, tenant in stores:
            results: list[tuple[type[BaseModel], list[Any]]] = [
                (FeedbackSummary, store.feedback.summary(tenant_id=tenant)),
            ]
            if store.acting_for is None:  # usage is the tenant's, not a back end's for a member
                results += [
                    (DailyUsage, store.usage.today(tenant_id=tenant)),
                    (MonthlyUsage, store.usage.monthly(tenant_id=tenant)),
                    (Quota, [store.usage.quota(tenant_id=tenant)]),
                    (UsageMetrics, store.usage.list(tenant_id=tenant)),
                ]
            for model, rows in results:
                for row in rows:
                    assert type(row) is model, (name, model, type(row))
                    assert all(getattr(row, f) is not None for f in never_null(model)), (name, row)
                returned[model] += len(rows)
    assert all(count > 0 for count in returned.values()), returned


def test_no_claimed_column_holds_a_null_anywhere_in_the_data(
    seeded: Seeded, raw: psycopg.Connection[dict[str, Any]]
) -> None:
    """Over every row (the service role reads them all), each column a model calls never null
    has no null; and a column left Optional is so for a reason: a plan without limits."""
    service = Identity.service()
    for model, query in SOURCES.items():
        columns = never_null(model)
        counts = sql.SQL(", ").join(
            sql.SQL("count(*) filter (where {} is null) as {}").format(sql.Identifier(c), sql.Identifier(c))
            for c in columns
        )
        source = sql.SQL(query)
        with raw.transaction(force_rollback=True):
            raw.execute(ACT_AS, (service.role, service.claims_json()))
            total = raw.execute(sql.SQL("select count(*) as n from ({}) s").format(source)).fetchone()
            nulls = raw.execute(sql.SQL("select {} from ({}) s").format(counts, source)).fetchone()
        assert total is not None
        assert total["n"] > 0, model
        assert nulls == dict.fromkeys(columns, 0), (model, nulls)
    quota_nullable = set(Quota.model_fields) - set(never_null(Quota))
    assert quota_nullable == {"monthly_tokens", "monthly_cost_usd", "requests_per_day"}
    with raw.transaction(force_rollback=True):
        raw.execute(ACT_AS, (service.role, service.claims_json()))
        limits = raw.execute(
            "select monthly_tokens, monthly_cost_usd, requests_per_day from public.tenant_quota()"
        ).fetchall()
    assert {None} == {v for row in limits for v in row.values()}  # the seeded plans set no limits


def test_the_catalog_holds_the_not_nulls_the_claims_rest_on(raw: psycopg.Connection[dict[str, Any]]) -> None:
    """A view's or a function's columns are nullable to the catalog, but what they are computed
    from is not: current_day_usage reads usage_metrics alone; the summaries group NOT NULL
    columns of usage_metrics, feedback and messages; tenant_quota keys on tenants."""
    depends = raw.execute(
        "select distinct d.refobjid::regclass::text as source from pg_rewrite r"
        " join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass"
        " where r.ev_class = %s::regclass and d.refobjid <> r.ev_class",
        ("public.current_day_usage",),
    ).fetchall()
    assert [r["source"] for r in depends] == ["usage_metrics"]
    rests_on = {
        "public.usage_metrics": [
            "tenant_id",
            "user_id",
            "usage_date",
            "request_count",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "updated_at",
        ],
        "public.feedback": ["tenant_id", "message_id", "rating", "updated_at"],
        "public.messages": ["tenant_id", "id", "conversation_id", "user_id"],
        "public.tenants": ["id", "plan"],
    }
    for table, columns in rests_on.items():
        found = raw.execute(
            "select attname, attnotnull from pg_attribute where attrelid = %s::regclass and attname = any(%s)",
            (table, columns),
        ).fetchall()
        assert {r["attname"]: r["attnotnull"] for r in found} == dict.fromkeys(columns, True), table
    # total_tokens is generated from two of those NOT NULL columns
    generated = raw.execute(
        "select a.attgenerated, pg_get_expr(d.adbin, d.adrelid) as expr from pg_attribute a"
        " join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
        " where a.attrelid = 'public.usage_metrics'::regclass and a.attname = 'total_tokens'"
    ).fetchone()
    assert generated == {"attgenerated": "s", "expr": "(prompt_tokens + completion_tokens)"}


def test_a_down_only_rating_still_gives_counts_and_a_score(seeded: Seeded) -> None:
    with Store.connect(seeded.url, service_role=True, max_size=1) as service:
        rows = [r for r in service.feedback.summary() if r.message_id == seeded.down_only]
    assert [(r.positive_count, r.negative_count, r.total_count, r.score) for r in rows] == [(0, 1, 1, -1)]


def test_a_tenant_with_no_usage_or_feedback_gets_no_rows_and_a_quota_of_zeros(seeded: Seeded) -> None:
    this_month = datetime.now(UTC).date().replace(day=1)
    with Store.connect(seeded.url, service_role=True, max_size=1) as service:
        owner = service.as_user(seeded.empty_owner)
        assert (owner.usage.today(), owner.usage.monthly(), owner.feedback.summary()) == ([], [], [])
        assert owner.usage.list() == []
        quota = owner.usage.quota()
        assert quota == Quota(
            tenant_id=seeded.empty_tenant,
            plan="free",
            month=this_month,
            tokens_used=0,
            tokens_reserved=0,
            monthly_tokens=None,
            cost_usd=Decimal(0),
            monthly_cost_usd=None,
            requests_today=0,
            requests_per_day=None,
        )
        assert service.usage.quota(tenant_id=seeded.empty_tenant) == quota
        # a plan with limits: the Optional limits come back set
        with psycopg.connect(seeded.url) as conn:
            conn.execute(
                "update private.plans set monthly_tokens = 5000, monthly_cost_usd = 2.5,"
                " requests_per_day = 40 where plan = 'free'"
            )
            conn.commit()
            try:
                limited = owner.usage.quota()
            finally:
                conn.execute(
                    "update private.plans set monthly_tokens = null, monthly_cost_usd = null,"
                    " requests_per_day = null where plan = 'free'"
                )
                conn.commit()
    assert (limited.monthly_tokens, limited.monthly_cost_usd, limited.requests_per_day) == (
        5000,
        Decimal("2.5"),
        40,
    )
    assert (limited.tokens_used, limited.cost_usd, limited.month) == (0, Decimal(0), this_month)
    assert isinstance(limited.month, date)
