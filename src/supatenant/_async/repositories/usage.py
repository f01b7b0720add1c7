from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from supatenant._async.repositories._base import AsyncRepository
from supatenant._edge import Money
from supatenant.models import (
    CloseStaleStreamsArgs,
    DailyUsage,
    IncrementUsageArgs,
    MonthlyUsage,
    MonthlyUsageSummaryArgs,
    Quota,
    TenantQuotaArgs,
    UsageIncrement,
    UsageMetrics,
    to_json,
)
from supatenant.ops import Call, Cmp, Condition, Order, Select, eq


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class AsyncUsage(AsyncRepository):
    """Token and cost usage: written by the service role only, read by members (own) and admins."""

    for_member = False

    async def increment(
        self,
        tenant_id: UUID,
        member_id: UUID,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: Money = 0,
        request_count: int = 1,
        usage_date: date | None = None,
    ) -> UsageMetrics:
        """Add one request's usage for a member (their ``users.id``) in one atomic upsert;
        returns the day's row after it."""
        what = "increment usage"
        increment = _given(
            tenant_id=tenant_id,
            user_id=member_id,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            request_count=request_count,
            usage_date=usage_date,
        )
        checked = to_json(UsageIncrement, increment, what)  # the table's own bounds, before any I/O
        args = to_json(IncrementUsageArgs, {f"p_{k}": v for k, v in checked.items()}, what)
        return await self._one(Call("increment_usage", args, "row"), UsageMetrics, what)

    async def increment_many(self, increments: Iterable[UsageIncrement]) -> int:
        """Apply many increments in one statement (summed per member and day); returns rows written."""
        batch = [i.model_dump(mode="json", exclude_none=True) for i in increments]
        if not batch:
            return 0
        result = await self._run(
            Call("increment_usage_batch", {"p_increments": batch}, "value"), "increment usage"
        )
        return int(result.value)

    async def refresh_summaries(self) -> None:
        """Recompute the feedback and monthly usage summaries (service role)."""
        await self._run(Call("refresh_summaries", {}, "value"), "refresh summaries")

    async def today(self, *, tenant_id: UUID | None = None) -> builtins.list[DailyUsage]:
        """Today's (UTC) rows the caller can read: their own, or the tenant's for admins."""
        where = (eq("tenant_id", str(await self._tenant(tenant_id))),)
        return await self._all(
            Select("current_day_usage", where, (Order("user_id"),)), DailyUsage, "usage today"
        )

    async def list(
        self, *, since: date | None = None, until: date | None = None, tenant_id: UUID | None = None
    ) -> builtins.list[UsageMetrics]:
        """Daily rows between two dates (inclusive), oldest first."""
        where: tuple[Condition, ...] = (eq("tenant_id", str(await self._tenant(tenant_id))),)
        if since is not None:
            where += (Cmp("usage_date", "gte", since.isoformat()),)
        if until is not None:
            where += (Cmp("usage_date", "lte", until.isoformat()),)
        op = Select("usage_metrics", where, (Order("usage_date"), Order("user_id")))
        return await self._all(op, UsageMetrics, "usage")

    async def monthly(
        self, *, since: date | None = None, until: date | None = None, tenant_id: UUID | None = None
    ) -> builtins.list[MonthlyUsage]:
        """Per member and month (as of the summary's last refresh): the store's tenant, or
        ``tenant_id``; all the caller's tenants when neither is known (the service role: all)."""
        given = _given(p_from=since, p_to=until, p_tenant_id=self._tenant_filter(tenant_id))
        args = to_json(MonthlyUsageSummaryArgs, given, "monthly usage")
        return await self._all(Call("monthly_usage_summary", args), MonthlyUsage, "monthly usage")

    async def quota(self, *, tenant_id: UUID | None = None) -> Quota:
        """The tenant's live month-to-date usage (UTC; every member's) beside its plan's limits,
        for a quota bar: members read their tenant's, no summary refresh needed."""
        what = "tenant quota"
        args = to_json(TenantQuotaArgs, {"p_tenant_id": await self._tenant(tenant_id)}, what)
        return await self._one(Call("tenant_quota", args), Quota, what)

    async def close_stale_streams(self, idle_for: timedelta = timedelta(minutes=10)) -> int:
        """Close as failed every streaming message that got no text for ``idle_for`` (service
        role; the maintenance job). Returns how many were closed."""
        what = "close stale streams"
        args = to_json(CloseStaleStreamsArgs, {"p_idle_for": idle_for}, what)
        return int((await self._run(Call("close_stale_streams", args, "value"), what)).value)
