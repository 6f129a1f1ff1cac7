"""Bearer tokens (stored as SHA-256 hashes) and the roles of the public contract."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import select

from shopflow.db import session_scope
from shopflow.models import ApiToken
from shopflow.workflows.vocab import Role

ROLES = tuple(str(r) for r in Role)


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def has(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, role: str, name: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    token = "sf_" + secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        session.add(ApiToken(name=name, role=role, token_hash=hash_token(token)))
    return token


def authenticate(engine: Engine, token: str, dev: bool) -> User | None:
    if dev and token.startswith("dev-") and token[4:] in ROLES:
        return User(name=token, role=token[4:])
    with session_scope(engine, write=False) as session:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                   ApiToken.revoked == False)  # noqa: E712
        ).first()
    return User(name=row.name, role=row.role) if row else None
