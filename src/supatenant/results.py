"""Result shapes both stores share (one class each, so sync and async code type alike)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from supatenant.models import Conversation, Message


@dataclass(frozen=True)
class Scope:
    """The membership a store acts for: where new rows go and whose they are."""

    tenant_id: UUID
    member_id: UUID


@dataclass(frozen=True)
class Thread:
    """A conversation and its latest messages, in the order they were written (``seq``)."""

    conversation: Conversation
    messages: list[Message]
    # when older messages exist: pass as ``messages.list(conversation.id, after=thread.next)``
    next: str | None = None

    @property
    def has_more(self) -> bool:
        """Whether older messages than these exist (``next`` then leads to them)."""
        return self.next is not None
