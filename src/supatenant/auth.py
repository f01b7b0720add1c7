"""Who a call acts as: the claims PostgREST would put in ``request.jwt.claims``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

ApiRole = Literal["anon", "authenticated", "service_role"]


@dataclass(frozen=True)
class Identity:
    """An API role, and for ``authenticated`` the Supabase Auth user id (``auth.uid()``)."""

    role: ApiRole
    auth_user_id: UUID | None = None

    def __post_init__(self) -> None:
        if self.role == "authenticated" and self.auth_user_id is None:
            raise ValueError("an authenticated identity needs an auth user id")

    @classmethod
    def anon(cls) -> Identity:
        return cls("anon")

    @classmethod
    def service(cls) -> Identity:
        return cls("service_role")

    @classmethod
    def user(cls, auth_user_id: UUID) -> Identity:
        return cls("authenticated", auth_user_id)

    def claims_json(self) -> str:
        """The JWT claims, as the JSON text PostgREST sets for a request with this token."""
        claims: dict[str, str] = {"role": self.role}
        if self.auth_user_id is not None:
            claims["sub"] = str(self.auth_user_id)
            claims["aud"] = "authenticated"
        return json.dumps(claims)


def token_subject(access_token: str) -> UUID | None:
    """The ``sub`` claim of a Supabase access token (a user id), or None for a key without one.

    Read, not verified: PostgREST verifies the token on every request; this only tells the
    store whose membership to look up.
    """
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return UUID(payload["sub"]) if payload.get("role") == "authenticated" else None
    except (ValueError, KeyError, TypeError):
        return None
