from __future__ import annotations

import builtins
from typing import Any
from uuid import UUID

from supatenant._async.repositories._base import AsyncRepository
from supatenant.models import Message, MessagesInsert
from supatenant.ops import Cmp, Condition, Insert, Select, eq
from supatenant.paging import Cursor, Page, newest_first, older_than, page


class AsyncMessages(AsyncRepository):
    """Messages are append-only: members add to and read their own threads, admins read all."""

    async def append(
        self,
        conversation_id: UUID,
        *,
        role: str,
        content: str,
        tool_calls: builtins.list[Any] | None = None,
        model: str | None = None,
        token_count: int | None = None,
        latency_ms: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        scope = await self._scope()
        given = {
            "tool_calls": tool_calls,
            "model": model,
            "token_count": token_count,
            "latency_ms": latency_ms,
            "metadata": metadata,
        }
        row = MessagesInsert.model_validate(
            {
                "tenant_id": scope.tenant_id,
                "conversation_id": conversation_id,
                # the database copies the owner from the conversation whatever is sent, so it is not sent
                "user_id": scope.member_id,
                "role": role,
                "content": content,
                **{k: v for k, v in given.items() if v is not None},
            }
        )
        payload = row.model_dump(mode="json", exclude_unset=True, exclude={"user_id"})
        return await self._one(
            Insert("messages", (payload,)), Message, f"append to conversation {conversation_id}"
        )

    async def list(
        self, conversation_id: UUID, *, limit: int = 50, before: Cursor | None = None
    ) -> Page[Message]:
        """Newest first; pass ``page.next`` as ``before`` for older messages."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where: tuple[Condition, ...] = (
            eq("tenant_id", str(await self._tenant(None))),
            eq("conversation_id", str(conversation_id)),
        )
        if before is not None:
            where += (older_than("created_at", before),)
        op = Select("messages", where, newest_first("created_at"), limit + 1)
        rows = (await self._run(op, f"messages of conversation {conversation_id}")).rows
        return page(rows, Message, limit, "created_at", None)

    async def search(
        self, query: str, *, conversation_id: UUID | None = None, limit: int = 20
    ) -> builtins.list[Message]:
        """Full-text search (web-search syntax, English) over the messages the caller can read."""
        where: tuple[Condition, ...] = (
            eq("tenant_id", str(await self._tenant(None))),
            Cmp("content", "wfts", query),
        )
        if conversation_id is not None:
            where += (eq("conversation_id", str(conversation_id)),)
        return await self._all(
            Select("messages", where, newest_first("created_at"), limit), Message, "message search"
        )
