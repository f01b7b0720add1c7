"""A TCP proxy on 127.0.0.1 in front of PostgreSQL that counts round trips and can add
network latency: what the round-trip tests and benchmarks see the client do.

A round trip is counted for every ReadyForQuery ('Z') message the server sends: the server
sends one each time it has answered all the client sent before a Sync (a pipeline's whole
batch is one), so the count does not depend on how the bytes were cut into packets.
With ``delay``, every chunk waits that long in each direction (1 ms of round-trip latency
for ``delay=0.0005``), which is what a database in another building adds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    def __init__(self, upstream: tuple[str, int], delay: float = 0.0) -> None:
        self.upstream, self.delay = upstream, delay
        self.trips = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait()

    @classmethod
    def to(cls, url: str, delay: float = 0.0) -> Proxy:
        """A proxy in front of the server ``url`` names."""
        parts = urlsplit(url)
        return cls((parts.hostname or "127.0.0.1", parts.port or 5432), delay)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _pass(self, chunk: bytes, dst: asyncio.StreamWriter) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        dst.write(chunk)
        await dst.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def forward(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while chunk := await src.read(65536):
                await self._pass(chunk, dst)
            dst.close()

        async def count(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            # every server message is a type byte and a length (no SSL: sslmode=disable)
            pending = bytearray()
            while chunk := await src.read(65536):
                pending += chunk
                while len(pending) >= 5 and len(pending) >= 1 + (size := int.from_bytes(pending[1:5])):
                    self.trips += pending[0] == ord("Z")
                    del pending[: 1 + size]
                await self._pass(chunk, dst)
            dst.close()

        await asyncio.gather(forward(reader, up_writer), count(up_reader, writer), return_exceptions=True)

    def url(self, url: str) -> str:
        """``url`` led through this proxy (without SSL, so its messages can be read)."""
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        query = f"{parts.query}&sslmode=disable" if parts.query else "sslmode=disable"
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}", query=query))

    def during(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """How many round trips ``call(*args, **kwargs)`` took, and what it returned."""
        before = self.trips
        result = call(*args, **kwargs)
        return self.trips - before, result
