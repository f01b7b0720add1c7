"""Usage recorders for hot paths: increments are buffered in memory and written in batches.

``record()`` validates and adds to the buffer, summing increments for the same member and
UTC day; nothing waits on the database. The buffer is written through
``increment_usage_batch`` when it holds ``max_keys`` members-days, every ``interval``
seconds, on ``flush()`` and on ``close()`` (also at interpreter exit).

A write that fails is handled per member-day, so one increment that can never be written
(its member deleted meanwhile, a cost the column cannot hold) cannot hold up the rest:

- the database refused it: the batch is halved until the member-days at fault are alone,
  and everything else is written in the same flush. A member-day at fault is retried on its
  own at the next flushes, up to ``max_attempts`` in all; then it is dropped: kept in
  ``dropped``, logged on the ``supatenant.recorder`` logger and passed to ``on_drop`` (called
  by the flush that drops it: the writer thread or task, or ``flush()``'s caller);
- the database could not be reached, or refused the store itself (``PermissionDenied``: a
  recorder needs a service-role store): no member-day is at fault, so everything is kept
  for the next flush and no attempt is counted.

``close()`` raises :class:`UsageNotRecorded` with what was dropped or could still not be
written.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from pydantic import ValidationError

from supatenant._edge import Money, checked, whole_number
from supatenant.errors import DatabaseError, PermissionDenied, SupatenantError, Unsupported
from supatenant.models import UsageIncrement, to_json

if TYPE_CHECKING:
    from supatenant._async.store import AsyncStore
    from supatenant._sync.store import Store

Key = tuple[UUID, UUID, date]

log = logging.getLogger("supatenant.recorder")


class UsageNotRecorded(SupatenantError):
    """Increments a recorder could not write; ``increments`` holds them, summed per member-day.

    ``written`` counts the member-days the same flush did write (a flush writes what it can)."""

    def __init__(self, increments: list[UsageIncrement], cause: BaseException, *, written: int = 0) -> None:
        requests = sum(i.request_count for i in increments)
        super().__init__(
            f"{requests} requests of usage for {len(increments)} member-days not written: {cause}"
        )
        self.increments = increments
        self.written = written


class Dropped(NamedTuple):
    """A member-day's usage a recorder gave up on after ``max_attempts``, and the last error."""

    increment: UsageIncrement
    error: Exception


OnDrop = Callable[[UsageIncrement, Exception], None]


def _key(increment: UsageIncrement) -> Key:
    assert increment.usage_date is not None  # set by the buffer
    return (increment.tenant_id, increment.user_id, increment.usage_date)


def _at_fault(error: Exception) -> bool:
    """Whether the database refused the data (so some member-day is to blame), rather than the
    connection (Unavailable) or the store's role (PermissionDenied)."""
    return isinstance(error, DatabaseError) and not isinstance(error, PermissionDenied)


@dataclass
class _Totals:
    request_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)

    def add(self, i: UsageIncrement) -> None:
        self.request_count += i.request_count
        self.prompt_tokens += i.prompt_tokens
        self.completion_tokens += i.completion_tokens
        self.cost_usd += i.cost_usd


class UsageBuffer:
    """The recorders' shared core: sums per member and day, thread-safe, no I/O."""

    def __init__(self) -> None:
        self._totals: dict[Key, _Totals] = {}
        self._lock = threading.Lock()
        self.recorded = 0  # increments accepted since creation

    def add(self, increment: UsageIncrement) -> int:
        """Add one increment; returns how many member-days are buffered."""
        day = increment.usage_date or datetime.now(UTC).date()
        key = (increment.tenant_id, increment.user_id, day)
        with self._lock:
            self._totals.setdefault(key, _Totals()).add(increment)
            self.recorded += 1
            return len(self._totals)

    def drain(self) -> list[UsageIncrement]:
        with self._lock:
            totals, self._totals = self._totals, {}
        return [
            UsageIncrement(tenant_id=t, user_id=u, usage_date=d, **vars(v)) for (t, u, d), v in totals.items()
        ]

    def restore(self, increments: list[UsageIncrement]) -> None:
        """Put back what a failed write took out, summing with anything recorded since."""
        with self._lock:
            for i in increments:
                self._totals.setdefault(_key(i), _Totals()).add(i)

    def snapshot(self) -> list[UsageIncrement]:
        """What is buffered, left in place."""
        with self._lock:
            totals = list(self._totals.items())
        return [UsageIncrement(tenant_id=t, user_id=u, usage_date=d, **vars(v)) for (t, u, d), v in totals]

    def __len__(self) -> int:
        return len(self._totals)


def _increment(data: dict[str, Any]) -> UsageIncrement:
    try:
        return UsageIncrement.model_validate(data)
    except ValidationError:
        to_json(UsageIncrement, data, "record usage")  # raises InvalidInput, worded as every call's
        raise


class _Flush:
    """One flush's plan, without I/O: the parts to write in turn and what each outcome means.

    Member-days that failed before go one by one, the rest in one call. A part the database
    refuses is halved until the member-days at fault are alone, so all the others are
    written; each of those counts an attempt. A failure no member-day is at fault for keeps
    the part and everything not yet tried for the next flush.
    """

    def __init__(self, recorder: _Recorder, batch: list[UsageIncrement]) -> None:
        self._recorder = recorder
        suspects = [i for i in batch if _key(i) in recorder._attempts]
        rest = [i for i in batch if _key(i) not in recorder._attempts]
        self._todo = [[i] for i in suspects] + ([rest] if rest else [])  # a stack: the rest first
        self.written = 0
        self.unwritten: list[UsageIncrement] = []  # kept for the next flush, or dropped
        self.error: Exception | None = None

    def next(self) -> list[UsageIncrement] | None:
        return self._todo.pop() if self._todo else None

    def written_ok(self, part: list[UsageIncrement]) -> None:
        self.written += len(part)
        for i in part:
            self._recorder._attempts.pop(_key(i), None)

    def failed(self, part: list[UsageIncrement], error: Exception) -> None:
        self.error = error
        if not _at_fault(error):
            kept = part + [i for todo in self._todo for i in todo]
            self._todo.clear()
            self._recorder._buffer.restore(kept)
            self.unwritten += kept
        elif len(part) > 1:
            half = len(part) // 2
            self._todo += [part[half:], part[:half]]
        else:
            self._recorder._attempt_failed(part[0], error)
            self.unwritten += part

    def result(self) -> int:
        """Member-days written; raises UsageNotRecorded when some were not."""
        if self.unwritten:
            assert self.error is not None
            self._recorder.last_error = self.error
            raise UsageNotRecorded(self.unwritten, self.error, written=self.written) from self.error
        return self.written


class _Recorder:
    """What both recorders share: validation, buffering and what a failed write does."""

    _wake: threading.Event | asyncio.Event

    def __init__(self, max_keys: int, interval: float, max_attempts: int, on_drop: OnDrop | None) -> None:
        whole_number("max_attempts", max_attempts, "usage recorder", low=1)
        self._buffer = UsageBuffer()
        self._max_keys = max_keys
        self._interval = interval
        self._max_attempts = max_attempts
        self._on_drop = on_drop
        self._attempts: dict[Key, int] = {}  # member-days that failed, and how often (flush lock held)
        self._closed = False
        self.last_error: BaseException | None = None
        self.dropped: list[Dropped] = []

    @checked
    def record(
        self,
        tenant_id: UUID,
        member_id: UUID,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: Money = 0,
        request_count: int = 1,
        usage_date: date | None = None,
    ) -> None:
        """Buffer one request's usage for a member (their ``users.id``) on ``usage_date`` (today)."""
        data: dict[str, Any] = {
            "tenant_id": tenant_id,
            "user_id": member_id,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": cost_usd,
            "request_count": request_count,
        }
        if usage_date is not None:
            data["usage_date"] = usage_date
        self.add(_increment(data))

    def add(self, increment: UsageIncrement) -> None:
        if self._closed:
            raise SupatenantError("this usage recorder is closed")
        if self._buffer.add(increment) >= self._max_keys:
            self._wake.set()

    @property
    def recorded(self) -> int:
        """Increments accepted since the recorder was made."""
        return self._buffer.recorded

    @property
    def pending(self) -> int:
        """Member-days buffered and not yet written."""
        return len(self._buffer)

    def _attempt_failed(self, increment: UsageIncrement, error: Exception) -> None:
        """A member-day the database refused: back for the next flush, or dropped after the last attempt."""
        key = _key(increment)
        attempts = self._attempts.pop(key, 0) + 1
        where = (
            f"usage of member {key[1]} of tenant {key[0]} on {key[2]} ({increment.request_count} requests)"
        )
        if attempts < self._max_attempts:
            self._attempts[key] = attempts
            self._buffer.restore([increment])
            log.warning("%s not written, attempt %d of %d: %s", where, attempts, self._max_attempts, error)
            return
        self.dropped.append(Dropped(increment, error))
        log.error("%s dropped after %d attempts: %s", where, attempts, error)
        if self._on_drop is not None:
            try:
                self._on_drop(increment, error)
            except Exception:
                log.exception("on_drop failed for %s", where)

    def _unwritten(self) -> UsageNotRecorded | None:
        """What a closed recorder could not write: dropped, or still buffered."""
        lost = [d.increment for d in self.dropped] + self._buffer.snapshot()
        if not lost:
            return None
        cause = self.last_error or (self.dropped[-1].error if self.dropped else None)
        return UsageNotRecorded(lost, cause or SupatenantError("the recorder closed"))


class UsageRecorder(_Recorder):
    """Buffers usage for a service-role ``Store`` and writes it from a background thread."""

    _wake: threading.Event

    def __init__(
        self,
        store: Store,
        *,
        max_keys: int = 1000,
        interval: float = 1.0,
        max_attempts: int = 3,
        on_drop: OnDrop | None = None,
    ) -> None:
        super().__init__(max_keys, interval, max_attempts, on_drop)
        self._store = store
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supatenant-usage", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def flush(self) -> int:
        """Write everything buffered now; returns member-days written. Raises UsageNotRecorded
        when some could not be written (the rest are written all the same)."""
        with self._flush_lock:
            flush = _Flush(self, self._buffer.drain())
            while (part := flush.next()) is not None:
                try:
                    self._store.usage.increment_many(part)
                except Exception as e:
                    flush.failed(part, e)
                else:
                    flush.written_ok(part)
            return flush.result()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            # a failed batch stays in the buffer and in last_error; the next round retries it
            with contextlib.suppress(UsageNotRecorded):
                self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left; raises UsageNotRecorded with what was
        dropped or could still not be written."""
        if self._closed:
            return
        atexit.unregister(self.close)
        self._closed = True
        self._wake.set()
        self._thread.join()
        with contextlib.suppress(UsageNotRecorded):
            self.flush()
        if (unwritten := self._unwritten()) is not None:
            raise unwritten

    def __enter__(self) -> UsageRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncUsageRecorder(_Recorder):
    """Buffers usage for a service-role ``AsyncStore`` and writes it from a task on the running loop."""

    _wake: asyncio.Event

    def __init__(
        self,
        store: AsyncStore,
        *,
        max_keys: int = 1000,
        interval: float = 1.0,
        max_attempts: int = 3,
        on_drop: OnDrop | None = None,
    ) -> None:
        super().__init__(max_keys, interval, max_attempts, on_drop)
        self._store = store
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise Unsupported("an AsyncUsageRecorder runs on an event loop: make it in async code") from None
        self._task = loop.create_task(self._run())

    async def flush(self) -> int:
        async with self._flush_lock:
            flush = _Flush(self, self._buffer.drain())
            while (part := flush.next()) is not None:
                try:
                    await self._store.usage.increment_many(part)
                except Exception as e:
                    flush.failed(part, e)
                else:
                    flush.written_ok(part)
            return flush.result()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            with contextlib.suppress(UsageNotRecorded):
                await self.flush()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        await self._task
        with contextlib.suppress(UsageNotRecorded):
            await self.flush()
        if (unwritten := self._unwritten()) is not None:
            raise unwritten

    async def __aenter__(self) -> AsyncUsageRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
