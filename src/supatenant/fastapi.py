"""FastAPI integration (``pip install 'supatenant[fastapi]'``): a store per request, acting
as the user whose access token the request carries, and supatenant's errors as HTTP answers.

.. code-block:: python

    app = FastAPI(lifespan=...)            # opens one service AsyncStore for the app
    current_store = StoreDependency(lambda: service, settings.verifier())
    install_error_handlers(app)

    @app.get("/conversations")
    async def conversations(store: AsyncStore = Depends(current_store)) -> ...:
        return (await store.conversations.list()).items

The token is verified (signature, ``exp``, ``aud``, ``iss``) before the store exists; the
tenant is the request's ``X-Tenant-Id`` header, else a claim, else the user's only one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from supatenant._async.store import AsyncStore
from supatenant._sync.store import Store
from supatenant.auth import Identity, TokenVerifier
from supatenant.errors import (
    Conflict,
    InvalidInput,
    InvalidReference,
    InvalidToken,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SupatenantError,
    Unavailable,
    UnitOfWorkEnded,
    Unsupported,
)

S = TypeVar("S", AsyncStore, Store)

_bearer = HTTPBearer(auto_error=False, description="a Supabase access token")

# the status each error answers with; the first class an error is an instance of wins
STATUS_BY_ERROR: tuple[tuple[type[SupatenantError], int], ...] = (
    (InvalidToken, status.HTTP_401_UNAUTHORIZED),
    (QuotaExceeded, status.HTTP_429_TOO_MANY_REQUESTS),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (PermissionDenied, status.HTTP_403_FORBIDDEN),
    (Conflict, status.HTTP_409_CONFLICT),
    (InvalidReference, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidInput, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (Unsupported, status.HTTP_501_NOT_IMPLEMENTED),
    (UnitOfWorkEnded, status.HTTP_500_INTERNAL_SERVER_ERROR),
)


def status_for(error: SupatenantError) -> int:
    for cls, code in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def _unauthorized(detail: str) -> HTTPException:
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=challenge)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class StoreDependency(Generic[S]):
    """A FastAPI dependency giving each request a store acting as its verified user.

    ``service`` returns the app's service-role store (sync or async; opened once, e.g. in the
    lifespan); each request's store shares its pool. ``tenant_header`` names the header that
    picks one of the user's tenants; ``tenant_claim`` (a dotted path such as
    ``app_metadata.tenant_id``) the claim used when the header is absent.
    """

    def __init__(
        self,
        service: Callable[[], S],
        verifier: TokenVerifier,
        *,
        tenant_header: str = "X-Tenant-Id",
        tenant_claim: str | None = None,
    ) -> None:
        self._service: Callable[[], S] = service
        self._verifier = verifier
        self._tenant_header = tenant_header
        self._tenant_claim = tenant_claim

    async def identity(self, credentials: HTTPAuthorizationCredentials | None) -> Identity:
        if credentials is None:
            raise _unauthorized("an access token is required (Authorization: Bearer ...)")
        try:
            # a key-set fetch on a cache miss is blocking I/O: keep it off the event loop
            identity = await run_in_threadpool(self._verifier.verify, credentials.credentials)
        except InvalidToken as e:
            raise _unauthorized(str(e)) from e
        if identity.role != "authenticated":
            raise _unauthorized("a signed-in user's token is required")
        return identity

    def tenant(self, request: Request, identity: Identity) -> UUID | None:
        raw = request.headers.get(self._tenant_header)
        if raw is None and self._tenant_claim is not None:
            raw = _claim(identity.claims, self._tenant_claim)
        if raw is None:
            return None
        try:
            return UUID(str(raw))
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{self._tenant_header} is not a tenant id"
            ) from None

    async def __call__(self, request: Request) -> S:
        identity = await self.identity(await _bearer(request))
        return self._service().as_identity(identity, tenant_id=self.tenant(request, identity))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`SupatenantError` with its HTTP status and ``{"detail", "error"}``
    (the class name); for :class:`InvalidInput` also ``errors``: the fields at fault."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SupatenantError)
        body: dict[str, Any] = {"detail": str(exc), "error": type(exc).__name__}
        details = getattr(exc, "details", None)
        if details:
            body["errors"] = details
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, InvalidToken) else None
        return JSONResponse(body, status_code=status_for(exc), headers=headers)

    app.add_exception_handler(SupatenantError, handle)
