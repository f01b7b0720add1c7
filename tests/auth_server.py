"""A Supabase-like auth server for tests: an ES256 signing key whose public half is served
as the project's JWKS over real HTTP, and tokens signed with it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER_PATH = "/auth/v1"


class AuthServer:
    def __init__(self, kid: str = "key-1") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid
        self.fetches: list[str] = []  # the paths asked for, in order
        jwk = {
            **ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True),
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        }
        body = json.dumps({"keys": [jwk]}).encode()
        fetches = self.fetches

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fetches.append(self.path)
                if self.path != ISSUER_PATH + "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, *, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        """A user's access token as the project issues it; ``claims`` add to or replace the
        usual ones (None leaves one out); ``key``/``kid`` sign it otherwise."""
        now = int(time.time())
        payload = {
            "sub": str(uuid.uuid4()),
            "role": "authenticated",
            "aud": "authenticated",
            "iss": self.url + ISSUER_PATH,
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.key, algorithm="ES256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
