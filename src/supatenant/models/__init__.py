"""Pydantic models of the schema. ``_generated`` is written by ``supatenant gen``; the names
here are the ones application code reads best."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from supatenant.errors import InvalidInput
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
Tenant = TenantsRow
Member = UsersRow
Conversation = ConversationsRow
Message = MessagesRow
Feedback = FeedbackRow
FeedbackSummary = MessageFeedbackSummaryResult
MonthlyUsage = MonthlyUsageSummaryResult
DailyUsage = CurrentDayUsageRow
Invitation = InvitationsRow
NewInvitation = InviteMemberResult  # the invitation's id, its single-use token and expiry
Membership = MyMembershipsResult
Quota = TenantQuotaResult  # a tenant's live month-to-date usage beside its plan's limits
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
    strings), leaving out what the caller did not set. Bad input raises InvalidInput before any I/O."""
    try:
        return model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}"
            for err in e.errors(include_url=False)
        )
        raise InvalidInput(f"{what}: {problems}") from e


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
    "MessageStatus",
    "MessagesInsert",
    "MonthlyUsage",
    "MonthlyUsageSummaryArgs",
    "NewInvitation",
    "OpenMessageArgs",
    "Quota",
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
    "UsageMetricsRow",
    "UsersInsert",
    "UsersUpdate",
    "to_json",
]
