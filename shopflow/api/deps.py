"""Request dependencies: the app's shared services, the current user, role checks, paging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from shopflow.api.auth import User, authenticate
from shopflow.api.errors import ApiError
from shopflow.settings import Settings

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    temporal: Client | None = None

    def client(self) -> Client:
        if self.temporal is None:
            from shopflow.api.errors import unavailable

            raise unavailable("Temporal")
        return self.temporal

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database work off the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]

_bearer = HTTPBearer(auto_error=False, description="A Shopflow API token")


def current_user(
    svc: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiError(401, "unauthorized", "missing bearer token",
                       headers={"WWW-Authenticate": "Bearer"})
    user = authenticate(svc.engine, creds.credentials, svc.settings.is_dev)
    if user is None:
        raise ApiError(401, "unauthorized", "invalid or revoked token",
                       headers={"WWW-Authenticate": "Bearer"})
    return user


def require(*roles: str) -> Callable[[User], User]:
    """A dependency allowing the given roles (admin is always allowed)."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.has(*roles):
            raise ApiError(403, "forbidden", f"role {user.role} may not do this",
                           {"allowed_roles": sorted({*roles, "admin"})})
        return user

    return check


@dataclass
class Page:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def paging(
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page:
    return Page(page, page_size)


PageDep = Annotated[Page, Depends(paging)]
