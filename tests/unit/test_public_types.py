"""What application code annotates with is what both stores return (mypy checks the
annotated functions below; the assertions check the same at run time)."""

from __future__ import annotations

import typing
from uuid import UUID

from pydantic import BaseModel

import supatenant
from supatenant import AsyncStore, Scope, Store, Thread
from supatenant._async.repositories.conversations import AsyncConversations
from supatenant._sync.repositories.conversations import Conversations


def sync_thread(store: Store, conversation_id: UUID) -> Thread:
    return store.conversations.thread(conversation_id)


async def async_thread(store: AsyncStore, conversation_id: UUID) -> Thread:
    return await store.conversations.thread(conversation_id)


def sync_scope(store: Store) -> Scope:
    return store.scope()


def test_both_stores_return_the_exported_result_classes() -> None:
    threads: list[object] = [Conversations.thread, AsyncConversations.thread]
    scopes: list[object] = [Store.scope, AsyncStore.scope]
    assert {typing.get_type_hints(m)["return"] for m in threads} == {supatenant.Thread}
    assert {typing.get_type_hints(m)["return"] for m in scopes} == {supatenant.Scope}


def test_enumerated_arguments_are_literals_of_the_schema() -> None:
    from supatenant.models import (
        FeedbackInsert,
        MessageRole,
        MessagesInsert,
        Plan,
        Rating,
        Role,
        TenantsInsert,
        UsersInsert,
    )

    pairs: list[tuple[object, type[BaseModel], str]] = [
        (MessageRole, MessagesInsert, "role"),
        (Rating, FeedbackInsert, "rating"),
        (Plan, TenantsInsert, "plan"),
        (Role, UsersInsert, "role"),
    ]
    for alias, model, field in pairs:
        generated = typing.get_args(model.model_fields[field].annotation)
        assert set(typing.get_args(alias)) == set(generated), field


def test_refined_results_keep_the_generated_fields_and_drop_none() -> None:
    """Function results are nullable to the catalog; the refined models say what never is."""
    from supatenant.models import (
        DailyUsage,
        FeedbackSummary,
        Membership,
        MonthlyUsage,
        NewInvitation,
        Plan,
        Quota,
        UsageMetrics,
    )
    from supatenant.models._generated import (
        CurrentDayUsageRow,
        InviteMemberResult,
        MessageFeedbackSummaryResult,
        MonthlyUsageSummaryResult,
        MyMembershipsResult,
        TenantQuotaResult,
        UsageMetricsRow,
    )

    def nullable(model: type[BaseModel]) -> set[str]:
        return {n for n, f in model.model_fields.items() if type(None) in typing.get_args(f.annotation)}

    # (refined, generated, what stays nullable: a plan's limit is null when it has none)
    pairs: list[tuple[type[BaseModel], type[BaseModel], set[str]]] = [
        (NewInvitation, InviteMemberResult, set()),
        (Membership, MyMembershipsResult, set()),
        (DailyUsage, CurrentDayUsageRow, set()),
        (MonthlyUsage, MonthlyUsageSummaryResult, set()),
        (FeedbackSummary, MessageFeedbackSummaryResult, set()),
        (Quota, TenantQuotaResult, {"monthly_tokens", "monthly_cost_usd", "requests_per_day"}),
        (UsageMetrics, UsageMetricsRow, set()),
    ]
    for refined, generated, stays in pairs:
        assert issubclass(refined, generated)
        assert set(refined.model_fields) == set(generated.model_fields)
        assert all(f.is_required() for f in refined.model_fields.values())
        assert nullable(refined) == stays, refined
        assert stays <= nullable(generated)
    assert typing.get_args(Quota.model_fields["plan"].annotation) == typing.get_args(Plan)


def test_both_stores_return_the_refined_result_models() -> None:
    from supatenant._async.repositories.feedback import AsyncFeedback
    from supatenant._async.repositories.usage import AsyncUsage
    from supatenant._sync.repositories.feedback import Feedback
    from supatenant._sync.repositories.usage import Usage
    from supatenant.models import DailyUsage, FeedbackSummary, MonthlyUsage, Quota, UsageMetrics

    expected: list[tuple[str, object]] = [
        ("today", list[DailyUsage]),
        ("monthly", list[MonthlyUsage]),
        ("quota", Quota),
        ("increment", UsageMetrics),
        ("list", list[UsageMetrics]),
    ]
    for repo in (Usage, AsyncUsage):
        for name, returns in expected:
            assert typing.get_type_hints(getattr(repo, name))["return"] == returns, (repo, name)
    for feedback in (Feedback, AsyncFeedback):
        assert typing.get_type_hints(feedback.summary)["return"] == list[FeedbackSummary]


def test_importing_the_package_loads_no_store_until_one_is_used() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, supatenant\n"
        "print(sorted(m for m in ('pydantic', 'psycopg', 'supatenant._sync.store') if m in sys.modules))\n"
        "supatenant.Store\n"
        "print('supatenant._sync.store' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "True"]
