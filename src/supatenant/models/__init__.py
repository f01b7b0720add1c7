"""Pydantic models of the schema. ``_generated`` is written by ``supatenant gen``; the names
here are the ones application code reads best."""

from __future__ import annotations

from collections.abc import Mapping
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
FeedbackSummary = MessageFeedbackSummaryResult
MonthlyUsage = MonthlyUsageSummaryResult
DailyUsage = CurrentDayUsageRow
Invitation = InvitationsRow


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
    "UsageMetricsRow",
    "UsersInsert",
    "UsersUpdate",
    "to_json",
]
