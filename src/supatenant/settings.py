"""Configuration by convention: what a store needs, read from the environment.

``Settings.from_env()`` reads the variables a Supabase project hands out —
``DATABASE_URL``, ``SUPABASE_URL``, ``SUPABASE_ANON_KEY``, ``SUPABASE_SERVICE_ROLE_KEY``,
``SUPABASE_JWT_SECRET`` — so an app configures supatenant the way it configures Supabase.
:class:`PoolOptions` are the psycopg pool's knobs, with a mode for Supabase's
transaction-mode pooler (port 6543), which cannot keep prepared statements.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from supatenant.auth import TokenVerifier
from supatenant.errors import SetupError

POOLER_PORT = 6543  # Supavisor's transaction mode: a connection per transaction, no prepared statements


@dataclass(frozen=True)
class PoolOptions:
    """How the psycopg pool behind a store connects and recycles.

    ``timeout``: seconds a call waits for a free connection; ``connect_timeout``: seconds to
    establish one; ``max_idle``/``max_lifetime``: seconds before an idle or old connection is
    replaced. ``pooler``: the DSN is Supabase's transaction-mode pooler, so statements are
    never prepared; None decides by the port (6543).
    """

    min_size: int = 1
    max_size: int = 10
    timeout: float = 10.0
    connect_timeout: float = 5.0
    max_idle: float = 600.0
    max_lifetime: float = 3600.0
    prepare_threshold: int | None = 5
    pooler: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_size <= self.max_size or self.max_size < 1:
            raise SetupError(f"pool sizes must satisfy 0 <= min_size <= max_size >= 1, not {self}")
        for name in ("timeout", "connect_timeout", "max_idle", "max_lifetime"):
            if getattr(self, name) <= 0:
                raise SetupError(f"{name} must be positive")

    def behind_pooler(self, dsn: str) -> bool:
        if self.pooler is not None:
            return self.pooler
        try:
            return urlsplit(dsn).port == POOLER_PORT
        except ValueError:
            return False

    def connection_kwargs(self, dsn: str) -> dict[str, Any]:
        """Arguments each pooled connection is opened with."""
        return {
            "prepare_threshold": None if self.behind_pooler(dsn) else self.prepare_threshold,
            "connect_timeout": max(1, round(self.connect_timeout)),
        }


@dataclass(frozen=True)
class Settings:
    """Where the database and the Supabase project are, and the secrets to use them."""

    database_url: str | None = None
    supabase_url: str | None = None
    anon_key: str | None = field(default=None, repr=False)
    service_role_key: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    pool: PoolOptions = field(default_factory=PoolOptions)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); empty variables count as unset."""
        env = os.environ if environ is None else environ

        def var(name: str) -> str | None:
            return env.get(name) or None

        settings = cls(
            database_url=var("DATABASE_URL"),
            supabase_url=var("SUPABASE_URL"),
            anon_key=var("SUPABASE_ANON_KEY"),
            service_role_key=var("SUPABASE_SERVICE_ROLE_KEY"),
            jwt_secret=var("SUPABASE_JWT_SECRET"),
        )
        return replace(settings, **overrides)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise SetupError("no database URL: set DATABASE_URL or pass one")
        return self.database_url

    def verifier(self) -> TokenVerifier:
        """A verifier for the project's access tokens: its JWKS when ``supabase_url`` is set,
        and the legacy secret when ``jwt_secret`` is."""
        if self.supabase_url:
            return TokenVerifier.for_project(self.supabase_url, jwt_secret=self.jwt_secret)
        if self.jwt_secret:
            return TokenVerifier(jwt_secret=self.jwt_secret)
        raise SetupError("verifying tokens needs SUPABASE_URL (its signing keys) or SUPABASE_JWT_SECRET")
