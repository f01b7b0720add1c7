"""A verified identity acts with all its claims on the psycopg backend, a store is built from
the environment, and a database that cannot be reached says why at once."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import jwt
import psycopg
import pytest

from supatenant import Store
from supatenant.auth import Identity, TokenVerifier
from supatenant.errors import InvalidToken, PermissionDenied, SetupError, Unavailable, Unsupported
from supatenant.settings import PoolOptions, Settings
from tests.integration.world import World

SECRET = "a-legacy-jwt-secret-of-at-least-32-characters"


def _token(sub: uuid.UUID, **claims: Any) -> str:
    payload = {
        "sub": str(sub),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
        **claims,
    }
    return jwt.encode(payload, SECRET, algorithm="HS256")


def _jwt_seen_by_database(store: Store) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        conn: psycopg.Connection[Any] = uow.backend._conn  # type: ignore[attr-defined]
        row = conn.execute("select auth.jwt() as jwt, auth.uid() as uid").fetchone()
        assert row is not None
        return {"jwt": row["jwt"], "uid": row["uid"]}


def test_a_verified_token_reaches_auth_jwt_whole(db_url: str, world: World) -> None:
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    token = _token(
        m1.auth_id,
        email="m1@example.test",
        aal="aal2",
        session_id="sess-1",
        app_metadata={"provider": "email", "tenant": "A"},
    )
    identity = TokenVerifier(jwt_secret=SECRET).verify(token)
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        store = service.as_identity(identity)
        seen = _jwt_seen_by_database(store)
        assert seen["uid"] == m1.auth_id
        assert seen["jwt"]["email"] == "m1@example.test"
        assert seen["jwt"]["aal"] == "aal2"
        assert seen["jwt"]["app_metadata"] == {"provider": "email", "tenant": "A"}
        assert seen["jwt"]["session_id"] == "sess-1"
        assert store.me().id == m1.member_id  # RLS lets the verified user see their membership
    with Store.connect(db_url, identity=identity, max_size=1) as direct:
        assert _jwt_seen_by_database(direct)["jwt"]["email"] == "m1@example.test"


def test_only_a_service_store_takes_on_an_identity(db_url: str, world: World) -> None:
    m1, m2 = world.actors["m1"], world.actors["m2"]
    assert m1.auth_id is not None
    assert m2.auth_id is not None
    as_m2 = Identity.user(m2.auth_id, {"email": "m2@example.test"})
    with Store.connect(db_url, auth_user_id=m1.auth_id, max_size=1) as member:
        with pytest.raises(Unsupported):
            member.as_identity(as_m2)
        assert member.me().id == m1.member_id


def test_tampered_and_garbage_tokens_are_refused_before_any_call(world: World) -> None:
    from supabase import create_client

    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    client = create_client("http://127.0.0.1:9", "anon-key")
    good = _token(m1.auth_id)
    head, _, sig = good.split(".")
    forged_payload = jwt.utils.base64url_encode(
        f'{{"sub":"{uuid.uuid4()}","role":"authenticated","aud":"authenticated","exp":9999999999}}'.encode()
    ).decode()
    verifier = TokenVerifier(jwt_secret=SECRET)
    assert Store.from_supabase(client, access_token=good, verifier=verifier)._auth_user_id == m1.auth_id
    with pytest.raises(InvalidToken):
        Store.from_supabase(client, access_token=f"{head}.{forged_payload}.{sig}", verifier=verifier)
    with pytest.raises(InvalidToken):
        Store.from_supabase(client, access_token="garbage")


def test_a_store_from_the_environment(db_url: str, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    m1 = world.actors["m1"]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", SECRET)
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    settings = Settings.from_env()
    assert settings.database_url == db_url
    assert SECRET not in repr(settings)
    identity = settings.verifier().verify(_token(m1.auth_id or uuid.uuid4()))
    with Store.from_settings(identity=identity) as store:
        assert store.me().id == m1.member_id
    with Store.connect(max_size=1) as anon, pytest.raises(PermissionDenied):
        anon.tenants.get(world.ids["tenant_A"])
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SetupError, match="DATABASE_URL"):
        Store.connect()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_database_says_why_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        Store.connect(
            f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres",
            service_role=True,
            pool=PoolOptions(timeout=30, connect_timeout=2),
        )
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert "refused" in str(caught.value).lower()
    assert time.monotonic() - started < 25  # not the pool's 30 s of retries


def test_pool_options_pass_through_and_the_pooler_prepares_nothing(db_url: str) -> None:
    pooled = "postgresql://u@db.example.supabase.com:6543/postgres"
    assert PoolOptions().connection_kwargs(pooled)["prepare_threshold"] is None
    assert PoolOptions().connection_kwargs(db_url)["prepare_threshold"] == 5
    assert PoolOptions(pooler=True).connection_kwargs(db_url)["prepare_threshold"] is None
    with pytest.raises(SetupError):
        PoolOptions(min_size=3, max_size=2)
    options = PoolOptions(min_size=0, max_size=2, timeout=3, max_idle=30, max_lifetime=120, pooler=True)
    with Store.connect(db_url, service_role=True, pool=options) as store:
        pool = store.backend.pool  # type: ignore[attr-defined]
        assert (pool.min_size, pool.max_size, pool.timeout, pool.max_idle, pool.max_lifetime) == (
            0,
            2,
            3,
            30,
            120,
        )
        with pool.connection() as conn:
            assert conn.prepare_threshold is None
        store.tenants.list()
