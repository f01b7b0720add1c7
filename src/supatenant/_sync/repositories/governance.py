# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""Erasure, redaction, retention settings and the audit log: the governance functions, called
as the store's caller (the database decides who may; a subject the caller may not touch and a
missing one raise the same NotFound)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from supatenant._sync.repositories._base import Repository
from supatenant.models import to_json
from supatenant.models._generated import (
    AuditEventsRow,
    EraseConversationArgs,
    EraseMemberArgs,
    EraseTenantArgs,
    RedactMessageArgs,
    SetRetentionArgs,
)
from supatenant.ops import Call, Cmp, Condition, Order, Select, eq

AuditEvent = AuditEventsRow


class Governance(Repository):
    """Erase a member, a conversation or a tenant; redact a message; set retention; read the
    audit log. README's governance matrix says who may do which."""

    for_member = False

    def _call(self, function: str, args: dict[str, Any], what: str) -> dict[str, Any]:
        value = (self._run(Call(function, args, "value"), what)).value
        return dict(value) if isinstance(value, dict) else {}

    def erase_member(self, member_id: UUID, *, tenant_id: UUID | None = None) -> dict[str, Any]:
        """Erase a member of ``tenant_id`` (default: the caller's tenant) in one transaction: their
        conversations, messages, feedback, invitations, membership and, when no other tenant
        has them, their auth account. Their usage moves to the tenant's anonymous total and
        their audit events keep a pseudonym. Returns what went, counted per table."""
        what = f"erase member {member_id}"
        tenant = self._tenant(tenant_id)
        args = to_json(EraseMemberArgs, {"p_tenant_id": tenant, "p_member_id": member_id}, what)
        return self._call("erase_member", args, what)

    def erase_conversation(self, conversation_id: UUID, *, tenant_id: UUID | None = None) -> dict[str, Any]:
        """Erase a conversation with its messages and their feedback; usage is unchanged."""
        what = f"erase conversation {conversation_id}"
        tenant = self._tenant(tenant_id)
        args = to_json(
            EraseConversationArgs, {"p_tenant_id": tenant, "p_conversation_id": conversation_id}, what
        )
        return self._call("erase_conversation", args, what)

    def erase_tenant(self, tenant_id: UUID) -> dict[str, Any]:
        """Erase a whole tenant (owners and the service role) and the accounts no other tenant has."""
        what = f"erase tenant {tenant_id}"
        args = to_json(EraseTenantArgs, {"p_tenant_id": tenant_id}, what)
        return self._call("erase_tenant", args, what)

    def redact_message(
        self, message_id: UUID, *, reason: str | None = None, tenant_id: UUID | None = None
    ) -> None:
        """Replace a message's content with ``[redacted]`` (admins and the service role); the
        original is kept nowhere, the redaction is audited, usage is unchanged."""
        what = f"redact message {message_id}"
        tenant = self._tenant(tenant_id)
        given = {"p_tenant_id": tenant, "p_message_id": message_id, "p_reason": reason}
        args = to_json(RedactMessageArgs, {k: v for k, v in given.items() if v is not None}, what)
        self._run(Call("redact_message", args, "value"), what)

    def set_retention(
        self,
        *,
        archived_conversations_days: int | None = None,
        messages_days: int | None = None,
        tenant_id: UUID | None = None,
    ) -> dict[str, Any]:
        """Set the tenant's retention (owners and the service role): archived conversations and
        messages older than that many days are deleted by the maintenance job. Both None clears it.
        Returns the retention now in force."""
        tenant = self._tenant(tenant_id)
        what = f"set retention of {self._tenant_named(tenant)}"
        given = {
            "p_tenant_id": tenant,
            "p_archived_conversations_days": archived_conversations_days,
            "p_messages_days": messages_days,
        }
        args = to_json(SetRetentionArgs, {k: v for k, v in given.items() if v is not None}, what)
        return self._call("set_retention", args, what)

    def audit_events(
        self, *, tenant_id: UUID | None = None, limit: int = 100, before_seq: int | None = None
    ) -> list[AuditEvent]:
        """The tenant's audit events, newest first (admins and the service role); page with
        ``before_seq`` (the last ``seq`` of the previous page)."""
        tenant = self._tenant(tenant_id)
        where: tuple[Condition, ...] = (eq("tenant_id", str(tenant)),)
        if before_seq is not None:
            where += (Cmp("seq", "lt", before_seq),)
        op = Select("audit_events", where, order=(Order("seq", descending=True),), limit=limit)
        return self._all(op, AuditEvent, "audit events")
