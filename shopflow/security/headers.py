"""Security headers on every answer: nosniff and same-origin referrers everywhere; on HTML a
Content-Security-Policy without inline script and ``frame-ancestors 'none'``; HSTS when the
public URL is https.

The web UI sets its own (stricter or equal) policy. Two kinds of page carry inline blocks that
are not ours to move: stored KPI reports (their <style>, kept inline because the same HTML is
e-mailed) and the OpenAPI pages (FastAPI's inline <script>). For those the policy allows exactly
the blocks the answer carries, by hash, and nothing else inline.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTML_CSP = ("default-src 'none'; style-src 'self'{styles}; script-src 'self'{scripts}; "
            "img-src 'self' data:{imgs}; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
HSTS = "max-age=31536000; includeSubDomains"
# Answers whose inline blocks are allowed by hash (see the module's docstring).
STYLE_HASHED = ("/api/v1/reports/",)
SCRIPT_HASHED = ("/docs", "/redoc")
DOCS_CDN = " https://cdn.jsdelivr.net"  # where FastAPI's Swagger UI and ReDoc load from
_BLOCK = {"style": re.compile(rb"<style[^>]*>(.*?)</style>", re.S | re.I),
          "script": re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)}


def _hashes(kind: str, body: bytes) -> str:
    return "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'"
                   for m in _BLOCK[kind].findall(body))


def csp_for(path: str, body: bytes | None = None) -> str:
    styles = scripts = imgs = ""
    if body is not None and path.startswith(STYLE_HASHED):
        styles = _hashes("style", body)
    if body is not None and path.startswith(SCRIPT_HASHED):
        scripts, styles, imgs = _hashes("script", body) + DOCS_CDN, DOCS_CDN, DOCS_CDN
    return HTML_CSP.format(styles=styles, scripts=scripts, imgs=imgs)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app, self.https = app, https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        hashed = path.startswith(STYLE_HASHED + SCRIPT_HASHED)
        held: Message | None = None
        chunks: list[bytes] = []

        def decorate(start: Message, body: bytes | None) -> None:
            headers = MutableHeaders(scope=start)
            headers.setdefault("X-Content-Type-Options", "nosniff")
            headers.setdefault("Referrer-Policy", "same-origin")
            if self.https:
                headers.setdefault("Strict-Transport-Security", HSTS)
            if headers.get("content-type", "").startswith("text/html"):
                headers.setdefault("Content-Security-Policy", csp_for(path, body))
                headers.setdefault("X-Frame-Options", "DENY")

        async def wrapped(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                is_html = any(k.lower() == b"content-type" and v.startswith(b"text/html")
                              for k, v in message.get("headers", []))
                if hashed and is_html:
                    held = message  # the policy depends on the body: hold the start
                    return
                decorate(message, None)
                await send(message)
                return
            if held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                decorate(held, body)
                await send(held)
                held = None
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, wrapped)
