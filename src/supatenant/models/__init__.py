"""Pydantic models of the schema. ``_generated`` is written by ``supatenant gen``; the names
here are the ones application code reads best."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from pydantic_core import PydanticSerializationError

from supatenant._edge import field_errors, invalid, text_problems
from supatenant.errors import FieldError
from supatenant.models._generated import (
    AcceptInvitationArgs,
    AppendMessageTextArgs,
    CloseMessageArgs,
    CloseStaleStreamsArgs,
    ConversationsInsert,
    ConversationsRow,
    ConversationsUpdate,
    CurrentDayUsageRow,
    FeedbackInsert,
    FeedbackRow,
    FeedbackUpdate,
    IncrementUsageArgs,
    InvitationsRow,
    InviteMemberArgs,
    InviteMemberResult,
    MessageFeedbackSummaryArgs,
    MessageFeedbackSummaryResult,
    MessagesInsert,
    MessagesRow,
    MonthlyUsageSummaryArgs,
    MonthlyUsageSummaryResult,
    MyMembershipsResult,
    OpenMessageArgs,
    RecordTurnArgs,
    SearchMessagesArgs,
    TenantQuotaArgs,
    TenantQuotaResult,
    TenantsInsert,
    TenantsRow,
    TenantsUpdate,
    TransferOwnershipArgs,
    UsageMetricsInsert,
    UsageMetricsRow,
    UsersInsert,
    UsersRow,
    UsersUpdate,
)

Role = Literal["owner", "admin", "member"]  # a member's role in their tenant
MessageRole = Literal["user", "assistant", "system", "tool"]  # who speaks in a turn
Rating = Literal[-1, 1]  # thumbs down, thumbs up
Plan = Literal["free", "pro", "team", "enterprise"]  # a tenant's plan
Tenant = TenantsRow
Member = UsersRow
Conversation = ConversationsRow
Message = MessagesRow
Feedback = FeedbackRow
Invitation = InvitationsRow

# The catalog calls every column of a view or a function's result nullable. The refined
# models below say which never are, from the SQL that computes them (the latest migration's
# definition): keys, group-by columns of non-null columns, count(*), sums over at least one
# non-null value, coalesce(..., 0). tests/integration/test_result_nullability.py holds each
# claim to the seeded database.


class UsageMetrics(UsageMetricsRow):
    """A member's usage on one UTC day (``usage_metrics``): ``total_tokens`` is generated from
    two non-null columns, so it is never null either."""

    total_tokens: Annotated[int, Field(ge=0)]


class DailyUsage(CurrentDayUsageRow):
    """A row of ``current_day_usage``: today's ``usage_metrics`` rows, every column as the
    table holds it (none null)."""

    tenant_id: UUID
    user_id: UUID
    usage_date: date
    request_count: Annotated[int, Field(ge=0)]
    prompt_tokens: Annotated[int, Field(ge=0)]
    completion_tokens: Annotated[int, Field(ge=0)]
    total_tokens: Annotated[int, Field(ge=0)]
    cost_usd: Annotated[Decimal, Field(ge=0)]
    updated_at: AwareDatetime


class MonthlyUsage(MonthlyUsageSummaryResult):
    """One of monthly_usage_summary(): a member's month, summed over their days in it (at least
    one, each with non-null counts), so no column is null."""

    tenant_id: UUID
    user_id: UUID
    month: date
    request_count: Annotated[int, Field(ge=0)]
    prompt_tokens: Annotated[int, Field(ge=0)]
    completion_tokens: Annotated[int, Field(ge=0)]
    total_tokens: Annotated[int, Field(ge=0)]
    cost_usd: Annotated[Decimal, Field(ge=0)]
    active_days: Annotated[int, Field(ge=1)]


class FeedbackSummary(MessageFeedbackSummaryResult):
    """One of message_feedback_summary(): a rated message's totals. A message appears only
    once rated, so the counts, the score and the last rating's time are all set."""

    tenant_id: UUID
    message_id: UUID
    conversation_id: UUID
    conversation_user_id: UUID
    positive_count: Annotated[int, Field(ge=0)]
    negative_count: Annotated[int, Field(ge=0)]
    total_count: Annotated[int, Field(ge=1)]
    score: int
    last_feedback_at: AwareDatetime


class NewInvitation(InviteMemberResult):
    """invite_member()'s row: the invitation's id, its single-use token and expiry, all set.
    (A function's result columns are nullable to the catalog; these never are.)"""

    invitation_id: UUID
    token: str
    expires_at: AwareDatetime


class Membership(MyMembershipsResult):
    """One of my_memberships(): a tenant of the signed-in user and their membership in it."""

    tenant_id: UUID
    tenant_name: str
    tenant_slug: str
    member_id: UUID
    role: Role


class Quota(TenantQuotaResult):
    """tenant_quota()'s row: a tenant's live month-to-date usage (UTC) beside its plan's
    limits. The usage is coalesced to 0; a limit is null when the plan has none."""

    tenant_id: UUID
    plan: Plan
    month: date
    tokens_used: int
    tokens_reserved: int
    cost_usd: Decimal
    requests_today: int


MessageStatus = Literal["streaming", "complete", "failed", "cancelled"]
ClosedStatus = Literal["complete", "failed", "cancelled"]
StreamRole = Literal["assistant", "tool"]  # the turns a stream writes


class UsageIncrement(UsageMetricsInsert):
    """One request's usage for a member and day, as ``increment_usage_batch`` takes it.

    The table's own constraints apply; an increment counts one request unless told otherwise.
    """

    request_count: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1


def to_json(model: type[BaseModel], data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` checked against ``model`` and made JSON-ready (UUIDs, datetimes and decimals as
    strings), leaving out what the caller did not set. Bad input raises InvalidInput, naming
    each field at fault, before any I/O: values the model rejects, values that are not JSON
    (in ``metadata``, say), and text PostgreSQL cannot store (NUL, lone surrogates)."""
    try:
        validated = model.model_validate(data)
    except ValidationError as e:
        raise invalid(what, field_errors(e)) from None
    try:
        dumped = validated.model_dump(mode="json", exclude_unset=True)
    except PydanticSerializationError:
        raise invalid(what, _not_json(validated)) from None
    problems = text_problems(dumped)
    if problems:
        raise invalid(what, problems)
    return dumped


def _not_json(validated: BaseModel) -> list[FieldError]:
    """The fields whose values JSON cannot carry (an object in ``metadata``, say)."""
    found = []
    for name in validated.model_fields_set:
        try:
            validated.model_dump(mode="json", include={name})
        except PydanticSerializationError as e:
            found.append(FieldError(field=name, message=f"not JSON: {e}", type="json"))
    return found


__all__ = [
    "AcceptInvitationArgs",
    "AppendMessageTextArgs",
    "CloseMessageArgs",
    "CloseStaleStreamsArgs",
    "ClosedStatus",
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
    "Invitation",
    "InviteMemberArgs",
    "Member",
    "Membership",
    "Message",
    "MessageFeedbackSummaryArgs",
    "MessageRole",
    "MessageStatus",
    "MessagesInsert",
    "MonthlyUsage",
    "MonthlyUsageSummaryArgs",
    "NewInvitation",
    "OpenMessageArgs",
    "Plan",
    "Quota",
    "Rating",
    "RecordTurnArgs",
    "Role",
    "SearchMessagesArgs",
    "StreamRole",
    "Tenant",
    "TenantQuotaArgs",
    "TenantsInsert",
    "TenantsUpdate",
    "TransferOwnershipArgs",
    "UsageIncrement",
    "UsageMetrics",
    "UsageMetricsRow",
    "UsersInsert",
    "UsersUpdate",
    "to_json",
]
