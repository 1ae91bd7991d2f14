"""A stand-in for Microsoft Entra ID on loopback: OpenID discovery and the token endpoint over HTTPS,
and, over plain HTTP, the introspection URL Dovecot's ``oauth2`` passdb asks about each token.

The token endpoint does what Entra ID does for app-only client credentials: it checks the
client id, the scope, and the credential (the client secret, or the client assertion, a JWT
signed with the certificate's key, checked with PyJWT against the certificate), then issues
an opaque token. Introspection answers ``active`` for a token it issued and has not revoked.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509

from intake.sources.m365 import SCOPE


class Entra:
    def __init__(self, *, tenant: str, client_id: str, user: str, context: ssl.SSLContext) -> None:
        self.tenant, self.client_id, self.user = tenant, client_id, user
        self.reset()
        self._https = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._https_answer))
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._http_answer))
        self.authority = f"https://127.0.0.1:{self._https.server_address[1]}"
        self.introspection_url = f"http://127.0.0.1:{self._http.server_address[1]}/introspect"
        self.token_url = f"{self.authority}/{tenant}/oauth2/v2.0/token"
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self._https, self._http)]
        for thread in self._threads:
            thread.start()

    def reset(self) -> None:
        """Forgets every credential, token and request, for the next test."""
        self.secret: str | None = None
        self.certificate: x509.Certificate | None = None
        # What the next token requests get: a lifetime, or a refusal (an OAuth error code).
        self.expires_in = 3600
        self.refuse: str | None = None
        self.token_requests: list[dict[str, str]] = []
        self.issued: set[str] = set()
        self.revoked: set[str] = set()
        self.introspected: list[str] = []

    def close(self) -> None:
        for server in (self._https, self._http):
            server.shutdown()
            server.server_close()

    def _https_answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        base = f"{self.authority}/{self.tenant}"
        if method == "GET" and path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "issuer": f"{base}/v2.0", "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"}
        if method == "POST" and path == f"/{self.tenant}/oauth2/v2.0/token":
            self.token_requests.append(form)
            return self._token(form)
        return 404, {"error": "not_found"}

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.refuse:
            return 401, {"error": self.refuse, "error_description": "AADSTS7000222: The provided client secret "
                         "keys for app are expired.\r\nTrace ID: 1"}
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id:
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown client"}
        if form.get("scope") != SCOPE:
            return 400, {"error": "invalid_scope", "error_description": "AADSTS70011: wrong scope"}
        if not self._credential_ok(form):
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}
        token = secrets.token_urlsafe(24)
        self.issued.add(token)
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                     "access_token": token}

    def _credential_ok(self, form: dict[str, str]) -> bool:
        if self.secret is not None:
            return form.get("client_secret") == self.secret
        if self.certificate is None or "client_assertion" not in form:
            return False
        try:
            claims = jwt.decode(form["client_assertion"], self.certificate.public_key(),  # type: ignore[arg-type]
                                algorithms=["PS256", "RS256"], audience=self.token_url)
        except jwt.InvalidTokenError:
            return False
        return bool(claims.get("iss") == claims.get("sub") == self.client_id and claims.get("exp", 0) > time.time())

    def _http_answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if method != "POST" or path != "/introspect":
            return 404, {"error": "not_found"}
        token = form.get("token", "")
        self.introspected.append(token)
        if token in self.issued and token not in self.revoked:
            return 200, {"active": True, "username": self.user}
        return 200, {"active": False}


def _handler(answer: Callable[[str, str, dict[str, str]], tuple[int, dict[str, Any]]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = {key: values[0] for key, values in parse_qs(body).items()}
            status, payload = answer(method, self.path.split("?", 1)[0], form)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
