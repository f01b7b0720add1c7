"""Attacks on identity, paging and the API edge, by ordinary signed-in users and by
unauthenticated clients of an app built as ``examples/chat_api.py`` shows.

Every test marked ``finding`` is an attack that succeeds today: it fails now and passes once
the hole is closed. Each shows the refusal README promises next to the allowed actor
succeeding with the same call.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from examples.chat_api import create_app
from supatenant import Store
from supatenant.auth import TokenVerifier, token_subject
from supatenant.errors import InvalidInput, InvalidToken, Unsupported
from supatenant.paging import _digest
from supatenant.settings import Settings
from tests.auth_server import ISSUER_PATH, AuthServer
from tests.integration.world import World

SECRET = "the-attack-tests-jwt-secret-of-32-characters"
KID = "key-1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(sub: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {
        "sub": str(sub),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
        **extra,
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture(scope="module")
def project() -> Iterator[AuthServer]:
    server = AuthServer(KID)
    yield server
    server.close()


@pytest.fixture(scope="module")
def jwks_client(db_url: str, project: AuthServer) -> Iterator[TestClient]:
    """The example app configured with the project's JWKS (no legacy secret); server errors
    come back as 500 answers, as a real client sees them."""
    app = create_app(Settings(database_url=db_url, supabase_url=project.url))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def secret_client(db_url: str) -> Iterator[TestClient]:
    """The example app configured with the legacy HS256 secret only."""
    app = create_app(Settings(database_url=db_url, jwt_secret=SECRET))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# --- findings -----------------------------------------------------------------------------


@pytest.mark.finding
def test_finding_a_token_whose_algorithm_does_not_fit_the_projects_key_is_401_not_500(
    jwks_client: TestClient, project: AuthServer, world: World
) -> None:
    """FINDING (medium): an unauthenticated client names the project's (public) key id with
    another asymmetric algorithm (``RS256`` for the ES256 key); PyJWT's TypeError escapes
    ``TokenVerifier.verify`` and every such request is a 500, not a 401."""
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    allowed = jwks_client.get("/me", headers=_bearer(project.token(sub=str(m1.auth_id))))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["id"] == str(m1.member_id)
    header = _b64(json.dumps({"alg": "RS256", "kid": KID, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(m1.auth_id, iss=project.url + ISSUER_PATH)).encode())
    forged = f"{header}.{payload}.{_b64(b'not a signature')}"
    refused = jwks_client.get("/me", headers=_bearer(forged))
    assert refused.status_code == 401, refused.text
    verifier = TokenVerifier.for_project(project.url)
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


@pytest.mark.finding
def test_finding_a_deeply_nested_token_is_401_not_500(secret_client: TestClient, world: World) -> None:
    """FINDING (medium): a 3 KB bearer token whose payload is JSON nested 1,500 deep makes
    ``unverified_claims`` raise RecursionError: an unauthenticated client gets a 500 (the
    same from ``TokenVerifier.verify``, ``token_subject`` and ``Store.from_supabase``)."""
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    good = jwt.encode(_claims(m1.auth_id), SECRET, algorithm="HS256")
    assert secret_client.get("/me", headers=_bearer(good)).status_code == 200
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    nested = f"{header}.{_b64(b'[' * 1500 + b']' * 1500)}.{_b64(b'sig')}"
    refused = secret_client.get("/me", headers=_bearer(nested))
    assert refused.status_code == 401, refused.text
    with pytest.raises(InvalidToken):
        TokenVerifier(jwt_secret=SECRET).verify(nested)
    with pytest.raises(InvalidToken):
        token_subject(nested)


@pytest.mark.finding
def test_finding_deeply_nested_json_arguments_are_invalid_input(db_url: str, world: World) -> None:
    """FINDING (low): ``metadata`` (and ``tool_calls``, tenant ``settings``: any JSON argument)
    nested 600 deep escapes as pydantic's ValueError, 1,200 deep as RecursionError from the
    edge's own text check, and an integer of 5,000 digits as ValueError from psycopg's JSON
    dump: not ``InvalidInput`` (an app passing a client's JSON on answers 500)."""
    m1 = world.actors["m1"]
    assert m1.auth_id is not None
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        member = service.as_user(m1.auth_id)
        before = len(member.conversations.list(limit=1000).items)
        made = member.conversations.create("nested a little", metadata=_nested(20))
        assert made.metadata == _nested(20)
        bad: list[tuple[Any, str]] = [
            (_nested(600), "too_deep"),
            (_nested(1200), "too_deep"),
            ({"n": 10**5000}, "int_too_long"),
            ({"scores": [1.0, float("nan")]}, "finite_number"),
            ({"x": float("inf")}, "finite_number"),
        ]
        for metadata, kind in bad:
            with pytest.raises(InvalidInput) as refused:
                member.conversations.create("nested too far", metadata=metadata)
            assert [d["type"] for d in refused.value.details] == [kind]
            assert refused.value.details[0]["field"].startswith("metadata")
        assert len(member.conversations.list(limit=1000).items) == before + 1


@pytest.mark.finding
def test_finding_a_forged_cursor_with_an_odd_offset_is_read_as_its_instant(db_url: str, world: World) -> None:
    """FINDING (low, closed): the cursor digest is public, so a client forges a well-formed
    cursor whose time has an offset Python accepts and PostgreSQL does not (``+20:00``,
    seconds in the offset). It reached the database and came back as ``RejectedInput``
    with PostgreSQL's message. A cursor's time is now read as the instant it names (in
    UTC), so such a cursor pages like any other and nothing but InvalidInput naming the
    argument can come of a cursor."""
    m1 = world.actors["m1"]
    assert m1.auth_id is not None

    def forged(at: str) -> str:
        raw = json.dumps([1, "c", at, uuid.UUID(int=2**128 - 1).hex], separators=(",", ":")).encode()
        return _b64(_digest(raw) + raw)

    with Store.connect(db_url, service_role=True, max_size=1) as service:
        member = service.as_user(m1.auth_id)
        for n in range(3):
            member.conversations.create(f"paged {n}")
        valid = forged("2999-01-01T00:00:00+00:00")  # forged, and a time PostgreSQL reads
        assert member.conversations.list(after=valid).items
        for odd, same in (
            ("2999-01-01T20:00:00+20:00", "2999-01-01T00:00:00+00:00"),
            ("2999-01-01T00:00:30.5+00:00:30.5", "2999-01-01T00:00:00+00:00"),
        ):
            for field in ("after", "before"):
                pages = [
                    member.conversations.list(**{field: forged(at)})  # type: ignore[arg-type]
                    for at in (odd, same)
                ]
                assert [c.id for c in pages[0].items] == [c.id for c in pages[1].items], (field, odd)
        with pytest.raises(InvalidInput) as refused:
            member.conversations.list(before=forged("not a time"))
        assert [d["field"] for d in refused.value.details] == ["before"]


# --- what held, kept as regression tests --------------------------------------------------


def test_held_identity_switches_and_tenant_header(
    secret_client: TestClient, db_url: str, world: World
) -> None:
    """A user store never becomes the service role, another user or a member's back end; the
    tenant header picks only a membership the caller has (not another tenant's, not an
    inactive one, not an inactive tenant's); claims in a user token do not change the role
    the database runs as."""
    m1, m2, inactive = world.actors["m1"], world.actors["m2"], world.actors["inactive"]
    in_c = world.actors["inactive_tenant"]
    assert m1.auth_id is not None
    assert m2.auth_id is not None
    assert inactive.auth_id is not None
    assert in_c.auth_id is not None
    other = m2.auth_id
    with Store.connect(db_url, service_role=True, max_size=1) as service:
        member = service.as_user(m1.auth_id)
        attempts: tuple[Callable[[], Store], ...] = (
            lambda: member.as_service(),
            lambda: member.as_user(other),
            lambda: member.for_member(world.ids["tenant_A"], world.ids["m2"]),
        )
        for attempt in attempts:
            with pytest.raises(Unsupported):
                attempt()
        with member.unit_of_work() as uow:
            conn: psycopg.Connection[Any] = uow.backend._conn  # type: ignore[attr-defined]
            row = conn.execute("select current_user as who, auth.role() as role").fetchone()
            assert row is not None
            assert (row["who"], row["role"]) == ("authenticated", "authenticated")

    def me(sub: uuid.UUID, tenant: uuid.UUID | None = None, **claims: Any) -> Any:
        headers = _bearer(jwt.encode(_claims(sub, **claims), SECRET, algorithm="HS256"))
        if tenant is not None:
            headers["X-Tenant-Id"] = str(tenant)
        return secret_client.get("/me", headers=headers)

    assert me(m1.auth_id, world.ids["tenant_A"]).json()["id"] == str(m1.member_id)
    assert me(m1.auth_id, world.ids["tenant_B"]).status_code == 404
    assert me(m1.auth_id, world.ids["tenant_C"]).status_code == 404
    assert me(inactive.auth_id, world.ids["tenant_A"]).status_code == 404
    assert me(in_c.auth_id, world.ids["tenant_C"]).status_code == 404
    # a user token that says service_role in another claim is still a user's
    assert me(m1.auth_id, app_metadata={"role": "service_role"}, user_role="postgres").status_code == 200
    assert me(m1.auth_id, role="service_role").status_code == 401
    assert me(m1.auth_id, role="postgres").status_code == 401
    assert (
        secret_client.get(
            "/conversations", headers=_bearer(jwt.encode(_claims(m2.auth_id), SECRET))
        ).status_code
        == 200
    )


def test_held_forged_cursors_reveal_nothing(secret_client: TestClient, world: World) -> None:
    """A colleague's real cursor, or one forged to name their conversation, gives the same
    404 as a conversation that does not exist; a cursor with a changed character is a 422
    naming the parameter."""
    m1 = _bearer(jwt.encode(_claims(world.actors["m1"].auth_id or uuid.uuid4()), SECRET))
    m2 = _bearer(jwt.encode(_claims(world.actors["m2"].auth_id or uuid.uuid4()), SECRET))
    conv = secret_client.post("/conversations", json={"title": "secret"}, headers=m1).json()["id"]
    for n in range(3):
        secret_client.post(f"/conversations/{conv}/messages", json={"content": f"q{n}"}, headers=m1)
    page = secret_client.get(f"/conversations/{conv}/messages", params={"limit": 2}, headers=m1).json()
    assert page["has_more"]

    def forged(within: str) -> str:
        raw = json.dumps([1, "m", 2**62, uuid.uuid4().hex, uuid.UUID(within).hex], separators=(",", ":"))
        return _b64(_digest(raw.encode()) + raw.encode())

    missing = str(uuid.uuid4())
    answers = [
        secret_client.get(f"/conversations/{c}/messages", params={"after": cur}, headers=m2)
        for c, cur in ((conv, page["next"]), (conv, forged(conv)), (missing, forged(missing)))
    ]
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(404, "NotFound")] * 3
    own = secret_client.get(f"/conversations/{conv}/messages", params={"after": forged(conv)}, headers=m1)
    assert len(own.json()["items"]) == 6
    other = secret_client.get(
        f"/conversations/{missing}/messages", params={"after": page["next"]}, headers=m1
    )
    assert other.status_code == 422
    assert "after" in other.text
