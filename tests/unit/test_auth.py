"""Identities and token verification: signatures, expiry, audience and issuer checked the way
the Data API checks them, against a JWKS served over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from supatenant.auth import Identity, TokenVerifier, token_subject, unverified_claims
from supatenant.errors import InvalidToken, Unavailable
from tests.auth_server import ISSUER_PATH, AuthServer

SECRET = "a-legacy-jwt-secret-of-at-least-32-characters"


def test_user_claims_carry_sub_and_role() -> None:
    uid = uuid.uuid4()
    assert json.loads(Identity.user(uid).claims_json()) == {
        "role": "authenticated",
        "sub": str(uid),
        "aud": "authenticated",
    }


def test_service_and_anon_claims_have_no_subject() -> None:
    assert json.loads(Identity.service().claims_json()) == {"role": "service_role"}
    assert json.loads(Identity.anon().claims_json()) == {"role": "anon"}


def test_every_claim_of_a_token_is_passed_on() -> None:
    uid = uuid.uuid4()
    claims = {
        "sub": str(uid),
        "role": "authenticated",
        "email": "a@example.com",
        "aal": "aal2",
        "app_metadata": {"provider": "email"},
        "session_id": "s1",
    }
    passed = json.loads(Identity.from_claims(claims).claims_json())
    assert passed == {**claims, "aud": "authenticated"}


def test_identities_refuse_what_cannot_be() -> None:
    with pytest.raises(InvalidToken, match="auth user id"):
        Identity("authenticated")
    with pytest.raises(InvalidToken, match="acts as no user"):
        Identity("service_role", uuid.uuid4())
    with pytest.raises(InvalidToken, match="not one of"):
        Identity("postgres")  # type: ignore[arg-type]
    with pytest.raises(InvalidToken, match="UUID"):
        Identity.user(str(uuid.uuid4()))  # type: ignore[arg-type]
    with pytest.raises(InvalidToken, match="sub claim"):
        Identity.from_claims({"role": "authenticated", "sub": "not-a-uuid"})
    with pytest.raises(InvalidToken, match="not one of"):
        Identity.from_claims({"role": "supabase_admin"})


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "x.e30K.y.z", "a.WzFd.c", "a.bm90IGpzb24.c"])
def test_a_token_that_is_no_jwt_is_refused_not_taken_for_anon(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        token_subject(garbage)


def test_token_subject_reads_a_user_and_a_key() -> None:
    uid = uuid.uuid4()
    user = jwt.encode({"sub": str(uid), "role": "authenticated"}, SECRET, algorithm="HS256")
    anon_key = jwt.encode({"role": "anon", "iss": "supabase"}, SECRET, algorithm="HS256")
    assert token_subject(user) == uid
    assert token_subject(anon_key) is None
    assert unverified_claims(user)["sub"] == str(uid)


@pytest.fixture
def project() -> Iterator[AuthServer]:
    server = AuthServer()
    try:
        yield server
    finally:
        server.close()


def test_a_valid_token_yields_its_identity_and_the_key_set_is_fetched_once(project: AuthServer) -> None:
    verifier = TokenVerifier.for_project(project.url)
    uid = uuid.uuid4()
    identity = verifier.verify(project.token(sub=str(uid), email="m@example.com"))
    assert identity.role == "authenticated"
    assert identity.auth_user_id == uid
    assert identity.claims["email"] == "m@example.com"
    for _ in range(5):
        verifier.verify(project.token())
    assert len(project.fetches) == 1


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"exp": None}, "exp"),
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"iss": "https://evil.example/auth/v1"}, "(?i)issuer"),
        ({"sub": "not-a-uuid"}, "sub claim"),
        ({"role": "supabase_admin"}, "not one of"),
    ],
)
def test_a_token_failing_a_check_is_refused(project: AuthServer, claims: dict[str, Any], reason: str) -> None:
    verifier = TokenVerifier.for_project(project.url)
    verifier.verify(project.token())  # the same verifier accepts a good one
    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(project.token(**claims))


def test_a_token_signed_by_another_key_is_refused(project: AuthServer) -> None:
    verifier = TokenVerifier.for_project(project.url)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidToken, match="not valid"):
        verifier.verify(project.token(key=other))  # the project's kid, a forged signature
    with pytest.raises(InvalidToken, match="signing key"):
        verifier.verify(project.token(key=other, kid="key-2"))


def test_unsigned_and_secret_signed_tokens_need_their_own_configuration(project: AuthServer) -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "aud": "authenticated",
        "iss": project.url + ISSUER_PATH,
        "exp": now + 60,
    }
    unsigned = jwt.encode(claims, "", algorithm="none")
    hs256 = jwt.encode(claims, SECRET, algorithm="HS256")
    jwks_only = TokenVerifier.for_project(project.url)
    with pytest.raises(InvalidToken, match="algorithm 'none'"):
        jwks_only.verify(unsigned)
    with pytest.raises(InvalidToken, match="no JWT secret"):
        jwks_only.verify(hs256)
    both = TokenVerifier.for_project(project.url, jwt_secret=SECRET)
    assert both.verify(hs256).auth_user_id == uuid.UUID(str(claims["sub"]))
    with pytest.raises(InvalidToken, match="not valid"):
        TokenVerifier.for_project(project.url, jwt_secret="another-secret-of-32-characters-at-least").verify(
            hs256
        )
    with pytest.raises(InvalidToken, match="no JWKS URL"):
        TokenVerifier(jwt_secret=SECRET).verify(project.token())


def test_an_unreachable_key_set_is_unavailable_not_an_invalid_token(project: AuthServer) -> None:
    token = project.token()
    dead = TokenVerifier(jwks_url="http://127.0.0.1:9/auth/v1/.well-known/jwks.json", timeout=1)
    with pytest.raises(Unavailable, match="signing keys"):
        dead.verify(token)
