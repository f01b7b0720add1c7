# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
from __future__ import annotations

import builtins
from typing import Any
from uuid import UUID

from supatenant._edge import Limit, MessageText, Money, whole_number
from supatenant._sync.repositories._base import Repository
from supatenant._sync.repositories.turns import MessageStream, Turn, usage_args
from supatenant.errors import InvalidInput
from supatenant.models import (
    Message,
    MessageRole,
    MessagesInsert,
    RecordTurnArgs,
    SearchMessagesArgs,
    StreamRole,
    to_json,
)
from supatenant.ops import Call, Insert
from supatenant.paging import Cursor, Keyset, Page


class Messages(Repository):
    """Messages are append-only: members add to and read their own threads, admins read all."""

    def append(
        self,
        conversation_id: UUID,
        *,
        role: MessageRole,
        content: MessageText,
        tool_calls: builtins.list[Any] | None = None,
        model: str | None = None,
        token_count: int | None = None,
        latency_ms: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        what = f"append to conversation {conversation_id}"
        self._member_turns_only(role, what)
        scope = self._scope()
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
        return self._into(Insert("messages", (payload,)), Message, what)

    def list(
        self,
        conversation_id: UUID,
        *,
        limit: Limit = 50,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> Page[Message]:
        """Newest first (by ``seq``, the order they were written in): ``after=page.next`` pages
        on to older messages, ``before=page.previous`` back to newer ones."""
        what = f"messages.list of conversation {conversation_id}"
        keyset = Keyset("messages", conversation_id)
        start = keyset.start(after, before, what)
        _, rows = self._with_messages(
            conversation_id,
            ("tenant_id", "id"),
            where=start.where,
            order=start.order,
            limit=limit + 1,
            what=what,
        )
        return keyset.page(rows, Message, limit, start)

    def search(
        self, query: str, *, conversation_id: UUID | None = None, limit: Limit = 20
    ) -> builtins.list[Message]:
        """Full-text search (web-search syntax, English) over the messages the caller can read,
        newest first, through ``search_messages``: the caller's memberships are resolved once and
        the full-text index serves the tenant (RLS would keep it from serving a plain filter)."""
        given = {
            "p_query": query,
            "p_tenant_id": self._tenant(None),
            "p_conversation_id": conversation_id,
            "p_limit": limit,
            "p_member_id": self._store.acting_for,
        }
        given = {k: v for k, v in given.items() if v is not None}
        args = to_json(SearchMessagesArgs, given, "message search")
        return self._all(Call("search_messages", args), Message, "message search")

    def member_for_turns(self) -> UUID | None:
        """The member a ``for_member`` store writes turns for (the database checks the thread is theirs)."""
        return self._store.acting_for

    def stream(
        self,
        conversation_id: UUID,
        *,
        model: str | None = None,
        role: StreamRole = "assistant",
        reserve_tokens: int = 0,
        tool_calls: builtins.list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
        flush_bytes: int = 8192,
        flush_seconds: float = 0.25,
    ) -> MessageStream:
        """A reply streamed into a new message (the back end: a ``for_member`` store), to use
        as a context manager: ``append`` text, ``set_usage``; it completes when the block
        ends, fails when it raises. ``reserve_tokens`` are held against the tenant's monthly
        quota while it streams; opening over the plan's limits raises QuotaExceeded."""
        what = f"stream into conversation {conversation_id}"
        self._back_end_only(what)
        whole_number("reserve_tokens", reserve_tokens, what)
        given = {
            "p_conversation_id": conversation_id,
            "p_member_id": self.member_for_turns(),
            "p_role": role,
            "p_model": model,
            "p_reserve_tokens": reserve_tokens,
            "p_tool_calls": tool_calls,
            "p_metadata": metadata,
        }
        return MessageStream(
            self,
            {k: v for k, v in given.items() if v is not None},
            flush_bytes=flush_bytes,
            flush_seconds=flush_seconds,
        )

    def record_turn(
        self,
        conversation_id: UUID,
        *,
        user_content: MessageText,
        assistant_content: MessageText,
        model: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: Money = 0,
        latency_ms: int | None = None,
        idempotency_key: str | None = None,
    ) -> Turn:
        """The user's turn and the assistant's reply with its usage, in one transaction (usage
        added to usage_metrics with it). With ``idempotency_key`` a retry returns the first
        turn and adds nothing; the same key with a different turn raises IdempotencyConflict."""
        what = f"record a turn in conversation {conversation_id}"
        self._back_end_only(what)
        scope = self._scope()
        given = {
            "p_tenant_id": scope.tenant_id,
            "p_conversation_id": conversation_id,
            "p_member_id": self.member_for_turns(),
            "p_user_content": user_content,
            "p_assistant_content": assistant_content,
            "p_model": model,
            "p_idempotency_key": idempotency_key,
            **usage_args(prompt_tokens, completion_tokens, cost_usd, latency_ms, what),
        }
        args = to_json(RecordTurnArgs, {k: v for k, v in given.items() if v is not None}, what)
        found = self._run_into(Call("record_turn", args), what)
        rows = [Message.model_validate(row) for row in found.rows]
        if len(rows) != 2:
            raise InvalidInput(f"{what}: the turn's messages were removed since it was recorded")
        return Turn(rows[0], rows[1])
