"""Cookie sessions for the web pages: a signed (HMAC-SHA256) cookie that holds the signed-in user,
the hash of the token they signed in with, an expiry and a CSRF token.

The cookie never holds the token itself. Every request re-checks the token's hash, so revoking a
token (``shopflow tokens revoke``) signs its sessions out at once. Every visitor, signed in or
not, has a CSRF token; each form carries it in a hidden field and every POST compares the two.
Signing in issues a fresh session (and CSRF token), so a session planted before sign-in is worth
nothing after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from shopflow.api.auth import ROLES, User, hash_token
from shopflow.db import session_scope
from shopflow.models import ApiToken
from shopflow.settings import Settings

COOKIE = "shopflow_ui"
CSRF_FIELD = "csrf_token"


@dataclass
class UiSession:
    csrf: str
    exp: int
    user: User | None = None
    token_hash: str | None = None
    fresh: bool = field(default=False, compare=False)  # not from the request: set the cookie


class Signer:
    """Signs and checks session cookies. ``key`` None: the UI refuses to sign anyone in."""

    def __init__(self, key: bytes | None, ttl_seconds: int, secure: bool) -> None:
        self.key, self.ttl, self.secure = key, ttl_seconds, secure

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        if settings.ui_secret:
            key: bytes | None = settings.ui_secret.encode()
        elif settings.env != "prod":
            key = secrets.token_bytes(32)  # per process: a restart signs everyone out
        else:
            key = None
        return cls(key, int(settings.ui_session_ttl.total_seconds()),
                   settings.public_url.startswith("https://"))

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def _sign(self, payload: bytes) -> str:
        assert self.key is not None
        return _b64(hmac.new(self.key, payload, hashlib.sha256).digest())

    def dump(self, s: UiSession) -> str:
        body: dict[str, Any] = {"c": s.csrf, "e": s.exp}
        if s.user is not None:
            body |= {"u": s.user.name, "r": s.user.role, "h": s.token_hash}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload.encode())}"

    def load(self, cookie: str | None) -> UiSession | None:
        if not cookie or self.key is None or cookie.count(".") != 1 or len(cookie) > 2000:
            return None
        payload, sig = cookie.split(".")
        if not hmac.compare_digest(sig, self._sign(payload.encode())):
            return None
        try:
            body = json.loads(_unb64(payload))
            exp, csrf = int(body["e"]), str(body["c"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp < time.time():
            return None
        user = None
        if "u" in body:
            user = User(name=str(body["u"]), role=str(body["r"]))
        return UiSession(csrf=csrf, exp=exp, user=user, token_hash=body.get("h"))

    def new(self, user: User | None = None, token_hash: str | None = None) -> UiSession:
        return UiSession(csrf=secrets.token_urlsafe(24), exp=int(time.time()) + self.ttl,
                         user=user, token_hash=token_hash, fresh=True)


def token_user(engine: Engine, token: str, dev: bool) -> tuple[User, str] | None:
    """Who a token belongs to (the API's own rule), and the hash the session keeps."""
    from shopflow.api.auth import authenticate

    user = authenticate(engine, token, dev)
    return (user, hash_token(token)) if user else None


def still_valid(engine: Engine, s: UiSession, dev: bool) -> bool:
    """The session's token still exists, is not revoked, and has the same role."""
    if s.user is None or not s.token_hash:
        return False
    if s.user.role in ROLES and hmac.compare_digest(s.token_hash, hash_token(f"dev-{s.user.role}")):
        return dev and s.user.name == f"dev-{s.user.role}"
    with session_scope(engine, write=False) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == s.token_hash,
                                                  ApiToken.revoked == False)  # noqa: E712
                           ).first()
    return row is not None and row.role == s.user.role and row.name == s.user.name


def csrf_ok(s: UiSession, submitted: object) -> bool:
    return isinstance(submitted, str) and bool(submitted) and hmac.compare_digest(
        submitted.encode(), s.csrf.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
