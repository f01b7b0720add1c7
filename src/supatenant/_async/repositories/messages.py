from __future__ import annotations

import builtins
from typing import Any
from uuid import UUID

from supatenant._async.repositories._base import AsyncRepository
from supatenant._edge import Limit
from supatenant.models import Message, MessageRole, MessagesInsert, SearchMessagesArgs, to_json
from supatenant.ops import Call, Condition, Insert, Select, eq
from supatenant.paging import Cursor, Page, newest_first, older_than, page


class AsyncMessages(AsyncRepository):
    """Messages are append-only: members add to and read their own threads, admins read all."""

    async def append(
        self,
        conversation_id: UUID,
        *,
        role: MessageRole,
        content: str,
        tool_calls: builtins.list[Any] | None = None,
        model: str | None = None,
        token_count: int | None = None,
        latency_ms: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        what = f"append to conversation {conversation_id}"
        self._member_turns_only(role, what)
        scope = await self._scope()
        given = {
            "tool_calls": tool_calls,
            "model": model,
            "token_count": token_count,
            "latency_ms": latency_ms,
            "metadata": metadata,
        }
        row = {
            "tenant_id": scope.tenant_id,
            "conversation_id": conversation_id,
            # required by the model but not sent: the database copies the conversation's owner
            "user_id": scope.member_id,
            "role": role,
            "content": content,
            **{k: v for k, v in given.items() if v is not None},
        }
        payload = to_json(MessagesInsert, row, what)
        if self._store.acting_for is None:
            # the database copies the conversation's owner; a back end working for a member
            # names them, and the database refuses a conversation that is not theirs
            del payload["user_id"]
        return await self._into(Insert("messages", (payload,)), Message, what)

    async def list(
        self, conversation_id: UUID, *, limit: Limit = 50, before: Cursor | None = None
    ) -> Page[Message]:
        """Newest first; pass ``page.next`` as ``before`` for older messages."""
        where: tuple[Condition, ...] = (
            eq("tenant_id", str(await self._tenant(None))),
            eq("conversation_id", str(conversation_id)),
            *self._members_rows_only(),
        )
        if before is not None:
            where += (older_than("created_at", before),)
        op = Select("messages", where, newest_first("created_at"), limit + 1)
        rows = (await self._rows(op, Message, f"messages of conversation {conversation_id}")).rows
        return page(rows, Message, limit, "created_at", None)

    async def search(
        self, query: str, *, conversation_id: UUID | None = None, limit: Limit = 20
    ) -> builtins.list[Message]:
        """Full-text search (web-search syntax, English) over the messages the caller can read,
        newest first, through ``search_messages``: the caller's memberships are resolved once and
        the full-text index serves the tenant (RLS would keep it from serving a plain filter)."""
        given = {
            "p_query": query,
            "p_tenant_id": await self._tenant(None),
            "p_conversation_id": conversation_id,
            "p_limit": limit,
            "p_member_id": self._store.acting_for,
        }
        given = {k: v for k, v in given.items() if v is not None}
        args = to_json(SearchMessagesArgs, given, "message search")
        return await self._all(Call("search_messages", args), Message, "message search")
