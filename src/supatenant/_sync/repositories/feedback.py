# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
from __future__ import annotations

import builtins
from uuid import UUID

from supatenant._sync.repositories._base import Repository
from supatenant.errors import Conflict, NotFound
from supatenant.models import (
    FeedbackInsert,
    FeedbackRow,
    FeedbackSummary,
    FeedbackUpdate,
    MessageFeedbackSummaryArgs,
    Rating,
    to_json,
)
from supatenant.ops import Call, Condition, Delete, Insert, Order, Select, Update, eq


class Feedback(Repository):
    """Ratings of answers: one per member per message, changed or removed by its author."""

    def _own(self, message_id: UUID) -> tuple[Condition, ...]:
        scope = self._scope()
        return (
            eq("tenant_id", str(scope.tenant_id)),
            eq("message_id", str(message_id)),
            eq("user_id", str(scope.member_id)),
        )

    def rate(self, message_id: UUID, rating: Rating, *, comment: str | None = None) -> FeedbackRow:
        """Rate a message +1 or -1; rating it again replaces the rating and comment."""
        scope = self._scope()
        what = f"rate message {message_id}"
        if self._store.acting_for is not None:
            # the service role skips RLS: a back end rating for a member rates their threads only
            where = (
                eq("tenant_id", str(scope.tenant_id)),
                eq("id", str(message_id)),
                *self._members_rows_only(),
            )
            if not (self._run(Select("messages", where, limit=1, columns=("id",)), what)).rows:
                raise NotFound(f"{what}: not found, or not yours (not in the member's threads)", "42501")
        row = to_json(
            FeedbackInsert,
            {
                "tenant_id": scope.tenant_id,
                "message_id": message_id,
                "user_id": scope.member_id,
                "rating": rating,
                "comment": comment,
            },
            what,
        )
        try:
            return self._into(Insert("feedback", (row,)), FeedbackRow, what)
        except Conflict:
            # already rated: members may change rating and comment, nothing else
            changes = to_json(FeedbackUpdate, {"rating": rating, "comment": comment}, what)
            return self._one(Update("feedback", changes, self._own(message_id)), FeedbackRow, what)

    def remove(self, message_id: UUID) -> FeedbackRow:
        """Withdraw the store's member's rating of a message; returns what was removed."""
        op = Delete("feedback", self._own(message_id))
        return self._one(op, FeedbackRow, f"feedback on message {message_id}")

    def list(self, *, message_id: UUID | None = None) -> builtins.list[FeedbackRow]:
        """Feedback the caller can read (their own; admins the tenant's), newest first."""
        tenant = str(self._tenant(None))
        where: tuple[Condition, ...] = (eq("tenant_id", tenant), *self._members_rows_only())
        if message_id is not None:
            where += (eq("message_id", str(message_id)),)
        op = Select("feedback", where, (Order("created_at", descending=True),))
        return self._all(op, FeedbackRow, "feedback")

    def summary(
        self, conversation_id: UUID | None = None, *, tenant_id: UUID | None = None
    ) -> builtins.list[FeedbackSummary]:
        """Per-message totals from the summary (as of its last refresh): the store's tenant, or
        ``tenant_id``; all the caller's tenants when neither is known (the service role: all)."""
        given = {"p_conversation_id": conversation_id, "p_tenant_id": self._tenant_filter(tenant_id)}
        given = {k: v for k, v in given.items() if v is not None}
        args = to_json(MessageFeedbackSummaryArgs, given, "feedback summary")
        rows = self._all(Call("message_feedback_summary", args), FeedbackSummary, "feedback summary")
        member = self._store.acting_for  # a back end working for a member: their threads only
        return [r for r in rows if member is None or r.conversation_user_id == member]
