"""Seed a Supabase project through its APIs, with the service role key.

Members are created through the Auth admin API with their planned id and a password from
:class:`Passwords` (random, or derived from a secret; never from the public seed), so they
can sign in; rows go through PostgREST. PostgREST runs each request in its own transaction,
so a tenant is not one transaction here. Instead every write can be repeated: rows are sent
with ``resolution=ignore-duplicates``; a conversation's messages travel in one request and
are sent only while the conversation has none; a tenant's usage is one call of
``increment_usage_batch``, written last, and its presence marks the tenant complete.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import httpx
from postgrest import APIError, ReturnMethod
from supabase import Client
from supabase_auth.errors import AuthError
from supabase_auth.types import AdminUserAttributes

from supatenant.errors import SetupError, Unavailable, database_error
from supatenant.seeding.load import COLUMNS, Plan, one_by_one, refuse_conflicts
from supatenant.seeding.plan import TenantRows

BATCH = 500  # rows per request
PAGE = 1000  # auth users per page when listing
MISSING_TABLE = {"PGRST205", "42P01"}

T = TypeVar("T")

SECRET_ENV = "SUPATENANT_SEED_PASSWORD_SECRET"
MIN_SECRET = 16  # characters


class Passwords:
    """The passwords of members created through the Auth admin API. They are not part of the
    plan: the seed number is public, so anything derived from it alone is too.

    With ``secret``, each password is an HMAC-SHA256 of the member's email keyed with it: the
    same on every run with the same secret, and nothing to anyone without it. Without, each is
    random (``secrets``), known only to the run that created the member (``issued``).
    """

    def __init__(self, secret: str | None = None) -> None:
        if secret is not None and len(secret) < MIN_SECRET:
            raise ValueError(
                f"a password secret needs at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)"
            )
        self._key = secret.encode() if secret else None
        self.issued: dict[str, str] = {}  # email -> password of each member created by this run

    @property
    def derived(self) -> bool:
        """Whether the passwords come from a secret (and so are the same on every run)."""
        return self._key is not None

    def issue(self, email: str) -> str:
        """The password for a member created now."""
        password = self._derive(email) if self._key else "Seed-" + secrets.token_hex(16)
        self.issued[email] = password
        return password

    def known(self, email: str) -> str | None:
        """A member's password, if this run knows it: derived from the secret, or issued now."""
        return self._derive(email) if self._key else self.issued.get(email)

    def _derive(self, email: str) -> str:
        assert self._key is not None
        digest = hmac.new(self._key, f"supatenant-seed-password:{email}".encode(), hashlib.sha256)
        return "Seed-" + digest.hexdigest()[:32]


def _json(value: Any) -> Any:
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{c: _json(row[c]) for c in COLUMNS[table]} for row in rows]


def _chunks(rows: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def connect(url: str, service_role_key: str) -> Client:
    """A client for ``url`` on an HTTP client of its own: bulk writes get a minute each."""
    from supabase import SupabaseException, create_client
    from supabase.lib.client_options import SyncClientOptions

    http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
    try:
        return create_client(url, service_role_key, SyncClientOptions(httpx_client=http))
    except SupabaseException as e:
        raise SetupError(f"cannot use {url!r} as a Supabase project: {e.message}") from e


class ApiTarget:
    """A Supabase project reached with its URL and service role key."""

    def __init__(self, client: Client, passwords: Passwords | None = None) -> None:
        self.client = client
        self.rest = client.postgrest
        self.passwords = passwords or Passwords()
        self.auth_ids: dict[str, str] = {}  # email -> id of the project's auth users

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except APIError as e:
            if e.code in MISSING_TABLE:
                raise SetupError("the project has no supatenant schema: run `supabase db push` first") from e
            raise database_error(e.message or str(e), e.code, what) from e
        except AuthError as e:
            raise SetupError(f"{what}: the Auth admin API refused: {e.message}") from e
        except httpx.HTTPError as e:
            raise Unavailable(f"{what}: the project could not be reached: {e}") from e

    def _execute(self, what: str, builder: Any) -> Any:
        """Send one PostgREST request; its rows (none for ``return=minimal``) or a function's value."""
        with self._errors(what):
            return builder.execute().data

    def _admin(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Auth admin API call."""
        with self._errors(what):
            return call(*args, **kwargs)

    def check(self, heads: list[TenantRows]) -> None:
        # the first request fails fast: no retries while finding out whether the project is there
        self._execute("reading tenants", self.rest.table("tenants").select("id").limit(1).retry(False))
        slugs = [h.tenant["slug"] for h in heads]
        for chunk in _chunks(slugs, 100):
            found = self._execute(
                "reading tenants", self.rest.table("tenants").select("id,slug").in_("slug", chunk)
            )
            refuse_conflicts(heads, tenants=[(row["slug"], row["id"]) for row in found])
        self.check_members(heads)

    def check_members(self, heads: list[TenantRows]) -> None:
        """Refuse when an auth user holds a planned email under another id."""
        self.auth_ids = self._auth_users()
        refuse_conflicts(heads, auth_users=self.auth_ids.items())

    def _auth_users(self) -> dict[str, str]:
        found: dict[str, str] = {}
        page = 1
        while True:
            users = self._admin("listing auth users", self.client.auth.admin.list_users, page, PAGE)
            found |= {u.email: u.id for u in users if u.email}
            if len(users) < PAGE:
                return found
            page += 1

    def complete(self, heads: list[TenantRows]) -> set[int]:
        """The tenants that are there with their usage, which is written last."""
        return {n for n, head in enumerate(heads) if self._complete(head, usage_planned=True)}

    def _complete(self, rows: TenantRows, usage_planned: bool) -> bool:
        tenant_id = str(rows.tenant["id"])
        if not self._execute("reading tenants", self.rest.table("tenants").select("id").eq("id", tenant_id)):
            return False
        usage = self.rest.table("usage_metrics").select("tenant_id").eq("tenant_id", tenant_id).limit(1)
        return not usage_planned or bool(self._execute("reading usage", usage))

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        for chunk in _chunks(_rows(table, rows), BATCH):
            upsert = self.rest.table(table).upsert(
                chunk, ignore_duplicates=True, returning=ReturnMethod.minimal
            )
            self._execute(f"writing {table}", upsert)

    def create_members(self, rows: TenantRows) -> None:
        """The tenant's auth users, with their planned ids and passwords, email confirmed."""
        for user in rows.auth_users:
            if user["email"] in self.auth_ids:
                continue
            attributes: AdminUserAttributes = {
                "id": str(user["id"]),
                "email": user["email"],
                "password": self.passwords.issue(user["email"]),
                "email_confirm": True,
                "user_metadata": {"seeded": True},
            }
            created = self._admin(
                f"creating auth user {user['email']}", self.client.auth.admin.create_user, attributes
            )
            self.auth_ids[user["email"]] = created.user.id

    def _messages(self, rows: TenantRows) -> None:
        """Each conversation's messages in one request, sent only while it has none.

        The ``messages_count`` trigger counts every message it sees, so the conversations
        go in with no count and the trigger brings them to the planned one.
        """
        by_conversation: dict[Any, list[dict[str, Any]]] = {}
        for message in rows.messages:
            by_conversation.setdefault(message["conversation_id"], []).append(message)
        for chunk in _chunks(rows.conversations, 100):
            self._insert("conversations", [c | {"message_count": 0, "last_message_at": None} for c in chunk])
            ids = [str(c["id"]) for c in chunk]
            counts = self.rest.table("conversations").select("id,message_count").in_("id", ids)
            started = {
                row["id"] for row in self._execute("reading conversations", counts) if row["message_count"]
            }
            batch: list[dict[str, Any]] = []
            for conversation in chunk:
                if str(conversation["id"]) not in started:
                    batch += by_conversation.get(conversation["id"], [])
                if batch and (len(batch) >= BATCH or conversation is chunk[-1]):
                    insert = self.rest.table("messages").insert(
                        _rows("messages", batch), returning=ReturnMethod.minimal
                    )
                    self._execute("writing messages", insert)
                    batch = []

    def write_tenants(self, seeding: Plan, indexes: list[int]) -> Iterator[int | None]:
        return one_by_one(self.write_tenant, seeding, indexes)

    def write_tenant(self, rows: TenantRows) -> bool:
        if self._complete(rows, usage_planned=bool(rows.usage)):
            return False
        self.create_members(rows)
        self._insert("tenants", [rows.tenant])
        self._insert("users", rows.users)
        self._messages(rows)
        self._insert("feedback", rows.feedback)
        if rows.usage:
            increments = [{k: _json(v) for k, v in u.items() if k != "updated_at"} for u in rows.usage]
            params: Any = {"p_increments": increments}
            call = self.rest.rpc("increment_usage_batch", params)
            self._execute("writing usage", call)
        return True

    def finish(self) -> None:
        self._execute("refreshing summaries", self.rest.rpc("refresh_summaries", {}))
