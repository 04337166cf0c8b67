"""Sessions (Bearer tokens) and the OAuth 2.0 token endpoint.

Grants: password, client_credentials, refresh_token (a refresh token issued to the connected app
when the sandbox was created, as the web-server flow would have), and the JWT bearer flow
(an RS256 assertion signed with the key whose certificate the connected app holds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import Response

from acm_sync.sandbox.salesforce.common import json_response


@dataclass(frozen=True)
class SalesforceCredentials:
    """The one user who can log in, and the connected app's consumer key / secret."""

    username: str
    password: str
    security_token: str
    consumer_key: str
    consumer_secret: str
    refresh_token: str = ""
    jwt_public_key: str = ""  # PEM; empty: the connected app has no certificate (no JWT flow)


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audiences Salesforce accepts for a JWT assertion; the sandbox's own login host too.
JWT_AUDIENCES = (
    "https://login.salesforce.com",
    "https://test.salesforce.com",
    "https://acm-sandbox.salesforce.com",
)


@dataclass
class Session:
    token: str
    user_id: str
    issued: float
    last_used: float


class Sessions:
    """Access tokens in memory; one expires `ttl` seconds after its last use (inactivity)."""

    def __init__(self, org_id: str, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.org_id = org_id
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str) -> Session:
        # Real session ids: the 15-character org id, '!', then an opaque string.
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        now = self.clock()
        session = Session(token, user_id, now, now)
        with self._lock:
            self._prune(now)
            self._sessions[token] = session
        return session

    def get(self, token: str) -> Session | None:
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.last_used > self.ttl:
                del self._sessions[token]
                return None
            session.last_used = now
            return session

    def revoke(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(token, None) is not None

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def _prune(self, now: float) -> None:
        if len(self._sessions) > 10_000:
            self._sessions = {
                k: s for k, s in self._sessions.items() if now - s.last_used <= self.ttl
            }


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


async def token_endpoint(
    request: Request,
    *,
    credentials: SalesforceCredentials,
    sessions: Sessions,
    user_id: str,
    instance_url: str,
) -> Response:
    """POST /services/oauth2/token: the password and client_credentials grants."""
    body = (await request.body()).decode("utf-8", "replace")
    form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    for k, v in request.query_params.items():
        form.setdefault(k, v)
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error("invalid_client", "invalid client credentials")
        client_id, _, client_secret = decoded.partition(":")
    grant = form.get("grant_type")
    if grant == JWT_GRANT:
        failure = _check_jwt(form.get("assertion", ""), credentials, instance_url)
        if failure:
            return _oauth_error("invalid_grant", failure)
        return _issue(credentials, sessions, user_id, instance_url, scope="api")
    if grant not in ("password", "client_credentials", "refresh_token"):
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if client_id != credentials.consumer_key:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(client_secret or "", credentials.consumer_secret):
        return _oauth_error("invalid_client", "invalid client credentials")
    if grant == "password":
        username, password = form.get("username", ""), form.get("password", "")
        expected = credentials.password + credentials.security_token
        if username.lower() != credentials.username.lower() or not (
            hmac.compare_digest(password, expected)
        ):
            return _oauth_error("invalid_grant", "authentication failure")
    if grant == "refresh_token" and not (
        credentials.refresh_token
        and hmac.compare_digest(form.get("refresh_token", ""), credentials.refresh_token)
    ):
        return _oauth_error("invalid_grant", "expired access/refresh token")
    scope = (
        None
        if grant == "password"
        else ("api refresh_token" if grant == "refresh_token" else "api")
    )
    return _issue(credentials, sessions, user_id, instance_url, scope=scope)


def _check_jwt(assertion: str, credentials: SalesforceCredentials, instance_url: str) -> str:
    """Why the JWT bearer assertion is refused ("" when it is good), in Salesforce's words."""
    if not credentials.jwt_public_key:
        return "invalid assertion"
    try:
        claims = jwt.decode(
            assertion,
            credentials.jwt_public_key,
            algorithms=["RS256"],
            audience=[*JWT_AUDIENCES, instance_url],
            options={"require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidAudienceError:
        return "audience is invalid"
    except jwt.ExpiredSignatureError:
        return "expired authorization code"
    except jwt.PyJWTError:
        return "invalid assertion"
    if claims["iss"] != credentials.consumer_key:
        return "invalid_client_id"
    if str(claims["sub"]).lower() != credentials.username.lower():
        return "user hasn't approved this consumer"
    return ""


def _issue(
    credentials: SalesforceCredentials,
    sessions: Sessions,
    user_id: str,
    instance_url: str,
    *,
    scope: str | None,
) -> Response:
    session = sessions.issue(user_id)
    issued_at = str(int(session.issued * 1000))
    identity = f"{instance_url}/id/{sessions.org_id}/{user_id}"
    signature = base64.b64encode(
        hmac.new(
            credentials.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    payload = {
        "access_token": session.token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
    }
    if scope:
        payload["scope"] = scope
    return json_response(payload)
