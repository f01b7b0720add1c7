"""The example FastAPI app end to end: real HTTP requests through FastAPI's test client,
tokens verified, RLS deciding on the real schema, errors answered with their status."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from examples.chat_api import create_app
from supatenant.settings import Settings
from tests.integration.world import World

SECRET = "the-example-app-jwt-secret-of-32-characters"


def bearer(auth_id: uuid.UUID | None, *, secret: str = SECRET, **claims: Any) -> dict[str, str]:
    payload = {
        "sub": str(auth_id),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
        **claims,
    }
    return {"Authorization": "Bearer " + jwt.encode(payload, secret, algorithm="HS256")}


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, jwt_secret=SECRET))
    with TestClient(app) as c:
        yield c


def test_requests_without_a_valid_token_are_401(client: TestClient, world: World) -> None:
    m1 = world.actors["m1"].auth_id
    assert client.get("/me", headers=bearer(m1)).status_code == 200
    for headers in (
        {},
        {"Authorization": "Bearer garbage"},
        bearer(m1, secret="another-secret-of-at-least-32-characters"),
        bearer(m1, exp=int(time.time()) - 10),
        bearer(m1, aud="someone-else"),
        bearer(None, role="anon"),
        bearer(m1, role="service_role"),
    ):
        answer = client.get("/me", headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_member_converses_and_a_colleague_sees_nothing_of_it(client: TestClient, world: World) -> None:
    m1, m2 = bearer(world.actors["m1"].auth_id), bearer(world.actors["m2"].auth_id)
    outsider = bearer(world.actors["outsider"].auth_id)
    created = client.post("/conversations", json={"title": "billing question"}, headers=m1)
    assert created.status_code == 201
    conv = created.json()["id"]
    turn = client.post(f"/conversations/{conv}/messages", json={"content": "Why was I charged?"}, headers=m1)
    assert turn.status_code == 201, turn.text
    assert turn.json()["answer"]["role"] == "assistant"
    thread = client.get(f"/conversations/{conv}", headers=m1).json()
    assert [m["content"] for m in thread["messages"]] == [
        "Why was I charged?",
        "You asked: Why was I charged?",
    ]
    assert conv in [c["id"] for c in client.get("/conversations", headers=m1).json()["items"]]
    answer_id = turn.json()["answer"]["id"]
    assert client.put(f"/messages/{answer_id}/feedback", json={"rating": 1}, headers=m1).status_code == 200

    missing = str(uuid.uuid4())
    for someone in (m2, outsider):
        assert conv not in [c["id"] for c in client.get("/conversations", headers=someone).json()["items"]]
        # a colleague's conversation answers exactly like one that does not exist
        for path in (f"/conversations/{conv}", f"/conversations/{missing}"):
            assert client.get(path, headers=someone).status_code == 404
        posts = {
            client.post(f"/conversations/{c}/messages", json={"content": "hi"}, headers=someone).status_code
            for c in (conv, missing)
        }
        assert len(posts) == 1
        assert posts.pop() in (403, 404)
        rated = {
            client.put(f"/messages/{m}/feedback", json={"rating": -1}, headers=someone).status_code
            for m in (answer_id, str(uuid.uuid4()))
        }
        assert len(rated) == 1
        assert rated.pop() in (403, 404)
    # nothing they tried was written
    assert len(client.get(f"/conversations/{conv}", headers=m1).json()["messages"]) == 2


def test_bad_input_is_422_and_writes_nothing(client: TestClient, world: World) -> None:
    m1 = bearer(world.actors["m1"].auth_id)
    before = len(client.get("/conversations", params={"limit": 100}, headers=m1).json()["items"])
    assert client.get("/conversations/not-a-uuid", headers=m1).status_code == 422
    assert client.get("/conversations", params={"limit": 0}, headers=m1).status_code == 422
    assert client.post("/conversations", json={"title": "x" * 201}, headers=m1).status_code == 422
    conv = client.post("/conversations", json={}, headers=m1).json()["id"]
    assert client.post(f"/conversations/{conv}/messages", json={"content": ""}, headers=m1).status_code == 422
    msg = client.post(f"/conversations/{conv}/messages", json={"content": "q"}, headers=m1).json()[
        "question"
    ]["id"]
    assert client.put(f"/messages/{msg}/feedback", json={"rating": 0}, headers=m1).status_code == 422
    assert len(client.get("/conversations", params={"limit": 100}, headers=m1).json()["items"]) == before + 1


def test_the_tenant_header_picks_a_membership_the_user_has(client: TestClient, world: World) -> None:
    m1 = world.actors["m1"]
    own = client.get("/me", headers={**bearer(m1.auth_id), "X-Tenant-Id": str(m1.tenant_id)})
    assert own.status_code == 200
    assert own.json()["id"] == str(m1.member_id)
    other = client.get("/me", headers={**bearer(m1.auth_id), "X-Tenant-Id": str(world.ids["tenant_B"])})
    assert other.status_code == 404
    assert other.json()["error"] == "NotFound"
    assert client.get("/me", headers={**bearer(m1.auth_id), "X-Tenant-Id": "nope"}).status_code == 422


def test_cursors_travel_through_the_api_as_they_are(client: TestClient, world: World) -> None:
    m1, m2 = bearer(world.actors["m1"].auth_id), bearer(world.actors["m2"].auth_id)
    conv = client.post("/conversations", json={"title": "paged"}, headers=m1).json()["id"]
    for n in range(3):
        client.post(f"/conversations/{conv}/messages", json={"content": f"q{n}"}, headers=m1)
    first = client.get(f"/conversations/{conv}/messages", params={"limit": 4}, headers=m1).json()
    assert first["has_more"]
    assert [m["content"] for m in first["items"]][1::2] == ["q2", "q1"]
    rest = client.get(
        f"/conversations/{conv}/messages", params={"limit": 4, "after": first["next"]}, headers=m1
    ).json()
    assert [m["content"] for m in rest["items"]] == ["You asked: q0", "q0"]
    assert not rest["has_more"]
    # the thread's cursor leads to the same older messages
    thread = client.get(f"/conversations/{conv}", headers=m1).json()
    assert not thread["has_more"]
    # an altered cursor is a 422 naming the parameter; a colleague gets nothing with a real one
    altered = first["next"][:-2] + ("AA" if not first["next"].endswith("AA") else "BB")
    bad = client.get(f"/conversations/{conv}/messages", params={"after": altered}, headers=m1)
    assert bad.status_code == 422
    assert "after" in bad.text
    theirs = client.get(f"/conversations/{conv}/messages", params={"after": first["next"]}, headers=m2)
    assert theirs.status_code == 404  # as for a conversation that does not exist
    missing = client.get(f"/conversations/{uuid.uuid4()}/messages", headers=m2)
    assert (missing.status_code, missing.json()["error"]) == (404, theirs.json()["error"])
