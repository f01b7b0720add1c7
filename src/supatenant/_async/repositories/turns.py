"""Assistant turns: a reply streamed into its message (opened, appended to in buffered chunks,
closed once) and a whole turn recorded in one call. The back end writes them (service role)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from supatenant._edge import MAX_CONTENT_BYTES, Money, exact_money, invalid, whole_number
from supatenant.errors import FieldError, InvalidInput, MessageClosed, SupatenantError
from supatenant.models import (
    AppendMessageTextArgs,
    ClosedStatus,
    CloseMessageArgs,
    Message,
    OpenMessageArgs,
    to_json,
)
from supatenant.ops import Call

if TYPE_CHECKING:
    from supatenant._async.repositories.messages import AsyncMessages

# messages.content holds at most this many bytes (a check constraint)


@dataclass(frozen=True)
class Turn:
    """A user turn and the assistant's reply, written together by ``record_turn``."""

    user: Message
    assistant: Message


def usage_args(
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cost_usd: Decimal | str | int | None,
    latency_ms: int | None,
    what: str = "usage",
) -> dict[str, Any]:
    """The usage of a reply as function arguments (``p_...``), checked before any I/O: whole
    non-negative numbers of tokens and milliseconds, a cost the columns hold exactly (at most
    6 decimal places; a float is refused, it has no exact decimal value)."""
    out: dict[str, Any] = {}
    for name, value in (
        ("prompt_tokens", prompt_tokens),
        ("completion_tokens", completion_tokens),
        ("latency_ms", latency_ms),
    ):
        if value is not None:
            out[f"p_{name}"] = whole_number(name, value, what)
    if cost_usd is not None:
        out["p_cost_usd"] = exact_money(cost_usd)
    return out


class AsyncMessageStream:
    """A reply being written: ``append`` text as it arrives; the text reaches the database in
    buffered chunks (every ``flush_bytes`` bytes or ``flush_seconds`` seconds, whichever comes
    first), so readers see it grow and a long reply costs a bounded number of round trips.

    As a context manager it opens the message on entry and, on exit, completes it when the
    block succeeded (with the usage given to :meth:`set_usage`) or fails it when it raised.
    """

    def __init__(
        self,
        repo: AsyncMessages,
        open_args: dict[str, Any],
        *,
        flush_bytes: int = 8192,
        flush_seconds: float = 0.25,
    ) -> None:
        what = "stream a message"
        whole_number("flush_bytes", flush_bytes, what, low=1, high=2**63 - 1)
        if isinstance(flush_seconds, bool) or not isinstance(flush_seconds, int | float):
            problem = FieldError(
                field="flush_seconds",
                message=f"a number of seconds, not {flush_seconds!r}",
                type="float_type",
            )
            raise invalid(what, [problem])
        if not flush_seconds >= 0:  # NaN too
            problem = FieldError(
                field="flush_seconds", message=f"at least 0, not {flush_seconds!r}", type="greater_than_equal"
            )
            raise invalid(what, [problem])
        self._repo = repo
        self._open_args = open_args
        self._flush_bytes = flush_bytes
        self._flush_seconds = flush_seconds
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._stored_bytes = 0
        self._last_flush = 0.0
        self._started = 0.0
        self._usage: dict[str, Any] = {}
        self.message: Message | None = None  # as opened, then as closed
        self.closed = False
        self.round_trips = 0  # calls made to the database, for the curious and the benchmarks

    @property
    def id(self) -> UUID:
        return self._opened().id

    @property
    def result(self) -> Message:
        """The message as it stands (after the block: as closed); InvalidInput before it opens."""
        return self._opened()

    def _opened(self) -> Message:
        if self.message is None:
            raise InvalidInput("the stream is not open: use it as a context manager, or call open()")
        return self.message

    async def _call(self, function: str, args: dict[str, Any], returns: Any, what: str) -> Any:
        self.round_trips += 1
        # a conversation (or message) missing or not the member's: NotFound, as everywhere
        return await self._repo._run_into(Call(function, args, returns), what)

    async def open(self) -> Message:
        """Open the message as ``streaming`` (the context manager does this on entry)."""
        what = "open a streamed message"
        given = {"p_tenant_id": (await self._repo._scope()).tenant_id, **self._open_args}
        args = to_json(OpenMessageArgs, given, what)
        result = await self._call("open_message", args, "row", what)
        self.message = Message.model_validate(result.rows[0])
        self._stored_bytes = len(self.message.content.encode())
        self._started = self._last_flush = time.monotonic()
        return self.message

    async def append(self, text: str) -> None:
        """Add text to the reply; refused (InvalidInput, nothing kept) when the message would
        pass its size limit, and (MessageClosed) once the message is closed."""
        message = self._opened()
        if self.closed:
            raise MessageClosed(f"message {message.id} is closed and takes no more text", "STC01")
        if not isinstance(text, str):
            problem = FieldError(field="text", message=f"text, not {type(text).__name__}", type="string_type")
            raise invalid(f"append to message {message.id}", [problem])
        size = len(text.encode())
        if self._stored_bytes + self._pending_bytes + size > MAX_CONTENT_BYTES:
            problem = FieldError(
                field="text",
                message=f"the message would pass {MAX_CONTENT_BYTES} bytes of text ({size} more bytes)",
                type="too_long",
            )
            raise invalid(f"append to message {message.id}", [problem])
        self._pending.append(text)
        self._pending_bytes += size
        if (
            self._pending_bytes >= self._flush_bytes
            or time.monotonic() - self._last_flush >= self._flush_seconds
        ):
            await self.flush()

    async def flush(self) -> None:
        """Write the buffered text now (one round trip; none when nothing is buffered)."""
        message = self._opened()
        if not self._pending:
            return
        text = "".join(self._pending)
        args = {"p_tenant_id": message.tenant_id, "p_message_id": message.id, "p_text": text}
        if (member := self._repo.member_for_turns()) is not None:
            args["p_member_id"] = member
        what = f"append to message {message.id}"
        result = await self._call(
            "append_message_text", to_json(AppendMessageTextArgs, args, what), "value", what
        )
        self._pending.clear()
        self._pending_bytes = 0
        self._stored_bytes = int(result.value)
        self._last_flush = time.monotonic()

    def set_usage(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost_usd: Money | None = None,
        latency_ms: int | None = None,
    ) -> None:
        """The reply's usage, recorded when the stream closes (checked now, before any I/O)."""
        self._usage = usage_args(prompt_tokens, completion_tokens, cost_usd, latency_ms, "set usage")

    async def complete(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost_usd: Money | None = None,
        latency_ms: int | None = None,
    ) -> Message:
        """Close as complete, the buffered text going with it (one round trip); usage given
        here replaces :meth:`set_usage`'s."""
        usage = (prompt_tokens, completion_tokens, cost_usd, latency_ms)
        if any(value is not None for value in usage):
            self.set_usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost_usd,
                latency_ms=latency_ms,
            )
        return await self._close("complete", None)

    async def fail(self, reason: str) -> Message:
        """Close as failed: the text so far is kept, buffered text included (unless the
        database refuses it, a chunk over the size limit say: then it is dropped)."""
        return await self._close_keeping_what_fits("failed", reason)

    async def cancel(self, reason: str = "cancelled") -> Message:
        return await self._close_keeping_what_fits("cancelled", reason)

    async def _close_keeping_what_fits(self, status: ClosedStatus, reason: str) -> Message:
        try:
            return await self._close(status, reason)
        except InvalidInput:
            if not self._pending:
                raise
            self._pending.clear()
            self._pending_bytes = 0
            return await self._close(status, reason)

    async def _close(self, status: ClosedStatus, reason: str | None) -> Message:
        message = self._opened()
        usage = dict(self._usage)
        usage.setdefault("p_latency_ms", min(int((time.monotonic() - self._started) * 1000), 2**31 - 1))
        args = {
            "p_tenant_id": message.tenant_id,
            "p_message_id": message.id,
            "p_status": status,
            "p_reason": reason[:1000] if reason is not None else None,
            **usage,
        }
        if self._pending:
            args["p_text"] = "".join(self._pending)
        if (member := self._repo.member_for_turns()) is not None:
            args["p_member_id"] = member
        what = f"close message {message.id}"
        result = await self._call("close_message", to_json(CloseMessageArgs, args, what), "row", what)
        self._pending.clear()
        self._pending_bytes = 0
        self.message = Message.model_validate(result.rows[0])
        self.closed = True
        return self.message

    async def __aenter__(self) -> AsyncMessageStream:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.closed or self.message is None:
            return
        if exc is None:
            await self.complete()
            return
        # the writer's connection may be gone: the original error says more, and the
        # maintenance job closes the stream once it has been silent long enough
        with contextlib.suppress(SupatenantError):
            await self.fail(f"{type(exc).__name__}: {exc}")
