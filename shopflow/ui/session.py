"""Cookie sessions for the web pages: a signed (HMAC-SHA256) cookie that holds the signed-in user,
the hash of the token they signed in with, a random session id, an expiry and a CSRF token.

The cookie never holds the token itself. A signed-in session is also a server-side row
(``web_sessions``, keyed by the SHA-256 of the session id): signing out deletes it, so a copy
of the old cookie opens nothing; a session unused for ``SHOPFLOW_UI_IDLE_TIMEOUT`` ends. Every
request re-checks the row and the token, so revoking, rotating or expiring a token
(``shopflow tokens revoke``) signs its sessions out at once. Every visitor, signed in or
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
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import col, select

from shopflow.api.auth import ROLES, User, hash_token, is_live
from shopflow.db import session_scope
from shopflow.models import ApiToken, PersonPreference, WebSession
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.ui.i18n import LANGUAGES

COOKIE = "shopflow_ui"
CSRF_FIELD = "csrf_token"
MIN_SECRET_BYTES = 32
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most once a minute


@dataclass
class UiSession:
    csrf: str
    exp: int
    user: User | None = None
    token_hash: str | None = None
    sid: str | None = None  # the server-side session's id (signed-in sessions only)
    fresh: bool = field(default=False, compare=False)  # not from the request: set the cookie
    # zh-CN or en: the switch's choice (also kept in the cookie, for the sign-in page); for a
    # signed-in person their preferences' locale, read with the session's row
    language: str | None = None


class Signer:
    """Signs and checks session cookies. ``key`` None: the UI refuses to sign anyone in."""

    def __init__(self, key: bytes | None, ttl_seconds: int, secure: bool,
                 idle: timedelta = timedelta(hours=1)) -> None:
        self.key, self.ttl, self.secure, self.idle = key, ttl_seconds, secure, idle

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        secret = (settings.ui_secret or "").encode()
        if secret and (len(secret) >= MIN_SECRET_BYTES or settings.env != "prod"):
            key: bytes | None = secret
        elif settings.env != "prod" and not secret:
            key = secrets.token_bytes(32)  # per process: a restart signs everyone out
        else:
            key = None  # production without a long enough secret: nobody signs in
        return cls(key, int(settings.ui_session_ttl.total_seconds()),
                   settings.public_url.startswith("https://"), settings.ui_idle_timeout)

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def _sign(self, payload: bytes) -> str:
        assert self.key is not None
        return _b64(hmac.new(self.key, payload, hashlib.sha256).digest())

    def dump(self, s: UiSession) -> str:
        body: dict[str, Any] = {"c": s.csrf, "e": s.exp}
        if s.language:
            body["l"] = s.language
        if s.user is not None:
            body |= {"u": s.user.name, "r": s.user.role, "h": s.token_hash, "s": s.sid}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload.encode())}"

    def load(self, cookie: str | None) -> UiSession | None:
        if (not cookie or self.key is None or not cookie.isascii() or cookie.count(".") != 1
                or len(cookie) > 2000):
            return None  # not ours (a forged or mangled cookie): a fresh session
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
        language = body.get("l")
        return UiSession(csrf=csrf, exp=exp, user=user, token_hash=body.get("h"),
                         sid=body.get("s"), language=language if language in LANGUAGES else None)

    def new(self, user: User | None = None, token_hash: str | None = None,
            language: str | None = None) -> UiSession:
        return UiSession(csrf=secrets.token_urlsafe(24), exp=int(time.time()) + self.ttl,
                         user=user, token_hash=token_hash, fresh=True, language=language,
                         sid=secrets.token_urlsafe(32) if user is not None else None)


def token_user(engine: Engine, token: str, dev: bool) -> tuple[User, str] | None:
    """Who a token belongs to (the API's own rule), and the hash the session keeps."""
    from shopflow.api.auth import authenticate

    user = authenticate(engine, token, dev)
    return (user, hash_token(token)) if user else None


def open_session(engine: Engine, s: UiSession) -> None:
    """Store a new signed-in session (at sign-in)."""
    assert s.user is not None and s.sid and s.token_hash
    now = utcnow()
    with session_scope(engine) as session:
        session.add(WebSession(id_hash=hash_token(s.sid), user_name=s.user.name, role=s.user.role,
                               token_hash=s.token_hash, created_at=now, last_seen_at=now,
                               expires_at=now + timedelta(seconds=s.exp - int(now.timestamp()))))


def close_session(engine: Engine, s: UiSession) -> None:
    """Sign out: the row goes, and with it whatever copy of the cookie is left anywhere."""
    if s.sid:
        with session_scope(engine) as session:
            session.execute(delete(WebSession).where(col(WebSession.id_hash) == hash_token(s.sid)))


def still_valid(engine: Engine, s: UiSession, dev: bool,
                idle: timedelta | None = None) -> User | None:
    """The session's row exists and has not idled out, and its token still exists, is not
    revoked or expired, and has the same role: the user (with the token's channels), or None."""
    if s.user is None or not s.token_hash or not s.sid:
        return None
    now = utcnow()
    with session_scope(engine, write=False) as session:
        row = session.get(WebSession, hash_token(s.sid))
        token = None
        if row is not None and not _dev_token(s):
            token = session.exec(select(ApiToken).where(ApiToken.token_hash == s.token_hash)).first()
        chosen = session.get(PersonPreference, s.user.name) if row is not None else None
    if chosen is not None and chosen.locale in LANGUAGES:
        s.language = chosen.locale
    if (row is None or row.token_hash != s.token_hash or row.user_name != s.user.name
            or row.role != s.user.role or row.expires_at <= now
            or (idle is not None and now - row.last_seen_at > idle)):
        if row is not None:
            close_session(engine, s)
        return None
    if _dev_token(s):
        user: User | None = s.user if dev and s.user.name == f"dev-{s.user.role}" else None
    elif token is None or not is_live(token, now) or token.role != s.user.role \
            or token.name != s.user.name:
        user = None
    else:
        user = User(token.name, token.role, tuple(token.channels or ()))
    if user is None:
        close_session(engine, s)
    elif now - row.last_seen_at >= SEEN_EVERY:
        with session_scope(engine) as session:
            session.execute(update(WebSession).where(
                col(WebSession.id_hash) == row.id_hash,
                col(WebSession.last_seen_at) < now - SEEN_EVERY).values(last_seen_at=now))
    return user


def _dev_token(s: UiSession) -> bool:
    assert s.user is not None and s.token_hash is not None
    return s.user.role in ROLES and hmac.compare_digest(
        s.token_hash, hash_token(f"dev-{s.user.role}"))


def remember_language(engine: Engine, person: str, language: str) -> None:
    """The person's language from now on, whatever browser they sign in from: their
    preferences' ``locale`` (the language of their notices too; ``/ui/me`` sets the same)."""
    with session_scope(engine) as session:
        row = session.get(PersonPreference, person, with_for_update=True)
        if row is None:
            session.add(PersonPreference(name=person, locale=language, updated_at=utcnow()))
        elif row.locale != language:
            row.locale, row.updated_at = language, utcnow()
            session.add(row)


def csrf_ok(s: UiSession, submitted: object) -> bool:
    return isinstance(submitted, str) and bool(submitted) and hmac.compare_digest(
        submitted.encode(), s.csrf.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
