"""The sync API is generated from the async one; the committed copy must match."""

from __future__ import annotations

from supatenant.codegen import unasync


def test_committed_sync_package_is_what_the_async_source_generates() -> None:
    assert unasync.main(["--check"]) == 0, "run `python -m supatenant.codegen.unasync` and commit"


def test_conversion_drops_async_and_renames_twins_but_keeps_comments() -> None:
    source = (
        "from contextlib import asynccontextmanager\n"
        "class AsyncThing(AsyncBase):  # keep me\n"
        "    async def go(self) -> AsyncIterator[int]:\n"
        "        async with self.pool.connection() as conn:\n"
        "            await conn.execute('select 1')\n"
        "        await self.pool.aclose()\n"
    )
    assert unasync.convert(source) == unasync.HEADER + (
        "from contextlib import contextmanager\n"
        "class Thing(Base):  # keep me\n"
        "    def go(self) -> Iterator[int]:\n"
        "        with self.pool.connection() as conn:\n"
        "            conn.execute('select 1')\n"
        "        self.pool.close()\n"
    )
