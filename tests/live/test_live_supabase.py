"""The behavioural suite against a real Supabase stack, through supabase-py and PostgREST.

Opt-in: runs when ``SUPABASE_URL``, ``SUPABASE_ANON_KEY`` and ``SUPABASE_SERVICE_ROLE_KEY``
are set (for example from ``supabase status`` after ``supabase start`` and
``supabase db push``), and is skipped otherwise. Members are real Auth users created with
the admin API and signed in with their passwords; each store carries its own access token.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from supatenant import Store
from supatenant.models import Role
from tests.integration.test_store import (
    Tenancy,
    test_a_conversation_is_created_read_updated_archived_and_restored,
    test_a_member_cannot_see_or_change_another_members_conversation,
    test_admins_read_every_thread_of_their_tenant_but_not_another_tenants,
    test_conversations_page_by_keyset_and_filter_by_title,
    test_feedback_is_rated_changed_summarised_and_removed,
    test_feedback_on_a_message_the_member_cannot_read_is_refused,
    test_me_is_the_callers_membership,
    test_members_are_managed_by_admins_only,
    test_messages_append_in_order_and_page_backwards,
    test_messages_are_validated_before_anything_is_sent,
    test_only_the_owner_changes_the_tenant,
    test_search_finds_words_in_the_callers_tenant_only,
    test_usage_for_a_member_of_another_tenant_is_an_invalid_reference,
    test_usage_is_written_by_the_service_role_and_read_as_the_matrix_says,
)

ENV = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(k) for k in ENV), reason=f"set {', '.join(ENV)} to run"),
]

__all__ = [
    "test_a_conversation_is_created_read_updated_archived_and_restored",
    "test_a_member_cannot_see_or_change_another_members_conversation",
    "test_admins_read_every_thread_of_their_tenant_but_not_another_tenants",
    "test_conversations_page_by_keyset_and_filter_by_title",
    "test_feedback_is_rated_changed_summarised_and_removed",
    "test_feedback_on_a_message_the_member_cannot_read_is_refused",
    "test_me_is_the_callers_membership",
    "test_members_are_managed_by_admins_only",
    "test_messages_append_in_order_and_page_backwards",
    "test_messages_are_validated_before_anything_is_sent",
    "test_only_the_owner_changes_the_tenant",
    "test_search_finds_words_in_the_callers_tenant_only",
    "test_usage_for_a_member_of_another_tenant_is_an_invalid_reference",
    "test_usage_is_written_by_the_service_role_and_read_as_the_matrix_says",
]

PASSWORD = "live-test-" + uuid.uuid4().hex


@pytest.fixture
def service() -> Store:
    from supabase import create_client

    return Store.from_supabase(
        create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    )


@pytest.fixture
def world(service: Store) -> Iterator[tuple[Tenancy, dict[str, str]]]:
    """Two tenants and five real Auth users with passwords; the users are deleted afterwards."""
    from supabase import create_client

    admin = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"]).auth.admin
    run = uuid.uuid4().hex[:10]
    tenant = service.tenants.create("Live", f"live-{run}", plan="pro")
    other = service.tenants.create("Live other", f"live-other-{run}")
    auth: dict[str, uuid.UUID] = {}
    member: dict[str, uuid.UUID] = {}
    emails: dict[str, str] = {}
    roles: list[tuple[str, uuid.UUID, Role]] = [
        ("owner", tenant.id, "owner"),
        ("admin", tenant.id, "admin"),
        ("m1", tenant.id, "member"),
        ("m2", tenant.id, "member"),
        ("outsider", other.id, "member"),
    ]
    for name, tenant_id, role in roles:
        emails[name] = f"{name}-{run}@example.test"
        user = admin.create_user({"email": emails[name], "password": PASSWORD, "email_confirm": True}).user
        auth[name] = uuid.UUID(user.id)
        member[name] = service.members.add(
            emails[name], role=role, auth_id=auth[name], tenant_id=tenant_id
        ).id
    yield Tenancy(tenant.id, auth, member, other.id), emails
    for user_id in auth.values():
        admin.delete_user(str(user_id))


@pytest.fixture
def t(world: tuple[Tenancy, dict[str, str]]) -> Tenancy:
    return world[0]


@pytest.fixture
def act(world: tuple[Tenancy, dict[str, str]]) -> Callable[[str], Store]:
    """A store per signed-in member: the anon key plus that member's access token."""
    from supabase import create_client

    def sign_in(name: str) -> Store:
        client = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"])
        session = client.auth.sign_in_with_password({"email": world[1][name], "password": PASSWORD}).session
        assert session is not None
        return Store.from_supabase(client, access_token=session.access_token)

    return sign_in
