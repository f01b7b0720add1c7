"""The seed against a real Supabase stack: members created through the Auth admin API sign
in with the passwords the seed gave them (random, or derived from a secret) and see exactly
their tenant.

Opt-in, like the rest of ``tests/live``: set ``SUPABASE_URL``, ``SUPABASE_ANON_KEY`` and
``SUPABASE_SERVICE_ROLE_KEY``; with ``SUPABASE_DB_URL`` too (the stack's database, e.g.
from ``supabase status``), the rows also go in over that connection with COPY. Each run
uses a fresh seed number and removes what it wrote.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from supatenant import Store
from supatenant.seeding.api import ApiTarget, Passwords, connect
from supatenant.seeding.load import Plan, plan, run, seed_database
from supatenant.seeding.plan import ANCHOR
from tests.integration.test_seed import SIZES, check_member_view
from tests.live.test_live_supabase import ENV

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(k) for k in ENV), reason=f"set {', '.join(ENV)} to run"),
]


@dataclass(frozen=True)
class Seeded:
    plan: Plan
    passwords: Passwords  # what the members were given


SECRET = "live-test-" + "0123456789abcdef"


@pytest.fixture(
    params=[
        ("rows through PostgREST", None),
        ("rows through PostgREST", SECRET),
        ("rows through COPY", None),
    ],
    ids=["PostgREST, random passwords", "PostgREST, passwords from a secret", "COPY, random passwords"],
)
def seeded(request: pytest.FixtureRequest) -> Iterator[Seeded]:
    rows_through, secret = request.param
    seeding = plan(SIZES, random.randrange(10**6, 10**9), ANCHOR)
    client = connect(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    target = ApiTarget(client, Passwords(secret))
    if rows_through == "rows through PostgREST":
        report = run(target, seeding)
    elif os.environ.get("SUPABASE_DB_URL"):
        report, _ = seed_database(os.environ["SUPABASE_DB_URL"], SIZES, seeding.seed, ANCHOR, members=target)
    else:
        pytest.skip("set SUPABASE_DB_URL to load the rows over the stack's database connection")
    assert report.tenants_written == SIZES.tenants
    yield Seeded(seeding, target.passwords)
    client.table("tenants").delete().in_("id", [str(h.tenant["id"]) for h in seeding.heads]).execute()
    for head in seeding.heads:
        for user in head.auth_users:
            client.auth.admin.delete_user(str(user["id"]))


def test_seeded_members_sign_in_and_see_exactly_their_tenant(seeded: Seeded) -> None:
    from supabase import create_client

    for index in range(SIZES.tenants):
        rows = seeded.plan.tenant(index)
        for cred in rows.credentials:
            password = seeded.passwords.known(cred["email"])
            assert password is not None
            client = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"])
            session = client.auth.sign_in_with_password(
                {"email": cred["email"], "password": password}
            ).session
            assert session is not None
            check_member_view(Store.from_supabase(client, access_token=session.access_token), cred, rows)


def test_seeding_again_writes_nothing(seeded: Seeded) -> None:
    client = connect(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    report = run(ApiTarget(client), seeded.plan)
    assert (report.tenants_written, report.tenants_present) == (0, SIZES.tenants)
