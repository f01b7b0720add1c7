"""Pydantic models of the schema. ``_generated`` is written by ``supatenant gen``; the names
here are the ones application code reads best."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from supatenant.models._generated import (
    ConversationsInsert,
    ConversationsRow,
    ConversationsUpdate,
    CurrentDayUsageRow,
    FeedbackInsert,
    FeedbackRow,
    FeedbackUpdate,
    IncrementUsageArgs,
    MessageFeedbackSummaryArgs,
    MessageFeedbackSummaryResult,
    MessagesInsert,
    MessagesRow,
    MonthlyUsageSummaryArgs,
    MonthlyUsageSummaryResult,
    TenantsInsert,
    TenantsRow,
    TenantsUpdate,
    UsageMetricsInsert,
    UsageMetricsRow,
    UsersInsert,
    UsersRow,
    UsersUpdate,
)

Tenant = TenantsRow
Member = UsersRow
Conversation = ConversationsRow
Message = MessagesRow
Feedback = FeedbackRow
FeedbackSummary = MessageFeedbackSummaryResult
MonthlyUsage = MonthlyUsageSummaryResult
DailyUsage = CurrentDayUsageRow


class UsageIncrement(UsageMetricsInsert):
    """One request's usage for a member and day, as ``increment_usage_batch`` takes it.

    The table's own constraints apply; an increment counts one request unless told otherwise.
    """

    request_count: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1


__all__ = [
    "Conversation",
    "ConversationsInsert",
    "ConversationsUpdate",
    "DailyUsage",
    "Feedback",
    "FeedbackInsert",
    "FeedbackRow",
    "FeedbackSummary",
    "FeedbackUpdate",
    "IncrementUsageArgs",
    "Member",
    "Message",
    "MessageFeedbackSummaryArgs",
    "MessagesInsert",
    "MonthlyUsage",
    "MonthlyUsageSummaryArgs",
    "Tenant",
    "TenantsInsert",
    "TenantsUpdate",
    "UsageIncrement",
    "UsageMetricsRow",
    "UsersInsert",
    "UsersUpdate",
]
