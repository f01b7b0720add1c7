"""supatenant in one page: two tenants, their members, a conversation, feedback, usage and
summaries — and a cross-tenant read refused by row-level security.

    python examples/quickstart.py postgresql://postgres@127.0.0.1:54330/postgres

The database must hold the schema (``supatenant up``). On plain PostgreSQL the sign-ups that
Supabase Auth would make are inserted into ``auth.users`` directly. Everything the example
creates is removed again at the end.
"""

from __future__ import annotations

import sys
import uuid
from decimal import Decimal

import psycopg

from supatenant import NotFound, Store, UsageRecorder
from supatenant.models import Role, Tenant


def sign_up(dsn: str, email: str) -> uuid.UUID:
    """What Supabase Auth does when someone signs up: a row in auth.users."""
    auth_id = uuid.uuid4()
    with psycopg.connect(dsn) as conn:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (auth_id, email))
    return auth_id


def main(dsn: str) -> None:
    run = uuid.uuid4().hex[:8]
    tenants: list[uuid.UUID] = []
    people: list[uuid.UUID] = []
    with Store.connect(dsn, service_role=True) as service:
        try:
            # back office, as the service role: two tenants, each with an owner
            acme = service.tenants.create("Acme Support", f"acme-{run}", plan="pro")
            globex = service.tenants.create("Globex Help", f"globex-{run}")
            tenants += [acme.id, globex.id]
            members = {}
            roles: list[tuple[Tenant, str, Role]] = [(acme, "ada", "owner"), (globex, "gus", "owner")]
            for tenant, name, role in roles:
                email = f"{name}.{run}@example.test"
                auth_id = sign_up(dsn, email)
                people.append(auth_id)
                members[name] = (
                    auth_id,
                    service.members.add(email, role=role, auth_id=auth_id, tenant_id=tenant.id),
                )
                print(f"member   {email:<28} {role:<6} in {tenant.name}")

            # Acme's owner invites Bob; Bob signs up and accepts the invitation as himself
            ada = service.as_user(members["ada"][0])
            bob_email = f"bob.{run}@example.test"
            invitation = ada.members.invite(bob_email, role="member")
            people.append(bob_auth := sign_up(dsn, bob_email))
            bob_member = service.as_user(bob_auth).accept_invitation(invitation.token or "")
            members["bob"] = (bob_auth, bob_member)
            print(f"member   {bob_email:<28} {bob_member.role:<6} in {acme.name} (accepted an invitation)")

            # the app, per request: a store acting as the signed-in user (RLS decides)
            bob = service.as_user(bob_auth)
            conv = bob.conversations.create("Refund question")
            bob.messages.append(conv.id, role="user", content="Can I get a refund for order 1042?")
            # assistant turns come from the app's back end, for the member whose thread it is
            answer = service.for_member(acme.id, bob_member.id).messages.append(
                conv.id,
                role="assistant",
                content="Yes: refunds for order 1042 reach your card within 5 days.",
                model="gpt-4o-mini",
                token_count=18,
                latency_ms=640,
            )
            bob.feedback.rate(answer.id, +1, comment="spot on")
            thread = bob.conversations.thread(conv.id)
            print(f"thread   {thread.conversation.title!r}: {thread.conversation.message_count} messages")
            for message in thread.messages:
                print(f"  {message.role:<9} {message.content}")
            print(f"search   'refund card' finds {len(bob.messages.search('refund card'))} message(s)")

            # usage, buffered off the hot path and written in batches by the service role
            with UsageRecorder(service) as recorder:
                for prompt, completion in ((12, 0), (40, 18)):  # the two turns above
                    recorder.record(
                        acme.id,
                        members["bob"][1].id,
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        cost_usd=Decimal("0.00042"),
                    )
            service.usage.refresh_summaries()

            # Acme's owner sees the whole tenant
            for row in ada.usage.today():
                print(
                    f"today    {row.request_count} requests, {row.total_tokens} tokens, ${row.cost_usd} (bob)"
                )
            for month in ada.usage.monthly():
                days = month.active_days
                print(f"monthly  {month.month:%Y-%m}: {month.total_tokens} tokens over {days} day(s)")
            for summary in ada.feedback.summary(conv.id):
                print(f"feedback {summary.positive_count} up, {summary.negative_count} down on the answer")

            # Globex's owner asks for Acme's conversation: the database says there is none
            gus = service.as_user(members["gus"][0])
            try:
                gus.conversations.get(conv.id)
                print("cross-tenant read ALLOWED (this must not happen)")
                raise SystemExit(1)
            except NotFound as refused:
                print(f"refused  Globex reading Acme's thread: {refused}")
        finally:
            with psycopg.connect(dsn) as conn:
                conn.execute("delete from public.tenants where id = any(%s)", (tenants,))
                conn.execute("delete from auth.users where id = any(%s)", (people,))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:54330/postgres")
