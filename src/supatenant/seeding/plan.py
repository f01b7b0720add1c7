"""What to seed: every row derived from the seed and its position, so runs are repeatable.

Pure: no I/O. ``tenant_rows(sizes, seed, index)`` returns one tenant's rows; the same
arguments always give the same rows, whatever else is seeded and in whatever order.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

PLANS = ("free", "pro", "team", "enterprise")
MODELS = (
    ("gpt-4o-mini", Decimal("0.00000015"), Decimal("0.0000006")),
    ("claude-3-5-haiku", Decimal("0.0000008"), Decimal("0.000004")),
)
FIRST = (
    "ada",
    "bob",
    "cyd",
    "dee",
    "eli",
    "fay",
    "gus",
    "hal",
    "ivy",
    "jon",
    "kim",
    "lea",
    "max",
    "nia",
    "oto",
    "pia",
)
LAST = (
    "lovelace",
    "hopper",
    "turing",
    "noether",
    "curie",
    "ramanujan",
    "franklin",
    "shannon",
    "liskov",
    "knuth",
)
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Soylent",
)
KINDS = ("Support", "Help Desk", "Care", "Assist", "Concierge")
TOPICS = (
    (
        "refund",
        "Can I get a refund for order {n}?",
        "Yes: the refund for order {n} reaches your card within 5 days.",
    ),
    (
        "password",
        "I can't reset my password.",
        "Use 'Forgot password' on the sign-in page; the link lasts an hour.",
    ),
    (
        "invoice",
        "My invoice {n} was charged twice.",
        "I've flagged invoice {n}; the duplicate charge will be reversed.",
    ),
    ("shipping", "Where is parcel {n}?", "Parcel {n} left the warehouse yesterday and arrives Thursday."),
    (
        "upgrade",
        "How do I move to the team plan?",
        "Open Billing, choose Team, and confirm; it applies at once.",
    ),
    (
        "api",
        "The API returns 429 for key {n}.",
        "Key {n} hit its rate limit; requests resume after a minute.",
    ),
)
SYSTEM_PROMPT = "You are a concise, friendly support assistant. Answer from the help center only."


@dataclass(frozen=True)
class Sizes:
    tenants: int = 3
    users_per_tenant: int = 4
    conversations_per_user: int = 2
    messages_per_conversation: int = 6
    feedback_rate: float = 0.3
    days: int = 30

    def problems(self) -> list[str]:
        out = [
            f"{name} must be at least {low}"
            for name, value, low in (
                ("tenants", self.tenants, 1),
                ("users-per-tenant", self.users_per_tenant, 1),
                ("conversations-per-user", self.conversations_per_user, 0),
                ("messages-per-conversation", self.messages_per_conversation, 0),
                ("days", self.days, 1),
            )
            if value < low
        ]
        if not 0 <= self.feedback_rate <= 1:
            out.append("feedback-rate must be between 0 and 1")
        if (
            self.tenants
            * self.users_per_tenant
            * self.conversations_per_user
            * self.messages_per_conversation
            > 50_000_000
        ):
            out.append("more than 50,000,000 messages: split the run")
        return out


PRESETS = {
    "tiny": Sizes(2, 3, 1, 4, 0.5, 3),
    "demo": Sizes(5, 8, 4, 10, 0.3, 30),
    "load": Sizes(100, 20, 25, 20, 0.2, 90),  # 1,000,000 messages
}


@dataclass
class TenantRows:
    tenant: dict[str, Any]
    auth_users: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)


def key(seed: int, *parts: object) -> UUID:
    return uuid5(NAMESPACE_URL, "supatenant-seed:" + ":".join(map(str, (seed, *parts))))


def keys(seed: int, *parts: object) -> Callable[[int], UUID]:
    """``keys(seed, *parts)(n) == key(seed, *parts, n)``, hashing the common prefix once."""
    prefix = hashlib.sha1(NAMESPACE_URL.bytes, usedforsecurity=False)
    prefix.update(("supatenant-seed:" + ":".join(map(str, (seed, *parts))) + ":").encode())

    def last(n: int) -> UUID:
        h = prefix.copy()
        h.update(str(n).encode())
        return UUID(bytes=h.digest()[:16], version=5)

    return last


MICRO = Decimal("0.000001")

# the fixed end of the span for the committed supabase/seed.sql, so it never changes by itself
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def today() -> datetime:
    """Midnight UTC today: the default end of the seeded span (so today's usage view has rows)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def tenant_rows(sizes: Sizes, seed: int, index: int, end: datetime) -> TenantRows:
    """One tenant and everything in it."""
    return threads(members(sizes, seed, index, end), sizes, seed, index, end)


def members(sizes: Sizes, seed: int, index: int, end: datetime) -> TenantRows:
    """A tenant and its members only: what conflicts are checked on and credentials list."""
    rnd = random.Random(f"{seed}:{index}")
    tenant_id = key(seed, "tenant", index)
    company = f"{COMPANIES[index % len(COMPANIES)]} {KINDS[rnd.randrange(len(KINDS))]}"
    slug = f"seed{seed}-{index}"
    active_tenant = index % 17 != 16  # an occasional inactive tenant, never in small runs
    rows = TenantRows(
        {
            "id": tenant_id,
            "name": company if index < len(COMPANIES) else f"{company} {index}",
            "slug": slug,
            "plan": PLANS[rnd.randrange(len(PLANS))] if index else "pro",
            "is_active": active_tenant,
            "settings": {"seeded": True, "tone": rnd.choice(("friendly", "formal"))},
            "created_at": end - timedelta(days=sizes.days + 1),
            "updated_at": end - timedelta(days=sizes.days + 1),
        }
    )
    for u in range(sizes.users_per_tenant):
        role = "owner" if u == 0 else "admin" if u == 1 else "member"
        active = u < 2 or rnd.random() > 0.1
        first, last = FIRST[(index + u) % len(FIRST)], LAST[(index * 3 + u) % len(LAST)]
        email = f"{first}.{last}.{u}@{slug}.example.test"
        auth_id, member_id = key(seed, "auth", index, u), key(seed, "member", index, u)
        # no password here: the seed number is public (supatenant.seeding.api.Passwords gives them)
        rows.auth_users.append({"id": auth_id, "email": email})
        rows.users.append(
            {
                "id": member_id,
                "tenant_id": tenant_id,
                "auth_id": auth_id,
                "email": email,
                "display_name": f"{first.title()} {last.title()}",
                "role": role,
                "is_active": active,
                "created_at": rows.tenant["created_at"],
                "updated_at": rows.tenant["created_at"],
            }
        )
        rows.credentials.append(
            {
                "email": email,
                "auth_id": str(auth_id),
                "member_id": str(member_id),
                "tenant_id": str(tenant_id),
                "tenant_slug": slug,
                "role": role,
                "active": active and active_tenant,
            }
        )
    return rows


def threads(rows: TenantRows, sizes: Sizes, seed: int, index: int, end: datetime) -> TenantRows:
    """Fill in the tenant's conversations, messages, feedback and the usage they add up to."""
    rnd = random.Random(f"{seed}:{index}:threads")
    usage: dict[tuple[UUID, date], list[Any]] = {}
    for u, member in enumerate(rows.users):
        for c in range(sizes.conversations_per_user):
            _conversation(rows, rnd, sizes, seed, (index, u, c), member["id"], end, usage)
    tenant_id = rows.tenant["id"]
    rows.usage = [
        {
            "tenant_id": tenant_id,
            "user_id": member,
            "usage_date": day,
            "request_count": total[0],
            "prompt_tokens": total[1],
            "completion_tokens": total[2],
            "cost_usd": total[3],
            "updated_at": end,
        }
        for (member, day), total in sorted(usage.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]
    return rows


def _conversation(
    rows: TenantRows,
    rnd: random.Random,
    sizes: Sizes,
    seed: int,
    at: tuple[int, int, int],
    member_id: UUID,
    end: datetime,
    usage: dict[tuple[UUID, date], list[Any]],
) -> None:
    # the hot loop of a large seed: draws come from one random() each, ids from a shared prefix
    draw = rnd.random
    tenant_id = rows.tenant["id"]
    conversation_id = key(seed, "conversation", *at)
    message_id, feedback_id = keys(seed, "message", *at), keys(seed, "feedback", *at)
    topic, ask, answer = TOPICS[rnd.randrange(len(TOPICS))]
    number = rnd.randrange(1000, 9999)
    ask, answer = ask.format(n=number), answer.format(n=number)
    tool_calls = [{"name": "lookup_" + topic, "arguments": {"ref": str(number)}}]
    started = end - timedelta(seconds=rnd.randrange(sizes.days * 86400))
    latest = end - timedelta(microseconds=1)
    when = started
    last = None
    with_system = draw() < 0.3
    for m in range(sizes.messages_per_conversation):
        role = "system" if with_system and m == 0 else "user" if (m - with_system) % 2 == 0 else "assistant"
        when = min(when + timedelta(seconds=5 + int(draw() * 85)), latest)
        message: dict[str, Any] = {
            "id": message_id(m),
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "user_id": member_id,
            "role": role,
            "content": SYSTEM_PROMPT if role == "system" else ask if role == "user" else answer,
            "tool_calls": None,
            "model": None,
            "token_count": None,
            "latency_ms": None,
            "metadata": {},
            "created_at": when,
            # written as streamed and closed: complete, in order, assistant replies metered
            "seq": m + 1,
            "status": "complete",
            "prompt_tokens": None,
            "completion_tokens": None,
            "cost_usd": None,
            "completed_at": when,
            "metered_at": None,
        }
        if role == "assistant":
            model, prompt_price, completion_price = MODELS[int(draw() * len(MODELS))]
            prompt, completion = 40 + int(draw() * 1160), 10 + int(draw() * 390)
            cost = (prompt * prompt_price + completion * completion_price).quantize(MICRO)
            message["model"] = model
            message["token_count"] = completion
            message["latency_ms"] = 200 + int(draw() * 3800)
            message["metadata"] = {"prompt_tokens": prompt, "cost_usd": str(cost)}
            message["prompt_tokens"], message["completion_tokens"], message["cost_usd"] = (
                prompt,
                completion,
                cost,
            )
            message["metered_at"] = when
            if draw() < 0.2:
                message["tool_calls"] = tool_calls
            total = usage.get((member_id, when.date()))
            if total is None:
                total = usage[(member_id, when.date())] = [0, 0, 0, Decimal(0)]
            total[0] += 1
            total[1] += prompt
            total[2] += completion
            total[3] += cost
            if draw() < sizes.feedback_rate:
                positive = draw() < 0.8
                rated = when + timedelta(seconds=30)
                rows.feedback.append(
                    {
                        "id": feedback_id(m),
                        "tenant_id": tenant_id,
                        "message_id": message["id"],
                        "user_id": member_id,
                        "rating": 1 if positive else -1,
                        "comment": None
                        if draw() < 0.6
                        else ("Helpful, thanks" if positive else "Not what I asked"),
                        "created_at": rated,
                        "updated_at": rated,
                    }
                )
        elif role == "user":
            message["token_count"] = 5 + int(draw() * 75)
        rows.messages.append(message)
        last = when
    rows.conversations.append(
        {
            "id": conversation_id,
            "tenant_id": tenant_id,
            "user_id": member_id,
            "title": f"{topic.title()} question",
            "metadata": {"channel": rnd.choice(("web", "email", "chat"))},
            "is_archived": draw() < 0.1,
            "message_count": sizes.messages_per_conversation,
            "last_message_at": last,
            "created_at": started,
            "updated_at": last or started,
        }
    )
