"""Customer feedback/survey links that are safe to e-mail.

A link's secret is ``HMAC-SHA256(key, "feedback:" + ref)`` (256 bits, base64url): ``ref`` is the
case's random reference (``workflow.uuid4()``, in the workflow's history), the key is
``SHOPFLOW_LINK_SECRET`` (or derived from ``SHOPFLOW_UI_SECRET``) and never leaves the API and
worker processes. So neither the Temporal history nor the read-model holds a usable link: the
workflow keeps the ref and the SHA-256 of the secret, ``feedback_requests`` keeps the SHA-256
(plus an expiry, SHOPFLOW_FEEDBACK_LINK_TTL), and the customer's answer reaches the workflow as
that hash. The secret exists only in the e-mail (rendered when the notice is written) and on the
case pages of the roles that call customers (cs, ops, admin), derived again from the ref.

Status links (``/status/<token>``, the customer's status page) are signed, not stored: the
token is ``<payload>.<mac>``, the payload the base64url of ``<case id>|<expiry, epoch seconds>``
and the mac ``HMAC-SHA256(key, "status:" + payload)`` (256 bits) under the same key. A notice
to a customer gets one when it is rendered (``status_url``, valid SHOPFLOW_STATUS_LINK_TTL);
neither the workflow, the read-model nor the outbox's data keeps it. A tampered, foreign or
expired token reads as no case at all.

Bank-details links (``/bank-details/<token>``, issue 17.6: finance asks a cash-on-delivery
customer for the account a transfer refund goes to) are made like feedback links: the secret is
``HMAC-SHA256(key, "bank:" + ref)`` with a random ref that only the notice's data keeps;
``bank_detail_requests`` keeps its SHA-256 and an expiry (SHOPFLOW_BANK_LINK_TTL), and the link
works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from shopflow.settings import Settings

LINK_ROLES = ("cs", "ops")  # and admin: the roles that contact customers
DEV_KEY = b"shopflow dev/test feedback-link key: never used in production"


def link_key(settings: Settings) -> bytes:
    if settings.link_secret:
        return settings.link_secret.encode()
    if settings.ui_secret:
        return hmac.new(settings.ui_secret.encode(), b"shopflow feedback links",
                        hashlib.sha256).digest()
    if settings.env != "prod":
        return DEV_KEY  # stable across the dev API and worker processes
    raise RuntimeError("feedback links need SHOPFLOW_LINK_SECRET or SHOPFLOW_UI_SECRET")


def link_token(key: bytes, ref: str) -> str:
    digest = hmac.new(key, b"feedback:" + ref.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def bank_token(key: bytes, ref: str) -> str:
    """A bank-details link's secret (the ``bank:`` domain: never equal to a feedback link's)."""
    digest = hmac.new(key, b"bank:" + ref.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _status_mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, b"status:" + payload.encode(), hashlib.sha256).digest())


def status_token(key: bytes, case_id: str, expires: datetime) -> str:
    payload = _b64(f"{case_id}|{int(expires.timestamp())}".encode())
    return f"{payload}.{_status_mac(key, payload)}"


def status_case(key: bytes, token: str, now: datetime) -> str | None:
    """The case id a status token was made for, or None when it is malformed, tampered with,
    made under another key, or expired."""
    payload, _, mac = token[:400].partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _status_mac(key, payload).encode()):
        return None
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        case_id, _, expiry = text.rpartition("|")
        expires = int(expiry)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return case_id if case_id and expires > now.timestamp() else None


def status_url(settings: Settings, case_id: str, now: datetime) -> str:
    token = status_token(link_key(settings), case_id, now + settings.status_link_ttl)
    return f"{settings.public_url}/status/{token}"


def with_link(settings: Settings, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Notice data for rendering: ``feedback_ref`` becomes the link's ``token``, ``bank_ref``
    the bank-details form's ``bank_url``; a case's notice gets its ``status_url``."""
    case_id = data.get("case_id")
    if isinstance(case_id, str) and case_id:
        data = {**data, "status_url": status_url(settings, case_id, now)}
    bank_ref = data.get("bank_ref")
    if isinstance(bank_ref, str) and bank_ref:
        data = {**data, "bank_url": f"{settings.public_url}/bank-details/"
                                    f"{bank_token(link_key(settings), bank_ref)}"}
    ref = data.get("feedback_ref")
    if not isinstance(ref, str) or not ref:
        return data
    return {**data, "token": link_token(link_key(settings), ref)}


def present_feedback(settings: Settings, may_see_link: bool, view: dict[str, Any]) -> None:
    """A case view's feedback as the caller may see it: the form ``url`` while the link is
    open, for cs/ops/admin only (``may_see_link``); never the ref, the hash or (older cases)
    the clear token."""
    fb = view.get("feedback")
    if not isinstance(fb, dict):
        return
    ref, legacy = fb.pop("link", None), fb.pop("token", None)
    fb.pop("url", None)
    if fb.get("status") != "requested" or not may_see_link:
        return
    token = link_token(link_key(settings), ref) if isinstance(ref, str) and ref else legacy
    if isinstance(token, str) and token:
        fb["url"] = f"{settings.public_url}/feedback/{token}"
