"""Who a call acts as, and how a Supabase access token becomes that.

:class:`Identity` is the claims PostgREST would put in ``request.jwt.claims``: an API role,
for ``authenticated`` the Supabase Auth user id, and every other claim of the token (email,
``app_metadata``, ``aal``, ``session_id``, ...), so that ``auth.jwt()`` in a policy reads the
same on the psycopg backend as behind the Data API.

:class:`TokenVerifier` checks an access token the way the Data API does before trusting it:
signature (the project's JWKS for asymmetric keys, cached, or the legacy HS256 secret),
``exp``, ``aud`` and ``iss``. A token that fails any check raises :class:`InvalidToken`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args
from uuid import UUID

from supatenant.errors import InvalidToken, Unavailable

ApiRole = Literal["anon", "authenticated", "service_role"]
API_ROLES: frozenset[str] = frozenset(get_args(ApiRole))

# signatures the Supabase Auth server issues: asymmetric signing keys, or the legacy secret
ASYMMETRIC_ALGORITHMS = ("ES256", "RS256", "EdDSA")
SECRET_ALGORITHMS = ("HS256",)

log = logging.getLogger("supatenant.auth")

if TYPE_CHECKING:
    import jwt


@dataclass(frozen=True)
class Identity:
    """An API role, for ``authenticated`` the Supabase Auth user id (``auth.uid()``), and
    the token's other claims, passed whole to the database."""

    role: ApiRole
    auth_user_id: UUID | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.role not in API_ROLES:
            raise InvalidToken(f"role {self.role!r} is not one of {sorted(API_ROLES)}")
        if self.role == "authenticated" and self.auth_user_id is None:
            raise InvalidToken("an authenticated identity needs an auth user id")
        if self.role != "authenticated" and self.auth_user_id is not None:
            raise InvalidToken(f"the {self.role} role acts as no user")
        # a read-only copy: an identity is shared by every call made with it
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))

    @classmethod
    def anon(cls) -> Identity:
        return cls("anon")

    @classmethod
    def service(cls) -> Identity:
        return cls("service_role")

    @classmethod
    def user(cls, auth_user_id: UUID, claims: Mapping[str, Any] | None = None) -> Identity:
        """A signed-in user; ``claims`` are the rest of their token's (``email``, ...)."""
        if not isinstance(auth_user_id, UUID):
            raise InvalidToken(f"an auth user id is a UUID, not {type(auth_user_id).__name__}")
        return cls("authenticated", auth_user_id, claims or {})

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        """The identity a verified token's claims describe."""
        role = claims.get("role")
        if not isinstance(role, str) or role not in API_ROLES:
            raise InvalidToken(f"the token's role {role!r} is not one of {sorted(API_ROLES)}")
        if role != "authenticated":
            return cls(role, None, claims)  # type: ignore[arg-type]  # checked just above
        try:
            user = UUID(str(claims.get("sub")))
        except ValueError:
            raise InvalidToken("an authenticated token's sub claim is not a user id") from None
        return cls("authenticated", user, claims)

    def claims_json(self) -> str:
        """The JWT claims, as the JSON text PostgREST sets for a request with this token."""
        claims: dict[str, Any] = {**self.claims, "role": self.role}
        if self.auth_user_id is not None:
            claims["sub"] = str(self.auth_user_id)
            claims.setdefault("aud", "authenticated")
        return json.dumps(claims, default=str)


MAX_TOKEN = 16_384  # characters: Supabase's tokens are about one thousand


def unverified_claims(access_token: str) -> dict[str, Any]:
    """A token's payload, read and NOT verified; a token that is not a JWT raises
    :class:`InvalidToken` (it would otherwise be taken for no token at all)."""
    if not isinstance(access_token, str):
        raise InvalidToken(f"an access token is a string, not {type(access_token).__name__}")
    if len(access_token) > MAX_TOKEN:
        raise InvalidToken(f"the access token is longer than {MAX_TOKEN} characters")
    parts = access_token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the access token is not a JWT (three dot-separated parts)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken("the access token's payload is not base64url-encoded JSON") from None
    if not isinstance(payload, dict):
        raise InvalidToken("the access token's payload is not a JSON object")
    return payload


def token_subject(access_token: str) -> UUID | None:
    """The user id of a Supabase access token, or None for a key acting as no user (anon,
    service role). Read, not verified: PostgREST verifies the token on every request; this
    tells the store whose membership to look up. A malformed token raises InvalidToken."""
    return Identity.from_claims(unverified_claims(access_token)).auth_user_id


class TokenVerifier:
    """Verifies Supabase access tokens with PyJWT.

    ``jwks_url`` (the project's ``/auth/v1/.well-known/jwks.json``) verifies tokens signed
    with the project's asymmetric keys; the key set is fetched once and cached for
    ``jwks_lifespan`` seconds, and again when a token names an unknown key id. ``jwt_secret``
    verifies tokens signed with the legacy HS256 secret. ``exp`` is required; ``aud`` must
    match ``audience`` and ``iss`` must equal ``issuer`` when given.
    """

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        jwt_secret: str | None = None,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = "authenticated",
        leeway: float = 0.0,
        jwks_lifespan: int = 600,
        timeout: float = 5.0,
    ) -> None:
        if jwks_url is None and not jwt_secret:
            raise ValueError("a token verifier needs a JWKS URL, a JWT secret, or both")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._secret = jwt_secret or None
        import jwt  # PyJWT and cryptography load when tokens are verified, not on `import supatenant`

        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=jwks_lifespan, timeout=timeout)
            if jwks_url is not None
            else None
        )

    @classmethod
    def for_project(
        cls, supabase_url: str, *, jwt_secret: str | None = None, audience: str | None = "authenticated"
    ) -> TokenVerifier:
        """A verifier for a Supabase project: its JWKS, its issuer, and optionally its legacy secret."""
        auth = supabase_url.rstrip("/") + "/auth/v1"
        return cls(
            jwks_url=auth + "/.well-known/jwks.json", jwt_secret=jwt_secret, issuer=auth, audience=audience
        )

    def verify(self, access_token: str) -> Identity:
        """The identity of a valid token; :class:`InvalidToken` for any other."""
        claims = self.verified_claims(access_token)
        return Identity.from_claims(claims)

    def verified_claims(self, access_token: str) -> dict[str, Any]:
        import jwt

        unverified_claims(access_token)  # the same clear error for what is not a JWT at all
        try:
            header = jwt.get_unverified_header(access_token)
        except (jwt.PyJWTError, RecursionError) as e:
            raise InvalidToken(f"the access token's header is unreadable: {e}") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm in SECRET_ALGORITHMS:
            if self._secret is None:
                raise InvalidToken("the token is signed with a shared secret; no JWT secret is configured")
            key, allowed = self._secret, list(SECRET_ALGORITHMS)
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if self._jwks is None:
                raise InvalidToken("the token is signed with a signing key, and no JWKS URL is configured")
            key, allowed = self._signing_key(access_token, algorithm), [algorithm]
        else:
            raise InvalidToken(f"the token's algorithm {algorithm!r} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                access_token,
                key,
                algorithms=allowed,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as e:
            # PyJWT's own refusals, and what a key or payload it cannot use raises
            raise InvalidToken(f"the access token is not valid: {e}") from None
        return claims

    def _signing_key(self, access_token: str, algorithm: str) -> Any:
        """The project's key the token names (``kid``), when it is a key for ``algorithm``."""
        import jwt

        assert self._jwks is not None
        try:
            found = self._jwks.get_signing_key_from_jwt(access_token)
        except jwt.PyJWKClientConnectionError as e:
            log.warning("cannot fetch the signing keys: %s", e)
            raise Unavailable(f"the project's signing keys could not be fetched: {e}") from e
        except jwt.PyJWTError as e:
            raise InvalidToken(f"the token's signing key is not the project's: {e}") from None
        rsa_either_way = found.key_type == "RSA" and algorithm[:2] in ("RS", "PS")
        if found.algorithm_name != algorithm and not rsa_either_way:
            # the key set says what each key signs with; a token claiming another algorithm
            # for it is refused before the key is put to a use it is not for
            raise InvalidToken(f"the token says {algorithm}, and its key signs with {found.algorithm_name}")
        return found.key
