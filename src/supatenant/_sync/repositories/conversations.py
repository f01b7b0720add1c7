# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from supatenant._edge import UNSET, Limit, Unset, given
from supatenant._sync.repositories._base import Repository
from supatenant.models import Conversation, ConversationsInsert, ConversationsUpdate, Message, to_json
from supatenant.ops import Cmp, Condition, Insert, Select, Update, eq
from supatenant.paging import Cursor, Keyset, Page, newest_first
from supatenant.results import Thread


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Conversations(Repository):
    """Chat threads: members create and keep their own; admins read all in the tenant."""

    def create(self, title: str | None = None, *, metadata: dict[str, Any] | None = None) -> Conversation:
        scope = self._scope()
        row = {
            "tenant_id": scope.tenant_id,
            "user_id": scope.member_id,
            "title": title,
            "metadata": metadata or {},
        }
        op = Insert("conversations", (to_json(ConversationsInsert, row, "create conversation"),))
        return self._one(op, Conversation, "create conversation")

    def get(self, conversation_id: UUID) -> Conversation:
        op = Select("conversations", self._conversation_key(conversation_id), single=True)
        return self._one(op, Conversation, f"conversation {conversation_id}")

    def update(
        self,
        conversation_id: UUID,
        *,
        title: str | Literal[Unset.UNSET] | None = UNSET,
        metadata: dict[str, Any] | Literal[Unset.UNSET] = UNSET,
    ) -> Conversation:
        """Change what is given (``title=None`` clears the title); nothing given changes nothing."""
        return self._change(conversation_id, given(title=title, metadata=metadata), "update")

    def archive(self, conversation_id: UUID) -> Conversation:
        """Soft delete: the thread is kept and can be restored with :meth:`unarchive`."""
        return self._change(conversation_id, {"is_archived": True}, "archive")

    def unarchive(self, conversation_id: UUID) -> Conversation:
        return self._change(conversation_id, {"is_archived": False}, "unarchive")

    def _change(self, conversation_id: UUID, values: dict[str, Any], verb: str) -> Conversation:
        what = f"{verb} conversation {conversation_id}"
        if not values:
            return self.get(conversation_id)
        op = Update(
            "conversations",
            to_json(ConversationsUpdate, values, what),
            self._conversation_key(conversation_id),
        )
        return self._one(op, Conversation, what)

    def list(
        self,
        *,
        archived: bool | None = False,
        title_contains: str | None = None,
        everyone: bool = False,
        limit: Limit = 20,
        after: Cursor | None = None,
        before: Cursor | None = None,
        with_total: bool = False,
    ) -> Page[Conversation]:
        """Most recently active first. ``archived=None`` lists both; ``everyone`` lists the whole
        tenant's threads (admins), else the store's member's own (a ``for_member`` store: always).
        ``after=page.next`` pages on, ``before=page.previous`` pages back."""
        what = "conversations.list"
        keyset = Keyset("conversations")
        start = keyset.start(after, before, what)
        scope = self._scope()
        where: tuple[Condition, ...] = (eq("tenant_id", str(scope.tenant_id)),)
        if not everyone or self._store.acting_for is not None:
            where += (eq("user_id", str(scope.member_id)),)
        if archived is not None:
            where += (Cmp("is_archived", "is", archived),)
        if title_contains:
            where += (Cmp("title", "ilike", _like(title_contains)),)
        total = None
        if with_total:
            total = (self._run(Select("conversations", where, limit=0, count=True), what)).count
        op = Select("conversations", where + start.where, start.order, limit + 1)
        rows = (self._rows(op, Conversation, what)).rows
        return keyset.page(rows, Conversation, limit, start, total)

    def thread(self, conversation_id: UUID, *, limit: Limit = 50) -> Thread:
        """The conversation and its latest ``limit`` messages, oldest first, read together (one
        statement: one snapshot). ``thread.next`` (when ``has_more``) is the cursor for
        ``messages.list(conversation_id, after=thread.next)``: the messages before these."""
        row, messages = self._with_messages(
            conversation_id,
            tuple(Conversation.model_fields),
            where=(),
            order=newest_first("seq"),
            limit=limit + 1,
            what=f"conversation {conversation_id}",
        )
        conversation = Conversation.model_validate(row)
        latest = [Message.model_validate(m) for m in messages]
        keyset = Keyset("messages", conversation.id)
        more = len(latest) > limit
        latest = latest[:limit]
        return Thread(conversation, latest[::-1], keyset.cursor(latest[-1]) if more else None)
