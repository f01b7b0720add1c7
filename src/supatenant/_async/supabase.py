"""The supabase-py backend: operations become PostgREST requests through the client's own
PostgREST client, with the caller's access token in ``Authorization`` so RLS applies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from postgrest import APIError
from postgrest import AsyncPostgrestClient as AsyncRestClient
from supabase import AsyncClient as AsyncSupabaseClient

from supatenant import _rest
from supatenant.errors import Unavailable, Unsupported, database_error
from supatenant.ops import Lookup, Op, Result


def rest_client(client: AsyncSupabaseClient, access_token: str | None) -> AsyncRestClient:
    """A PostgREST client sharing ``client``'s URL, key, headers and HTTP client.

    With ``access_token`` the requests carry that user's JWT; the shared client is left as it was.
    """
    headers = dict(client.options.headers)
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    return AsyncRestClient(
        str(client.rest_url),
        schema=client.options.schema,
        headers=headers,
        http_client=getattr(client.options, "httpx_client", None),
    )


class AsyncSupabaseBackend:
    # PostgREST runs each request on its own and cannot chain one into the next: a store on
    # this backend looks its caller's membership up in a request of its own, before the call
    folds_lookup = False

    def __init__(self, rest: AsyncRestClient) -> None:
        self.rest = rest

    async def run(self, op: Op, what: str, lookup: Lookup | None = None) -> Result:
        if lookup is not None:
            raise Unsupported(f"{what}: PostgREST cannot run a membership lookup with a request")
        builder: Any = _rest.request(self.rest, op)
        try:
            response = await builder.execute()
        except APIError as e:
            raise database_error(e.message or str(e), e.code, what) from e
        except httpx.HTTPError as e:
            raise Unavailable(f"{what}: the Data API could not be reached: {e}") from e
        rows, value = _rest.result(op, response.data)
        return Result(rows, getattr(response, "count", None), value)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSupabaseBackend]:
        raise Unsupported(
            "PostgREST runs each request in its own transaction: a unit of work needs the psycopg "
            "backend (Store.connect) or a database function"
        )
        yield self  # pragma: no cover - unreachable, makes this a generator

    async def commit(self) -> None:
        raise Unsupported("a unit of work needs the psycopg backend")

    async def close(self) -> None:
        """The supabase client belongs to the caller, who closes it."""
