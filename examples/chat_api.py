"""A chat back end on supatenant and FastAPI: each request acts as the user whose Supabase
access token it carries, row-level security decides what they see, and the back end writes
the assistant's replies for them.

    DATABASE_URL=... SUPABASE_URL=... [SUPABASE_JWT_SECRET=...] \\
        uvicorn --factory examples.chat_api:create_app

Needs ``pip install 'supatenant[fastapi]' uvicorn``. The reply here echoes the question; a
real app calls its model where ``reply_to`` is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Generic, Literal, TypeVar
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request, status
from pydantic import BaseModel, Field

from supatenant import AsyncStore
from supatenant.fastapi import StoreDependency, install_error_handlers
from supatenant.models import Conversation, FeedbackRow, Member, Message
from supatenant.paging import Page
from supatenant.settings import Settings

Row = TypeVar("Row", bound=BaseModel)


class NewConversation(BaseModel):
    title: str | None = Field(default=None, max_length=200)


class NewMessage(BaseModel):
    content: str = Field(min_length=1, max_length=32_000)


class NewRating(BaseModel):
    rating: Literal[-1, 1]
    comment: str | None = Field(default=None, max_length=2_000)


class PageOut(BaseModel, Generic[Row]):
    """A page as JSON: its cursors go back to the client as they are, and come back as
    ``after``/``before`` query parameters (supatenant validates them)."""

    items: list[Row]
    next: str | None
    previous: str | None
    has_more: bool

    @classmethod
    def of(cls, page: Page[Row]) -> PageOut[Row]:
        return cls(items=page.items, next=page.next, previous=page.previous, has_more=page.has_more)


class ThreadOut(BaseModel):
    conversation: Conversation
    messages: list[Message]
    next: str | None  # older messages: GET /conversations/{id}/messages?after=next
    has_more: bool


class Turn(BaseModel):
    question: Message
    answer: Message


async def caller(request: Request) -> AsyncStore:
    """The request's store: the user its access token names, in the tenant it asks for."""
    stores: StoreDependency[AsyncStore] = request.app.state.stores
    return await stores(request)


Caller = Annotated[AsyncStore, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=100)]


def reply_to(question: str) -> str:
    return f"You asked: {question}"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; ``settings`` default to the environment's."""
    settings = settings or Settings.from_env()
    state: dict[str, AsyncStore] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # one service-role pool for the app; each request's store is a view on it
        state["service"] = await AsyncStore.from_settings(settings, service_role=True)
        try:
            yield
        finally:
            await state.pop("service").close()

    app = FastAPI(title="supatenant chat", lifespan=lifespan)
    install_error_handlers(app)
    app.state.stores = StoreDependency(lambda: state["service"], settings.verifier())

    @app.get("/me")
    async def me(store: Caller) -> Member:
        return await store.me()

    @app.get("/conversations")
    async def conversations(
        store: Caller, limit: Limit = 20, after: str | None = None, before: str | None = None
    ) -> PageOut[Conversation]:
        page = await store.conversations.list(limit=limit, after=after, before=before)
        return PageOut[Conversation].of(page)

    @app.post("/conversations", status_code=status.HTTP_201_CREATED)
    async def create_conversation(store: Caller, body: NewConversation) -> Conversation:
        return await store.conversations.create(body.title)

    @app.get("/conversations/{conversation_id}")
    async def thread(store: Caller, conversation_id: UUID) -> ThreadOut:
        found = await store.conversations.thread(conversation_id)
        return ThreadOut(
            conversation=found.conversation, messages=found.messages, next=found.next, has_more=found.has_more
        )

    @app.get("/conversations/{conversation_id}/messages")
    async def messages(
        store: Caller,
        conversation_id: UUID,
        limit: Limit = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> PageOut[Message]:
        page = await store.messages.list(conversation_id, limit=limit, after=after, before=before)
        return PageOut[Message].of(page)

    @app.post("/conversations/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
    async def ask(store: Caller, conversation_id: UUID, body: NewMessage) -> Turn:
        answer = reply_to(body.content)  # a real app calls its model here
        scope = await store.scope()
        # the back end writes for the member: its store reaches only their own threads, and
        # the question and the answer land together (or, over the plan's quota, neither does)
        backend = state["service"].for_member(scope.tenant_id, scope.member_id)
        turn = await backend.messages.record_turn(
            conversation_id, user_content=body.content, assistant_content=answer
        )
        return Turn(question=turn.user, answer=turn.assistant)

    @app.put("/messages/{message_id}/feedback")
    async def rate(store: Caller, message_id: UUID, body: NewRating) -> FeedbackRow:
        return await store.feedback.rate(message_id, body.rating, comment=body.comment)

    return app
