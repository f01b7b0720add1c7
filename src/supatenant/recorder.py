"""Usage recorders for hot paths: increments are buffered in memory and written in batches.

``record()`` validates and adds to the buffer, summing increments for the same member and
UTC day; nothing waits on the database. The buffer is written through
``increment_usage_batch`` when it holds ``max_keys`` members-days, every ``interval``
seconds, on ``flush()`` and on ``close()`` (also at interpreter exit). A failed write puts
the increments back, so the next flush retries them; ``close()`` raises
:class:`UsageNotRecorded` with whatever could still not be written.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from supatenant.errors import SupatenantError
from supatenant.models import UsageIncrement

if TYPE_CHECKING:
    from supatenant._async.store import AsyncStore
    from supatenant._sync.store import Store

Key = tuple[UUID, UUID, date]


class UsageNotRecorded(SupatenantError):
    """Increments a recorder could not write; ``increments`` holds them, summed."""

    def __init__(self, increments: list[UsageIncrement], cause: BaseException) -> None:
        requests = sum(i.request_count for i in increments)
        super().__init__(
            f"{requests} requests of usage for {len(increments)} member-days not written: {cause}"
        )
        self.increments = increments


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
                assert i.usage_date is not None
                self._totals.setdefault((i.tenant_id, i.user_id, i.usage_date), _Totals()).add(i)

    def __len__(self) -> int:
        return len(self._totals)


def _increment(tenant_id: UUID, user_id: UUID, **amounts: Any) -> UsageIncrement:
    return UsageIncrement.model_validate({"tenant_id": tenant_id, "user_id": user_id, **amounts})


class _Recorder:
    """What both recorders share: validation, buffering and what a failed write does."""

    _wake: threading.Event | asyncio.Event

    def __init__(self, max_keys: int, interval: float) -> None:
        self._buffer = UsageBuffer()
        self._max_keys = max_keys
        self._interval = interval
        self._closed = False
        self.last_error: BaseException | None = None

    def record(self, tenant_id: UUID, user_id: UUID, **amounts: Any) -> None:
        """Buffer one request's usage (``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ...)."""
        self.add(_increment(tenant_id, user_id, **amounts))

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

    def _failed(self, batch: list[UsageIncrement], error: Exception) -> UsageNotRecorded:
        """Put ``batch`` back for the next flush and say what could not be written."""
        self._buffer.restore(batch)
        self.last_error = error
        return UsageNotRecorded(batch, error)


class UsageRecorder(_Recorder):
    """Buffers usage for a service-role ``Store`` and writes it from a background thread."""

    _wake: threading.Event

    def __init__(self, store: Store, *, max_keys: int = 1000, interval: float = 1.0) -> None:
        super().__init__(max_keys, interval)
        self._store = store
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supatenant-usage", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def flush(self) -> int:
        """Write everything buffered now; returns member-days written. Raises UsageNotRecorded."""
        with self._flush_lock:
            batch = self._buffer.drain()
            if not batch:
                return 0
            try:
                self._store.usage.increment_many(batch)
            except Exception as e:
                raise self._failed(batch, e) from e
            return len(batch)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            # a failed batch stays in the buffer and in last_error; the next round retries it
            with contextlib.suppress(UsageNotRecorded):
                self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left; raises UsageNotRecorded if that fails."""
        if self._closed:
            return
        atexit.unregister(self.close)
        self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()

    def __enter__(self) -> UsageRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncUsageRecorder(_Recorder):
    """Buffers usage for a service-role ``AsyncStore`` and writes it from a task on the running loop."""

    _wake: asyncio.Event

    def __init__(self, store: AsyncStore, *, max_keys: int = 1000, interval: float = 1.0) -> None:
        super().__init__(max_keys, interval)
        self._store = store
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> int:
        async with self._flush_lock:
            batch = self._buffer.drain()
            if not batch:
                return 0
            try:
                await self._store.usage.increment_many(batch)
            except Exception as e:
                raise self._failed(batch, e) from e
            return len(batch)

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
        await self.flush()

    async def __aenter__(self) -> AsyncUsageRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
