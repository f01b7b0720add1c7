"""The data the schema benchmarks run on, and the scratch database they run in.

``load`` fills a migrated database with TENANTS tenants of MEMBERS_PER_TENANT members
each (the first an admin, the rest members), their conversations and messages, feedback
and daily usage in every tenant, and optionally many more conversations in one tenant
(BIG_TENANT_SLUG). Content is drawn from VOCABULARY, so full-text searches match a
realistic share of messages rather than all or none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from supatenant import database, embedded

TENANTS = 100
MEMBERS_PER_TENANT = 10
MESSAGES_PER_CONVERSATION = 100
WORDS_PER_MESSAGE = 8
USAGE_DAYS = 180
BIG_TENANT_SLUG = "bench-1"

# a message is WORDS_PER_MESSAGE words drawn from these 103: each word is in about 7.5 % of messages
_WORDS = """
account address agent answer api billing bug button cache cancel card change charge
chat checkout code config contract coupon credit customer dashboard data deadline
delivery discount document domain download email error estimate export feature file
form guide history import install integration invoice issue key language launch license
limit login manager message migration mobile model network order outage package page
password payment plan policy price privacy product profile quota receipt record refund
region release report request reset return review schedule search security server
setting shipping signup sla storage subscription support sync tax team ticket timezone
token trial update upgrade upload user warranty webhook workflow
"""
VOCABULARY = _WORDS.split()


@contextmanager
def scratch_database(prefix: str = "supatenant_bench") -> Iterator[str]:
    """A freshly migrated database (on DATABASE_URL's server, else the embedded one), dropped after."""
    server = os.environ.get("DATABASE_URL") or embedded.start()
    url = database.create_database(server, prefix)
    try:
        database.prepare(url)
        yield url
    finally:
        database.drop_database(url)


def load(url: str, messages: int, conversations_per_tenant: int = 0) -> None:
    """Bulk-load the benchmark data; ``messages`` messages in all, over every tenant alike.

    Besides the threads that carry the messages, the tenant BIG_TENANT_SLUG gets empty
    conversations up to ``conversations_per_tenant`` in all (updated over the past year).
    Every tenant gets feedback from conversation owners on about a fifth of the assistant
    messages and a usage row per member per day over USAGE_DAYS days; the summaries are
    refreshed at the end. Triggers are bypassed for the load (session_replication_role =
    replica) and the conversation counters they would keep are set in one statement afterwards.
    """
    per_member = max(1, messages // (TENANTS * MEMBERS_PER_TENANT * MESSAGES_PER_CONVERSATION))
    extra = max(0, conversations_per_tenant - per_member * MEMBERS_PER_TENANT)
    # random() per row and per word; a correlated expression, so never computed once for all rows
    word = f"w.v[1 + floor(random() * {len(VOCABULARY)})::int]"
    content = " || ' ' || ".join([word] * WORDS_PER_MESSAGE)
    with psycopg.connect(url) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute("select setseed(0.42)")
        conn.execute(
            "insert into tenants (id, name, slug) select gen_random_uuid(), 'Bench ' || t, 'bench-' || t"
            " from generate_series(1, %s) t",
            (TENANTS,),
        )
        conn.execute(
            "insert into auth.users (id, email) select gen_random_uuid(), 'bench' || n || '@example.test'"
            " from generate_series(1, %s) n",
            (TENANTS * MEMBERS_PER_TENANT,),
        )
        conn.execute(
            "insert into users (tenant_id, auth_id, email, role)"
            " select t.id, a.id, a.email, case when a.n %% %s = 0 then 'admin' else 'member' end"
            " from (select id, row_number() over (order by id) - 1 as n from tenants) t"
            " join (select id, email, row_number() over (order by id) - 1 as n from auth.users) a"
            "   on a.n / %s = t.n",
            (MEMBERS_PER_TENANT, MEMBERS_PER_TENANT),
        )
        conn.execute(
            "insert into conversations (tenant_id, user_id, title)"
            " select u.tenant_id, u.id, 'c' || g from users u, generate_series(1, %s) g",
            (per_member,),
        )
        conn.execute(
            "with w as (select %s::text[] as v)"
            " insert into messages (tenant_id, conversation_id, user_id, role, content, token_count,"
            " created_at, seq)"
            " select c.tenant_id, c.id, c.user_id, case when g %% 2 = 0 then 'assistant' else 'user' end,"
            f"  {content}, 40, now() - (g || ' seconds')::interval, %s + 1 - g"
            " from w, conversations c, generate_series(1, %s) g",
            (VOCABULARY, MESSAGES_PER_CONVERSATION, MESSAGES_PER_CONVERSATION),
        )
        conn.execute(
            "update conversations c set message_count = m.n, last_message_at = m.last"
            " from (select tenant_id, conversation_id, count(*) n, max(created_at) last"
            "       from messages group by 1, 2) m"
            " where m.tenant_id = c.tenant_id and m.conversation_id = c.id"
        )
        conn.execute(
            "insert into conversations (tenant_id, user_id, title, created_at, updated_at)"
            " select u.tenant_id, u.id, 'older ' || s.g, s.at, s.at"
            " from (select g, now() - random() * interval '365 days' as at"
            "       from generate_series(1, %s) g) s"
            " join (select tenant_id, id, row_number() over (order by id) - 1 as n from users"
            "       where tenant_id = (select id from tenants where slug = %s)) u"
            "   on u.n = s.g %% %s",
            (extra, BIG_TENANT_SLUG, MEMBERS_PER_TENANT),
        )
        conn.execute(
            "insert into feedback (tenant_id, message_id, user_id, rating)"
            " select tenant_id, id, user_id, case when random() < 0.8 then 1 else -1 end"
            " from messages where role = 'assistant' and random() < 0.2"
        )
        conn.execute(
            "insert into usage_metrics (tenant_id, user_id, usage_date, request_count, prompt_tokens,"
            " completion_tokens, cost_usd)"
            " select tenant_id, user_id, d, r, r * 800, r * 160, r * 0.003"
            " from (select u.tenant_id, u.id as user_id, d::date as d, 1 + floor(random() * 40)::int as r"
            "       from users u,"
            "       generate_series(current_date - %s, current_date - 1, interval '1 day') d) s",
            (USAGE_DAYS,),
        )
        # the tenants' daily totals, which the usage_metrics triggers would have kept
        conn.execute(
            "insert into private.tenant_daily_usage"
            " (tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)"
            " select tenant_id, usage_date, sum(request_count), sum(prompt_tokens), sum(completion_tokens),"
            " sum(cost_usd) from usage_metrics group by 1, 2"
        )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
        conn.execute("select public.refresh_summaries()")
        conn.execute("vacuum analyze private.message_feedback_summary, private.monthly_usage_summary")
