"""The API token life cycle: create (secret shown once), list, revoke, rotate. Revoking, rotating
or expiring a token ends its API access and every web session signed in with it at once (the
sessions' rows are deleted; each page request re-checks the token as well). Every change is
audited."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import ApiToken, WebSession
from shopflow.models.types import utcnow
from shopflow.services.audit import audit
from shopflow.workflows.vocab import Role

ROLES = tuple(str(r) for r in Role)

CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")  # as an order's ``channel``


class TokenError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def public(row: ApiToken) -> dict[str, Any]:
    """What anyone listing tokens sees: never the secret, never its hash."""
    return {"name": row.name, "role": row.role, "channels": list(row.channels or []),
            "created_at": row.created_at, "created_by": row.created_by,
            "expires_at": row.expires_at, "last_used_at": row.last_used_at,
            "revoked": row.revoked, "revoked_at": row.revoked_at,
            "status": ("revoked" if row.revoked else "active" if is_live(row) else "expired")}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_live(row: ApiToken, now: datetime | None = None) -> bool:
    """Not revoked, not past its expiry."""
    return not row.revoked and (row.expires_at is None or row.expires_at > (now or utcnow()))


def _new_secret() -> str:
    return "sf_" + secrets.token_urlsafe(32)  # 256 random bits


def create(engine: Engine, role: str, name: str, *, expires_at: datetime | None = None,
           channels: list[str] | None = None, actor: str = "cli") -> tuple[str, dict[str, Any]]:
    name = name.strip()
    if role not in ROLES:
        raise TokenError(422, "invalid_role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name or len(name) > 100 or name.startswith("dev-"):
        raise TokenError(422, "invalid_name", "a name is 1 to 100 characters, not dev-…")
    channels = sorted({c.strip().lower() for c in channels or [] if c.strip()})
    if channels and role != "channel":
        raise TokenError(422, "invalid_channels", "only channel tokens are bound to channels")
    if role == "channel" and not channels:
        raise TokenError(422, "channel_required",
                         "a channel token is bound to its channel(s): --channel web")
    if bad := [c for c in channels if not CHANNEL_NAME.match(c)]:
        raise TokenError(422, "invalid_channels", f"not a channel name: {', '.join(bad)}")
    if expires_at is not None and expires_at <= utcnow():
        raise TokenError(422, "invalid_expiry", "the expiry is in the past")
    secret = _new_secret()
    row = ApiToken(name=name, role=role, token_hash=hash_token(secret), channels=channels,
                   expires_at=expires_at, created_by=actor)
    try:
        with session_scope(engine) as session:
            if session.exec(select(ApiToken.id).where(ApiToken.name == name)).first():
                raise TokenError(409, "name_taken", f"a token named {name!r} exists already")
            session.add(row)
            session.flush()
            audit(session, actor, "token", name, "created", None, _audited(row))
    except IntegrityError:
        raise TokenError(409, "name_taken", f"a token named {name!r} exists already") from None
    return secret, public(row)


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(ApiToken).order_by(col(ApiToken.name))).all()
    return [public(r) for r in rows]


def _get(session: Session, name: str) -> ApiToken:
    row = session.exec(select(ApiToken).where(ApiToken.name == name)
                       .with_for_update()).first()
    if row is None:
        raise TokenError(404, "not_found", f"no token named {name!r}")
    return row


def end_sessions(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash))


def revoke(engine: Engine, name: str, actor: str = "cli") -> dict[str, Any]:
    with session_scope(engine) as session:
        row = _get(session, name)
        before = _audited(row)
        if not row.revoked:
            row.revoked, row.revoked_at = True, utcnow()
            session.add(row)
            audit(session, actor, "token", name, "revoked", before, _audited(row))
        end_sessions(session, row.token_hash)
        return public(row)


def rotate(engine: Engine, name: str, actor: str = "cli") -> tuple[str, dict[str, Any]]:
    """A new secret for the same name, role, channels and expiry; the old one stops working."""
    secret = _new_secret()
    with session_scope(engine) as session:
        row = _get(session, name)
        if not is_live(row):
            raise TokenError(409, "token_not_active",
                             f"token {name!r} is {public(row)['status']}: create a new one")
        end_sessions(session, row.token_hash)
        row.token_hash = hash_token(secret)
        session.add(row)
        audit(session, actor, "token", name, "rotated", None, _audited(row))
        return secret, public(row)


def _audited(row: ApiToken) -> dict[str, Any]:
    out = public(row)
    out.pop("last_used_at")
    return out
