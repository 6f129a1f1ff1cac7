"""The API's composition root: ``create_app(settings)`` wires settings, database, Temporal client,
routers, error mapping and metrics. Thin: validate, authorise, then start/update a workflow or
read the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from shopflow import temporal
from shopflow.api.deps import Services
from shopflow.api.errors import error_response, install_error_handlers
from shopflow.api.metrics import LATENCY, REQUESTS, TASKS
from shopflow.api.routers import (
    bank_details,
    catalogue,
    complaints,
    customers,
    enquiries,
    feedback,
    followups,
    health,
    mail,
    me,
    notices,
    orders,
    promotions,
    reconciliation,
    reports,
    returns,
    samples,
    search,
    security,
    shipments,
    status,
    tasks,
)
from shopflow.api.scope import channel_scope
from shopflow.db import make_engine
from shopflow.security.headers import SecurityHeaders
from shopflow.settings import Settings
from shopflow.ui import install as install_ui
from shopflow.ui import state as ui_state

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, engine: Engine | None = None,
               client: Client | None = None) -> FastAPI:
    app = build_app(settings)
    bind_app(app, settings, engine=engine, client=client)
    return app


def build_app(settings: Settings) -> FastAPI:
    """The app's routes, error mapping and middleware: the part that depends on the settings
    alone. ``bind_app`` gives it its database, Temporal client and per-instance state. FastAPI
    analyses every route of every new app (~0.5 s of CPU here), so the tests build one app per
    settings and bind it to each test's database (tests/helpers.py ``app_for``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = app.state.services
        if services.temporal is None:
            # Lazy: the API starts (and /readyz says why not ready) while Temporal is down.
            services.temporal = await temporal.connect(services.settings, lazy=True)
        gauges = asyncio.create_task(
            TASKS.refresh_loop(services.settings.metrics_refresh.total_seconds()))
        try:
            yield
        finally:
            gauges.cancel()

    app = FastAPI(
        title="Shopflow",
        version="0.1.0",
        summary="Process automation for e-commerce operations on Temporal.",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    v1 = APIRouter(prefix="/api/v1")
    scoped = [Depends(channel_scope)]  # channel tokens see only their channels' cases
    for module in (catalogue, customers, mail, me, notices, promotions, reconciliation,
                   reports, search, security):
        v1.include_router(module.router)
    for module in (samples, tasks, orders, shipments, returns, complaints, enquiries,
                   followups):
        v1.include_router(module.router, dependencies=scoped)
    v1.include_router(feedback.api_router)
    v1.include_router(bank_details.router)
    v1.include_router(status.router)
    app.include_router(v1)
    app.include_router(feedback.page_router)
    app.include_router(bank_details.page_router)  # the link in the notice
    app.include_router(status.router, include_in_schema=False)  # the link in notices
    app.include_router(health.router)
    install_ui(app)  # /ui/ pages, their static files, and / → /ui/
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    app.add_middleware(SecurityHeaders, https=settings.public_url.startswith("https://"))
    return app


def bind_app(app: FastAPI, settings: Settings, *, engine: Engine | None = None,
             client: Client | None = None) -> None:
    """Everything an app built by ``build_app(settings)`` holds of its own: the services
    (settings, database, Temporal client) and the pages' state (session signer, KPI cache,
    templates), all new."""
    engine = engine or make_engine(settings.database_url,
                                   busy_timeout=settings.database_busy_timeout)
    app.state.services = Services(settings=settings, engine=engine, temporal=client)
    app.state.ui = ui_state(settings)
    TASKS.engine = engine


def create_metrics_app(settings: Settings, engine: Engine) -> FastAPI:
    """``/metrics`` alone, for SHOPFLOW_METRICS_PORT (the API's port then answers 404 there)."""
    app = FastAPI(title="Shopflow metrics", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = Services(settings=settings, engine=engine)
    app.state.metrics_only = True
    install_error_handlers(app)
    app.add_api_route("/metrics", health.metrics, methods=["GET"])
    return app


class BodyLimit:
    """Refuse bodies over the limit with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _too_large(scope, receive, send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, receive, send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = error_response(413, "payload_too_large", f"the body is over {limit} bytes",
                              {"max_bytes": limit})
    await response(scope, receive, send)


class RequestMetrics:
    """Counts and times requests, labelled by route template (never by raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def _template(scope: Scope) -> str:
        """The matched route's template (``/ui/{rest:path}`` for any page under /ui/ that does
        not exist): never the raw path, so random paths cannot add series."""
        fastapi_scope = scope.get("fastapi")
        # FastAPI keeps the innermost route (path without the routers' prefixes) in "route" and
        # the full template in its effective route context.
        context = fastapi_scope.get("effective_route_context") if isinstance(
            fastapi_scope, dict) else None
        route = scope.get("route")
        for template in (getattr(context, "path_format", None),
                         getattr(route, "path_format", None)):
            if isinstance(template, str) and template:
                return template
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            path = self._template(scope)
            REQUESTS.labels(scope["method"], path, str(status)).inc()
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)
