"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from shopflow.api.deps import ServicesDep
from shopflow.api.errors import RETRY_AFTER_SECONDS, ApiError
from shopflow.api.metrics import REGISTRY

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {}})
async def readyz(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, Any] = {}

    def db_ok() -> None:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(svc.db(db_ok), timeout=5)
        checks["database"] = "ok"
    except Exception as err:  # readiness reports any failure, it never raises
        checks["database"] = f"unreachable: {type(err).__name__}"
    try:
        client = svc.client()
        await asyncio.wait_for(client.service_client.check_health(), timeout=5)
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"unreachable: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": RETRY_AFTER_SECONDS})


@router.get("/metrics", response_class=Response, responses={401: {}, 404: {}})
async def metrics(svc: ServicesDep, request: Request) -> Response:
    """Prometheus text. With SHOPFLOW_METRICS_PORT the metrics live on that port only; with
    SHOPFLOW_METRICS_TOKEN a scrape needs that bearer token. No database query: the task
    gauges come from a snapshot refreshed in the background."""
    if svc.settings.metrics_port is not None and not getattr(request.app.state, "metrics_only",
                                                             False):
        raise ApiError(404, "not_found", "metrics are served on their own port")
    expected = svc.settings.metrics_token
    if expected is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise ApiError(401, "unauthorized", "metrics need their bearer token",
                           headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
