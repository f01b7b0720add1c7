"""The store: one object per caller, holding a backend and the repositories that use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from supatenant._async.export import AsyncExport
from supatenant._async.postgres import AsyncPostgresBackend, open_pool
from supatenant._async.repositories.conversations import AsyncConversations
from supatenant._async.repositories.feedback import AsyncFeedback
from supatenant._async.repositories.governance import AsyncGovernance
from supatenant._async.repositories.members import AsyncMembers
from supatenant._async.repositories.messages import AsyncMessages
from supatenant._async.repositories.tenants import AsyncTenants
from supatenant._async.repositories.usage import AsyncUsage
from supatenant._edge import check_public_methods, invalid
from supatenant.auth import Identity, TokenVerifier, token_subject
from supatenant.errors import FieldError, InvalidInput, NotFound, Unsupported
from supatenant.models import AcceptInvitationArgs, Member, Membership, to_json
from supatenant.ops import CALLER_MEMBER, CALLER_TENANT, Call, Lookup, Op, Result
from supatenant.results import Scope
from supatenant.settings import PoolOptions, Settings

if TYPE_CHECKING:
    from supabase import AsyncClient as AsyncSupabaseClient
else:
    # supabase-py is an extra: at run time the client is checked in from_supabase, once
    # the SDK is imported; type checkers see the SDK's class
    AsyncSupabaseClient = Any


class AsyncBackend(Protocol):
    folds_lookup: bool  # runs a membership lookup in the same round trip as the call needing it

    async def run(self, op: Any, what: str, lookup: Lookup | None = None) -> Result: ...
    def unit_of_work(self) -> AbstractAsyncContextManager[Any]: ...
    async def commit(self) -> None: ...
    async def close(self) -> None: ...


# what a store's operations name while it does not know its membership (see _op_scope)
_CALLER = Scope(CALLER_TENANT, CALLER_MEMBER)


@check_public_methods
class AsyncStore:
    """Repositories over one backend, acting as one caller. RLS decides what each call may do.

    Open one with :meth:`connect` (psycopg) or :meth:`from_supabase` (supabase-py).
    """

    def __init__(
        self,
        backend: AsyncBackend,
        *,
        auth_user_id: UUID | None = None,
        tenant_id: UUID | None = None,
        scope: Scope | None = None,
        owns_backend: bool = True,
        for_member: bool = False,
    ) -> None:
        self.backend = backend
        self._auth_user_id = auth_user_id
        self._tenant_id = tenant_id
        self._scope = scope
        self._for_member = for_member
        self._me: Member | None = None
        self._lookup: Lookup | None = None  # set once operations name the caller (see _op_scope)
        self._owns_backend = owns_backend
        self.tenants = AsyncTenants(self)
        self.members = AsyncMembers(self)
        self.conversations = AsyncConversations(self)
        self.messages = AsyncMessages(self)
        self.feedback = AsyncFeedback(self)
        self.usage = AsyncUsage(self)
        self.governance = AsyncGovernance(self)
        self.export = AsyncExport(self)

    @classmethod
    async def connect(
        cls,
        dsn: str | None = None,
        *,
        identity: Identity | None = None,
        auth_user_id: UUID | None = None,
        service_role: bool = False,
        tenant_id: UUID | None = None,
        pool: PoolOptions | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
    ) -> AsyncStore:
        """A store on a psycopg pool to ``dsn`` (default: ``DATABASE_URL``).

        It acts as ``identity`` (a verified token's, say: every claim reaches
        ``auth.jwt()``), else as the Supabase Auth user ``auth_user_id``, else as the service
        role when ``service_role``, else as ``anon``. ``tenant_id`` picks the membership when
        the user belongs to several tenants; ``pool`` sets the pool's sizes, timeouts and
        Supabase-pooler mode (``min_size``/``max_size`` override its sizes).
        """
        given = {"identity": identity is not None, "auth_user_id": auth_user_id is not None}
        chosen = [name for name, on in {**given, "service_role": service_role}.items() if on]
        if len(chosen) > 1:
            message = "act as one of: an identity, a user, the service role"
            problems = [FieldError(field=name, message=message, type="exclusive") for name in chosen]
            raise invalid("connect", problems)
        if identity is None:
            identity = (
                Identity.user(auth_user_id)
                if auth_user_id is not None
                else Identity.service()
                if service_role
                else Identity.anon()
            )
        url = dsn if dsn is not None else Settings.from_env().require_database_url()
        options = pool or PoolOptions()
        options = replace(
            options,
            min_size=options.min_size if min_size is None else min_size,
            max_size=options.max_size if max_size is None else max_size,
        )
        opened = await open_pool(url, options)
        backend = AsyncPostgresBackend(opened, identity)
        return cls(backend, auth_user_id=identity.auth_user_id, tenant_id=tenant_id)

    @classmethod
    async def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        identity: Identity | None = None,
        service_role: bool = False,
        tenant_id: UUID | None = None,
    ) -> AsyncStore:
        """A psycopg store configured by ``settings`` (default: read from the environment)."""
        settings = settings or Settings.from_env()
        return await cls.connect(
            settings.require_database_url(),
            identity=identity,
            service_role=service_role,
            tenant_id=tenant_id,
            pool=settings.pool,
        )

    @classmethod
    def from_supabase(
        cls,
        client: AsyncSupabaseClient,
        *,
        access_token: str | None = None,
        tenant_id: UUID | None = None,
        verifier: TokenVerifier | None = None,
    ) -> AsyncStore:
        """A store on a supabase-py client. With ``access_token`` (a signed-in user's JWT) every
        request carries it and RLS applies as that user; without, the client's key is used
        (the service role key for back-end jobs).

        A token that is not a JWT raises :class:`InvalidToken` here rather than turning into
        an anonymous caller; with ``verifier`` the token is also verified (signature, expiry,
        audience, issuer) before any request is sent.

        PostgREST cannot chain requests: the user's membership is looked up in a request of
        its own, before the first call that needs it (two requests, then one per call).
        """
        # imported here: supabase-py (the `supabase` extra) costs psycopg-only apps nothing
        try:
            from supabase import AsyncClient

            from supatenant._async.supabase import AsyncSupabaseBackend, rest_client
        except ImportError as e:
            raise Unsupported(
                f"a supabase-py store needs the SDK: pip install 'supatenant[supabase]' ({e})"
            ) from e
        if not isinstance(client, AsyncClient):
            problem = FieldError(
                field="client",
                message=f"a supabase-py client (create_client's), not {type(client).__name__}",
                type="is_instance_of",
            )
            raise invalid("from_supabase", [problem])

        user = None
        if access_token is not None:
            found = verifier.verify(access_token) if verifier is not None else None
            user = found.auth_user_id if found is not None else token_subject(access_token)
        backend = AsyncSupabaseBackend(rest_client(client, access_token))
        return cls(backend, auth_user_id=user, tenant_id=tenant_id)

    def as_identity(self, identity: Identity, *, tenant_id: UUID | None = None) -> AsyncStore:
        """A store acting as ``identity`` (a verified token's, with all its claims) on the same
        pool: a store per request; service stores only."""
        return self._with_identity(identity, identity.auth_user_id, tenant_id)

    def as_user(self, auth_user_id: UUID, *, tenant_id: UUID | None = None) -> AsyncStore:
        """A store for a user on the same pool (one pool, a store per request); service stores only.

        Its first call looks the user's membership up in the same round trip (see
        ``_op_scope``): no round trip of its own."""
        return self._with_identity(Identity.user(auth_user_id), auth_user_id, tenant_id)

    def as_service(self) -> AsyncStore:
        """The service role on the same pool; service stores only."""
        return self._with_identity(Identity.service(), None, None)

    def _acts_for_others(self, what: str) -> None:
        """Only the service role may act as someone else: a store acting as a user (or anon)
        never turns into another user, the service role, or a back end for a member."""
        as_user = self._auth_user_id is not None
        if as_user or (
            isinstance(self.backend, AsyncPostgresBackend) and self.backend.identity.role != "service_role"
        ):
            raise Unsupported(f"{what}: only a service-role store acts for others")

    def _with_identity(self, identity: Identity, user: UUID | None, tenant_id: UUID | None) -> AsyncStore:
        if not isinstance(self.backend, AsyncPostgresBackend):
            raise Unsupported(
                "a supabase store acts as its token: use Store.from_supabase(client, access_token=...)"
            )
        self._acts_for_others("switch identity")
        return type(self)(
            self.backend.with_identity(identity), auth_user_id=user, tenant_id=tenant_id, owns_backend=False
        )

    def for_member(self, tenant_id: UUID, member_id: UUID) -> AsyncStore:
        """The same caller (a service-role back end), working for one membership: new rows are
        theirs, and conversations, their messages and feedback are that member's own only, so
        a conversation id taken from a request cannot reach a colleague's thread."""
        self._acts_for_others("work for a member")
        return type(self)(
            self.backend,
            auth_user_id=self._auth_user_id,
            scope=Scope(tenant_id, member_id),
            owns_backend=False,
            for_member=True,
        )

    @property
    def acts_as_user(self) -> bool:
        """Whether this store acts as a signed-in user (a member), not a service role or anon."""
        return self._auth_user_id is not None

    @property
    def acting_for(self) -> UUID | None:
        """The member a :meth:`for_member` store works for; None for any other store."""
        return self._scope.member_id if self._for_member and self._scope is not None else None

    async def me(self) -> Member:
        """The caller's active membership (in ``tenant_id`` when the store was given one)."""
        if self._me is not None:
            return self._me
        lookup = self._membership()
        rows = (await self.backend.run(lookup.select(), "your membership")).rows
        if refused := lookup.refusal(rows):
            raise refused
        return self._remember(rows[0])

    def _membership(self) -> Lookup:
        if self._auth_user_id is None:
            raise InvalidInput("this store acts as no user: use for_member(tenant_id, member_id)")
        return Lookup(self._auth_user_id, self._tenant_id, tuple(Member.model_fields))

    def _remember(self, row: dict[str, Any]) -> Member:
        self._me = Member.model_validate(row)
        self._scope = Scope(self._me.tenant_id, self._me.id)
        return self._me

    async def _op_scope(self) -> Scope:
        """The scope that repositories write into operations. A user's store that does not know
        its membership yet, on a backend that folds the lookup into the call (psycopg), gets
        :data:`~supatenant.ops.CALLER_TENANT` and :data:`~supatenant.ops.CALLER_MEMBER`, and
        :meth:`_run` sends the lookup with the operation: one round trip, not two. Elsewhere
        (supabase-py) the membership is looked up first, in a request of its own."""
        if self._scope is not None:
            return self._scope
        if self._auth_user_id is not None and self.backend.folds_lookup:
            self._lookup = self._membership()
            return _CALLER
        return await self.scope()

    async def _run(self, op: Op, what: str) -> Result:
        """Run ``op``, with the membership lookup when operations may name the caller."""
        if self._lookup is None:
            return await self.backend.run(op, what)
        result = await self.backend.run(op, what, self._lookup)
        if result.member is not None and self._me is None:
            self._remember(result.member)
        return result

    def known_tenant(self) -> UUID | None:
        """The tenant this store acts in, when known without asking the database."""
        if self._scope is not None:
            return self._scope.tenant_id
        if self._me is not None:
            return self._me.tenant_id
        return self._tenant_id

    async def memberships(self) -> list[Membership]:
        """The signed-in user's active memberships in active tenants, to let them pick one
        (then ``as_user(..., tenant_id=...)`` or ``from_supabase(..., tenant_id=...)``)."""
        rows = (await self.backend.run(Call("my_memberships"), "your memberships")).rows
        return [Membership.model_validate(row) for row in rows]

    async def accept_invitation(self, token: str) -> Member:
        """Join the tenant that invited the signed-in user; ``token`` is the invitation's.

        The invitation must be unused, unexpired and addressed to this user's email."""
        what = "accept invitation"
        args = to_json(AcceptInvitationArgs, {"p_token": token}, what)
        rows = (await self.backend.run(Call("accept_invitation", args, "row"), what)).rows
        if not rows:
            raise NotFound(f"{what}: no membership returned", "PGRST116")
        return Member.model_validate(rows[0])

    async def scope(self) -> Scope:
        if self._scope is None:
            me = await self.me()
            self._scope = Scope(me.tenant_id, me.id)
        return self._scope

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncUnitOfWork]:
        """Several calls in one transaction, rolled back at the end unless ``commit()`` was called.

        Only the psycopg backend can do this: PostgREST runs each request on its own.
        """
        async with self.backend.unit_of_work() as backend:
            uow = AsyncUnitOfWork(
                backend, auth_user_id=self._auth_user_id, tenant_id=self._tenant_id, owns_backend=False
            )
            uow._scope = self._scope
            uow._me = self._me
            uow._for_member = self._for_member
            yield uow

    async def close(self) -> None:
        if self._owns_backend:
            await self.backend.close()

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


@check_public_methods
class AsyncUnitOfWork(AsyncStore):
    """A store whose calls share one transaction."""

    async def commit(self) -> None:
        await self.backend.commit()
