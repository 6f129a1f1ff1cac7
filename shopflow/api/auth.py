"""Bearer tokens (stored as SHA-256 hashes) and the roles of the public contract.

A token is refused once revoked or past its expiry. ``last_used_at`` is written at most once a
minute per token: a conditional UPDATE only when the stored time is older, never a write per
request. The token life cycle (list, revoke, rotate) lives in ``shopflow.services.tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col, select

from shopflow.db import session_scope
from shopflow.models import ApiToken
from shopflow.models.types import utcnow
from shopflow.services.tokens import ROLES, hash_token, is_live

__all__ = ["ROLES", "User", "authenticate", "create_token", "hash_token", "is_live"]
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    channels: tuple[str, ...] = ()  # a channel token's channels; () = not bound (dev-channel)

    def has(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles

    @property
    def scoped(self) -> bool:
        """A channel token bound to channels: it sees only the cases of its channels."""
        return self.role == "channel" and bool(self.channels)


def create_token(engine: Engine, role: str, name: str, *, expires_at: datetime | None = None,
                 channels: list[str] | None = None, actor: str = "cli") -> str:
    """Create a token and return its secret (shown once; only the hash is kept)."""
    from shopflow.services.tokens import create

    return create(engine, role, name, expires_at=expires_at, channels=channels or [],
                  actor=actor)[0]


def authenticate(engine: Engine, token: str, dev: bool) -> User | None:
    if token.startswith("dev-") and token[4:] in ROLES:
        return User(name=token, role=token[4:]) if dev else None
    now = utcnow()
    with session_scope(engine, write=False) as session:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                   ApiToken.revoked == False)  # noqa: E712
        ).first()
    if row is None or not is_live(row, now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        _touch(engine, row.id, now)
    return User(name=row.name, role=row.role, channels=tuple(row.channels or ()))


def _touch(engine: Engine, token_id: int | None, now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(update(ApiToken).where(
            col(ApiToken.id) == token_id,
            col(ApiToken.last_used_at).is_(None) | (col(ApiToken.last_used_at) < now - LAST_USED_EVERY)
        ).values(last_used_at=now))
