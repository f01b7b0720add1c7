"""Drive an async store from sync test code, so one test body checks both APIs."""

from __future__ import annotations

import asyncio
from typing import Any

from supatenant import AsyncStore


class Blocking:
    """Drives an async object from sync test code: every coroutine runs to completion on ``loop``."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    result = self._loop.run_until_complete(result)
                return Blocking(result, self._loop) if isinstance(result, AsyncStore) else result

            return call
        if type(value).__module__.startswith("supatenant._async"):
            return Blocking(value, self._loop)
        return value
