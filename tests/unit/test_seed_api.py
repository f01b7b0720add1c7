"""Seeding a Supabase project through its APIs, at the HTTP boundary.

No Supabase stack runs here, so an httpx transport stands where GoTrue and PostgREST would:
it records every request supabase-py sends (method, path, query, ``Prefer``, key, body) and
answers each route as those servers answer. The tests check what is sent for an empty
project, a complete one and a half-written one, and that refusals come before any write.
``tests/live/test_live_seed.py`` runs the same seed against a real stack when one is set up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from supabase import Client
from supabase.lib.client_options import SyncClientOptions

from supatenant import Conflict, InvalidReference, PermissionDenied, Unavailable, cli
from supatenant.errors import SetupError
from supatenant.seeding.api import SECRET_ENV, ApiTarget, Passwords
from supatenant.seeding.load import Report, plan, run
from supatenant.seeding.plan import ANCHOR, Sizes, TenantRows
from tests.unit.test_supabase_wire import NOW, Sent

URL = "http://project.test"
KEY = "service-role-key"
SIZES = Sizes(
    tenants=1,
    users_per_tenant=2,
    conversations_per_user=1,
    messages_per_conversation=4,
    feedback_rate=1.0,
    days=2,
)

Answer = Callable[[Sent], httpx.Response]


def user_json(user_id: str, email: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "aud": "authenticated",
        "email": email,
        "app_metadata": {"provider": "email"},
        "user_metadata": {"seeded": True},
        "created_at": NOW,
    }


@dataclass
class Project:
    """Answers each route the way GoTrue or PostgREST answers it, and keeps what was sent."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Answer | Any, status: int = 200) -> None:
        self.routes[(method, path)] = (
            answer if callable(answer) else lambda _: httpx.Response(status, json=answer)
        )

    def fail(self, method: str, path: str, status: int, code: str, message: str) -> None:
        """PostgREST's error body: a SQLSTATE or PGRST code and a message."""
        self.on(method, path, {"code": code, "message": message, "details": None, "hint": None}, status)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        sent = Sent(request.method, request.url.path, query, request.headers, body)
        self.sent.append(sent)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            if request.method == "POST" and request.url.path.startswith("/rest/v1/"):
                return httpx.Response(201)  # return=minimal: no body
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        return answer(sent)

    def writes(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.sent if s.method != "GET"]

    def bodies(self, path: str) -> list[Any]:
        return [s.body for s in self.sent if s.method == "POST" and s.path == path]


def created_user(sent: Sent) -> httpx.Response:
    return httpx.Response(200, json=user_json(sent.body["id"], sent.body["email"]))


def empty_project() -> Project:
    project = Project()
    project.on("GET", "/rest/v1/tenants", [])
    project.on("GET", "/rest/v1/usage_metrics", [])
    project.on("GET", "/auth/v1/admin/users", {"users": [], "aud": "authenticated"})
    project.on("POST", "/auth/v1/admin/users", created_user)
    project.on("GET", "/rest/v1/conversations", lambda sent: httpx.Response(200, json=counts(sent, 0)))
    project.on("POST", "/rest/v1/rpc/increment_usage_batch", 2)
    project.on("POST", "/rest/v1/rpc/refresh_summaries", None)
    return project


def counts(sent: Sent, count: int) -> list[dict[str, Any]]:
    """The reply to ``select=id,message_count&id=in.(...)``: every asked-for conversation."""
    [ids] = [v for k, v in sent.query if k == "id"]
    return [{"id": i, "message_count": count} for i in ids.removeprefix("in.(").removesuffix(")").split(",")]


def client_for(project: Project) -> Client:
    """A supabase-py client with the service role key whose HTTP goes to ``project``."""
    transport = httpx.MockTransport(project.handle)
    return Client(URL, KEY, SyncClientOptions(httpx_client=httpx.Client(transport=transport)))


def seed(project: Project, passwords: Passwords | None = None) -> tuple[Report, list[TenantRows]]:
    seeding = plan(SIZES, 7, ANCHOR)
    target = ApiTarget(client_for(project), passwords)
    return run(target, seeding), [seeding.tenant(i) for i in range(SIZES.tenants)]


def jsonable(value: Any) -> Any:
    """What the rows look like as JSON: UUIDs and decimals as strings, times in ISO 8601."""
    return json.loads(
        json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    )


def test_an_empty_project_gets_members_who_can_sign_in_and_every_row() -> None:
    project = empty_project()
    report, [rows] = seed(project)
    assert (report.tenants_written, report.tenants_present, report.messages_written) == (1, 0, 4 * 2)
    assert project.writes() == [
        ("POST", "/auth/v1/admin/users"),
        ("POST", "/auth/v1/admin/users"),
        ("POST", "/rest/v1/tenants"),
        ("POST", "/rest/v1/users"),
        ("POST", "/rest/v1/conversations"),
        ("POST", "/rest/v1/messages"),
        ("POST", "/rest/v1/feedback"),
        ("POST", "/rest/v1/rpc/increment_usage_batch"),
        ("POST", "/rest/v1/rpc/refresh_summaries"),
    ]
    for sent in project.sent:
        assert sent.headers["apikey"] == KEY
        assert sent.headers["authorization"] == f"Bearer {KEY}"
    # members: the planned id, a password, the email confirmed so they can sign in at once
    assert [
        {k: v for k, v in b.items() if k != "password"} for b in project.bodies("/auth/v1/admin/users")
    ] == [
        {
            "id": str(u["id"]),
            "email": u["email"],
            "email_confirm": True,
            "user_metadata": {"seeded": True},
        }
        for u in rows.auth_users
    ]
    # rows: repeatable inserts, the planned values exactly
    upserts = [
        s for s in project.sent if s.method == "POST" and s.path in ("/rest/v1/tenants", "/rest/v1/users")
    ]
    for sent in upserts:
        assert sent.headers["prefer"] == "return=minimal,resolution=ignore-duplicates"
    assert project.bodies("/rest/v1/users") == [jsonable(rows.users)]
    assert project.bodies("/rest/v1/tenants")[0][0]["slug"] == rows.tenant["slug"]
    # conversations go in with no count: the messages trigger counts them as they arrive
    [conversations] = project.bodies("/rest/v1/conversations")
    assert {(c["id"], c["message_count"], c["last_message_at"]) for c in conversations} == {
        (str(c["id"]), 0, None) for c in rows.conversations
    }
    [messages] = project.bodies("/rest/v1/messages")
    assert messages == jsonable(rows.messages)
    assert project.bodies("/rest/v1/feedback") == [jsonable(rows.feedback)]


def test_usage_is_sent_once_and_adds_up_to_the_assistant_messages() -> None:
    project = empty_project()
    _, [rows] = seed(project)
    [call] = project.bodies("/rest/v1/rpc/increment_usage_batch")
    expected: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for m in rows.messages:
        if m["role"] == "assistant":
            total = expected[(str(m["user_id"]), m["created_at"].date().isoformat())]
            total[0] += 1
            total[1] += m["metadata"]["prompt_tokens"]
            total[2] += m["token_count"]
            total[3] += Decimal(m["metadata"]["cost_usd"])
    sent = {
        (i["user_id"], i["usage_date"]): [
            i["request_count"],
            i["prompt_tokens"],
            i["completion_tokens"],
            Decimal(i["cost_usd"]),
        ]
        for i in call["p_increments"]
    }
    assert sent == dict(expected)
    assert {i["tenant_id"] for i in call["p_increments"]} == {str(rows.tenant["id"])}


def test_a_complete_project_is_read_and_left_as_it_is() -> None:
    _, [rows] = seed(empty_project())
    project = empty_project()
    project.on("GET", "/rest/v1/tenants", [{"id": str(rows.tenant["id"]), "slug": rows.tenant["slug"]}])
    project.on("GET", "/rest/v1/usage_metrics", [{"tenant_id": str(rows.tenant["id"])}])
    project.on(
        "GET",
        "/auth/v1/admin/users",
        {"users": [user_json(str(u["id"]), u["email"]) for u in rows.auth_users], "aud": "authenticated"},
    )
    report, _ = seed(project)
    assert (report.tenants_written, report.tenants_present) == (0, 1)
    assert project.writes() == [("POST", "/rest/v1/rpc/refresh_summaries")]


def test_a_half_written_tenant_is_completed_without_counting_messages_twice() -> None:
    _, [rows] = seed(empty_project())
    project = empty_project()
    # the tenant and its members are there, the conversations have their messages, usage is not
    project.on("GET", "/rest/v1/tenants", [{"id": str(rows.tenant["id"]), "slug": rows.tenant["slug"]}])
    project.on(
        "GET",
        "/auth/v1/admin/users",
        {"users": [user_json(str(u["id"]), u["email"]) for u in rows.auth_users], "aud": "authenticated"},
    )
    project.on("GET", "/rest/v1/conversations", lambda sent: httpx.Response(200, json=counts(sent, 4)))
    report, _ = seed(project)
    assert report.tenants_written == 1
    assert project.writes() == [
        ("POST", "/rest/v1/tenants"),
        ("POST", "/rest/v1/users"),
        ("POST", "/rest/v1/conversations"),
        ("POST", "/rest/v1/feedback"),
        ("POST", "/rest/v1/rpc/increment_usage_batch"),
        ("POST", "/rest/v1/rpc/refresh_summaries"),
    ]


def test_a_failed_write_stops_the_tenant_before_its_usage_marks_it_complete() -> None:
    project = empty_project()
    project.fail("POST", "/rest/v1/messages", 409, "23503", "conversation does not exist in this tenant")
    with pytest.raises(InvalidReference, match="writing messages: conversation does not exist"):
        seed(project)
    assert ("POST", "/rest/v1/rpc/increment_usage_batch") not in project.writes()
    assert project.writes()[-1] == ("POST", "/rest/v1/messages")


def test_an_auth_user_with_a_planned_email_and_another_id_stops_everything() -> None:
    project = empty_project()
    email = plan(SIZES, 7, ANCHOR).heads[0].auth_users[1]["email"]
    held = "00000000-0000-0000-0000-000000000001"
    project.on("GET", "/auth/v1/admin/users", {"users": [user_json(held, email)], "aud": "authenticated"})
    with pytest.raises(Conflict, match=f"auth user '{email}' exists and was not written by this seed"):
        seed(project)
    assert project.writes() == []


def test_a_slug_held_by_another_tenant_stops_everything() -> None:
    project = empty_project()
    project.on("GET", "/rest/v1/tenants", [{"id": "00000000-0000-0000-0000-000000000002", "slug": "seed7-0"}])
    with pytest.raises(Conflict, match="tenant slug 'seed7-0' is taken"):
        seed(project)
    assert project.writes() == []


def test_a_project_without_the_schema_is_told_to_push_it() -> None:
    project = empty_project()
    project.fail(
        "GET",
        "/rest/v1/tenants",
        404,
        "PGRST205",
        "Could not find the table 'public.tenants' in the schema cache",
    )
    with pytest.raises(SetupError, match="run `supabase db push` first"):
        seed(project)
    assert len(project.sent) == 1


def test_a_key_that_is_not_the_service_role_key_is_refused() -> None:
    project = empty_project()
    project.on(
        "POST",
        "/auth/v1/admin/users",
        {"code": 403, "error_code": "not_admin", "msg": "User not allowed"},
        status=403,
    )
    with pytest.raises(SetupError, match="the Auth admin API refused: User not allowed"):
        seed(project)
    assert project.writes() == [("POST", "/auth/v1/admin/users")]


def test_a_refused_token_is_permission_denied() -> None:
    project = empty_project()
    project.fail("GET", "/rest/v1/tenants", 401, "PGRST301", "No suitable key or wrong key type")
    with pytest.raises(PermissionDenied, match="not allowed: reading tenants"):
        seed(project)


def test_an_unreachable_project_is_unavailable_at_the_first_request() -> None:
    project = empty_project()

    def refuse(_: Sent) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    project.on("GET", "/rest/v1/tenants", refuse)
    with pytest.raises(Unavailable, match="the project could not be reached: connection refused"):
        seed(project)
    assert len(project.sent) == 1  # no retries before the first answer


# passwords: never from the public seed alone; random, or derived from a secret; only in a file


def sent_passwords(project: Project) -> dict[str, str]:
    return {b["email"]: b["password"] for b in project.bodies("/auth/v1/admin/users")}


def public_derivation(email: str) -> str:
    """How passwords were once made: from the seed number and the email, both public."""
    return "Seed-" + hashlib.sha256(f"7:{email}".encode()).hexdigest()[:16]


def test_the_plan_holds_no_passwords() -> None:
    for head in plan(SIZES, 7, ANCHOR).heads:
        assert all(set(u) == {"id", "email"} for u in head.auth_users)
        assert all("password" not in c for c in head.credentials)


def test_passwords_are_random_without_a_secret() -> None:
    first, second = empty_project(), empty_project()
    seed(first)
    seed(second)
    a, b = sent_passwords(first), sent_passwords(second)
    assert a.keys() == b.keys()
    assert len(a) == SIZES.tenants * SIZES.users_per_tenant
    for email in a:
        assert a[email] != b[email]
        assert a[email] != public_derivation(email)
        assert len(a[email]) >= 32
    assert len(set(a.values())) == len(a)


def test_a_secret_gives_the_same_passwords_on_every_run_and_the_seed_alone_gives_none() -> None:
    secret = "correct horse battery staple"
    runs = []
    for passwords in (Passwords(secret), Passwords(secret), Passwords(secret + "!")):
        project = empty_project()
        seed(project, passwords)
        runs.append(sent_passwords(project))
        assert all(passwords.known(email) == p for email, p in runs[-1].items())
    assert runs[0] == runs[1]
    for email, password in runs[0].items():
        keyed = hmac.new(secret.encode(), f"supatenant-seed-password:{email}".encode(), hashlib.sha256)
        assert password == "Seed-" + keyed.hexdigest()[:32]
        assert password != runs[2][email]
        assert password != public_derivation(email)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        Passwords("hunter2")


# the command: passwords go to --credentials FILE (mode 0600) only


def seed_command(*extra: str) -> list[str]:
    return [
        "seed",
        "--supabase-url",
        URL,
        "--service-role-key",
        KEY,
        "--tenants",
        str(SIZES.tenants),
        "--users-per-tenant",
        str(SIZES.users_per_tenant),
        "--conversations-per-user",
        str(SIZES.conversations_per_user),
        "--messages-per-conversation",
        str(SIZES.messages_per_conversation),
        "--feedback-rate",
        str(SIZES.feedback_rate),
        "--days",
        str(SIZES.days),
        "--seed",
        "7",
        "--end",
        ANCHOR.date().isoformat(),
        *extra,
    ]


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """``supatenant seed`` against a given project (answered at the HTTP boundary)."""
    monkeypatch.delenv(SECRET_ENV, raising=False)

    def call(project: Project, *extra: str) -> int:
        monkeypatch.setattr("supatenant.seeding.api.connect", lambda url, key: client_for(project))
        return cli.main(seed_command(*extra))

    return call


def complete_project() -> Project:
    """A project the seed already filled: its tenant, usage and members are there."""
    heads = plan(SIZES, 7, ANCHOR).heads
    project = empty_project()
    project.on(
        "GET", "/rest/v1/tenants", [{"id": str(h.tenant["id"]), "slug": h.tenant["slug"]} for h in heads]
    )
    project.on("GET", "/rest/v1/usage_metrics", [{"tenant_id": str(heads[0].tenant["id"])}])
    users = [user_json(str(u["id"]), u["email"]) for h in heads for u in h.auth_users]
    project.on("GET", "/auth/v1/admin/users", {"users": users, "aud": "authenticated"})
    return project


def test_the_command_writes_passwords_only_to_a_file_only_its_owner_reads(
    command: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, path = empty_project(), tmp_path / "members.json"
    path.write_text("[]")
    path.chmod(0o644)  # a file that was there keeps no wider mode
    assert command(project, "--credentials", str(path)) == 0
    out, err = capsys.readouterr()
    sent = sent_passwords(project)
    for password in sent.values():
        assert password not in out + err
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert {m["email"]: m["password"] for m in saved} == sent
    assert f"members written to {path} with their passwords" in out


def test_without_a_file_or_a_secret_the_command_says_the_passwords_were_not_saved(
    command: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    project = empty_project()
    assert command(project) == 0
    out, err = capsys.readouterr()
    for password in sent_passwords(project).values():
        assert password not in out + err
    assert "passwords were not saved: the 2 members created now got random passwords" in out


def test_a_secret_from_the_environment_gives_the_same_passwords_when_run_again(
    command: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(SECRET_ENV, "a secret of more than sixteen characters")
    first = empty_project()
    assert command(first) == 0
    out, _ = capsys.readouterr()
    assert "passwords are not printed: run again with --credentials FILE and the same secret" in out
    # again, with the members there: nothing is created, and the file gets the same passwords
    path = tmp_path / "members.json"
    assert command(complete_project(), "--credentials", str(path)) == 0
    out, err = capsys.readouterr()
    saved = {m["email"]: m["password"] for m in json.loads(path.read_text())}
    assert saved == sent_passwords(first)
    assert all(p not in out + err for p in saved.values())


def test_a_rerun_keeps_the_random_passwords_the_file_holds(
    command: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, path = empty_project(), tmp_path / "members.json"
    assert command(first, "--credentials", str(path)) == 0
    assert command(complete_project(), "--credentials", str(path)) == 0
    assert {m["email"]: m["password"] for m in json.loads(path.read_text())} == sent_passwords(first)
    # without the earlier file the passwords are unknown, and the command says so
    other = tmp_path / "other.json"
    capsys.readouterr()
    assert command(complete_project(), "--credentials", str(other)) == 0
    assert all(m["password"] is None for m in json.loads(other.read_text()))
    assert (
        "2 members were created by an earlier run whose passwords were not saved" in capsys.readouterr().out
    )


def test_a_failed_run_saves_the_passwords_of_the_members_it_created(
    command: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, path = empty_project(), tmp_path / "members.json"
    project.fail("POST", "/rest/v1/messages", 409, "23503", "conversation does not exist in this tenant")
    assert command(project, "--credentials", str(path)) == 1
    out, err = capsys.readouterr()
    assert f"members created so far written to {path}" in err
    assert {m["email"]: m["password"] for m in json.loads(path.read_text())} == sent_passwords(project)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert all(p not in out + err for p in sent_passwords(project).values())


def test_a_password_secret_needs_a_project_and_enough_characters(
    command: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--database-url", "postgresql://x", "--password-secret", "s" * 20]) == 2
    assert "--password-secret goes with --supabase-url" in capsys.readouterr().err
    project = empty_project()
    assert command(project, "--password-secret", "short") == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert project.sent == []
