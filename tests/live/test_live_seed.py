"""The seed against a real Supabase stack: members created through the Auth admin API sign
in with their printed passwords and see exactly their tenant.

Opt-in, like the rest of ``tests/live``: set ``SUPABASE_URL``, ``SUPABASE_ANON_KEY`` and
``SUPABASE_SERVICE_ROLE_KEY``; with ``SUPABASE_DB_URL`` too (the stack's database, e.g.
from ``supabase status``), the rows also go in over that connection with COPY. Each run
uses a fresh seed number and removes what it wrote.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from seeds.api import ApiTarget, connect
from seeds.load import Plan, plan, run, seed_database
from seeds.plan import ANCHOR
from supatenant import Store
from tests.integration.test_seed import SIZES, check_member_view
from tests.live.test_live_supabase import ENV

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(k) for k in ENV), reason=f"set {', '.join(ENV)} to run"),
]


@pytest.fixture(params=["rows through PostgREST", "rows through COPY"])
def seeded(request: pytest.FixtureRequest) -> Iterator[Plan]:
    seeding = plan(SIZES, random.randrange(10**6, 10**9), ANCHOR)
    client = connect(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    if request.param == "rows through PostgREST":
        report = run(ApiTarget(client), seeding)
    elif os.environ.get("SUPABASE_DB_URL"):
        report, _ = seed_database(
            os.environ["SUPABASE_DB_URL"], SIZES, seeding.seed, ANCHOR, members=ApiTarget(client)
        )
    else:
        pytest.skip("set SUPABASE_DB_URL to load the rows over the stack's database connection")
    assert report.tenants_written == SIZES.tenants
    yield seeding
    client.table("tenants").delete().in_("id", [str(h.tenant["id"]) for h in seeding.heads]).execute()
    for head in seeding.heads:
        for user in head.auth_users:
            client.auth.admin.delete_user(str(user["id"]))


def test_seeded_members_sign_in_and_see_exactly_their_tenant(seeded: Plan) -> None:
    from supabase import create_client

    for index in range(SIZES.tenants):
        rows = seeded.tenant(index)
        for cred in rows.credentials:
            client = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"])
            session = client.auth.sign_in_with_password(
                {"email": cred["email"], "password": cred["password"]}
            ).session
            assert session is not None
            check_member_view(Store.from_supabase(client, access_token=session.access_token), cred, rows)


def test_seeding_again_writes_nothing(seeded: Plan) -> None:
    client = connect(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    report = run(ApiTarget(client), seeded)
    assert (report.tenants_written, report.tenants_present) == (0, SIZES.tenants)
