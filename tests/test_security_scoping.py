"""Issue 16 point 3: channel tokens see their own channel's cases (404 for others'), a channel
never overwrites a known customer's contact details (a proposal for cs instead), and the web
pages show credit rating and purchase history only to the roles the API allows."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine

from shopflow.api.auth import create_token
from shopflow.settings import Settings
from tests.helpers import auth, eventually, make_product
from tests.test_orders_process import order_body
from tests.test_ui_pages import sign_in


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_channel_tokens_see_only_their_channels_cases(api: httpx.AsyncClient,
                                                           engine: Engine) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    web = bearer(create_token(engine, "channel", "web-shop", channels=["web"]))
    mail_secret = create_token(engine, "channel", "mail-desk", channels=["email"])
    mail = bearer(mail_secret)
    r = await api.post("/api/v1/orders", headers=web, json=order_body("WEB-1"))
    assert r.status_code == 201, r.text
    # Its own order: seen, listed, paid. Another channel's: 404 everywhere, never listed.
    assert (await api.get("/api/v1/orders/WEB-1", headers=web)).status_code == 200
    assert (await api.get("/api/v1/orders/WEB-1", headers=mail)).status_code == 404
    r = await api.post("/api/v1/orders/WEB-1/payments", headers=mail,
                       json={"transaction_id": "T-1", "amount": 161.5})
    assert r.status_code == 404
    assert (await api.get("/api/v1/orders", headers=web)).json()["total"] == 1
    assert (await api.get("/api/v1/orders", headers=mail)).json()["total"] == 0
    # It may not create cases for a channel it is not bound to.
    r = await api.post("/api/v1/orders", headers=mail, json=order_body("WEB-2"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "channel_not_allowed"
    # Samples and complaints it creates are its own too.
    sample = {"customer": {"id": "c-9", "name": "Zhao", "email": "zhao@example.com",
                           "address": "9 Lake Rd"}, "channel": "email",
              "items": [{"sku": "TEA", "quantity": 1}], "purpose": "tasting"}
    r = await api.post("/api/v1/samples", headers=mail, json=sample)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (await api.get(f"/api/v1/samples/{sid}", headers=mail)).status_code == 200
    assert (await api.get(f"/api/v1/samples/{sid}", headers=web)).status_code == 404
    assert (await api.get("/api/v1/samples", headers=web)).json()["total"] == 0
    assert (await api.get("/api/v1/samples", headers=mail)).json()["total"] == 1
    complaint = {"customer": {"id": "c-1", "name": "Li Wei"}, "order_no": "WEB-1",
                 "category": "delivery", "description": "late", "channel": "web"}
    r = await api.post("/api/v1/complaints", headers=web, json=complaint)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (await api.get(f"/api/v1/complaints/{cid}", headers=mail)).status_code == 404
    r = await api.post(f"/api/v1/complaints/{cid}/messages", headers=mail, json={"text": "hi"})
    assert r.status_code == 404
    assert (await api.get(f"/api/v1/complaints/{cid}", headers=web)).status_code == 200
    # Unbound staff roles see everything as before.
    assert (await api.get("/api/v1/orders/WEB-1", headers=auth("ops"))).status_code == 200
    # The web pages follow the same scope.
    await sign_in(api, mail_secret)
    assert (await api.get("/ui/cases/order/WEB-1")).status_code == 404
    assert (await api.get(f"/ui/cases/sample/{sid}")).status_code == 200
    listing = await api.get("/ui/cases?kind=order")
    assert listing.status_code == 200 and "WEB-1" not in listing.text


async def test_a_channel_never_overwrites_a_known_customers_contact(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    r = await api.put("/api/v1/customers/c-1", headers=auth("cs"),
                      json={"name": "Li Wei", "email": "li@example.com"})
    assert r.status_code == 200
    body = order_body("WEB-7")
    body["customer"]["email"] = "attacker@example.net"
    assert (await api.post("/api/v1/orders", headers=auth("channel"), json=body)).status_code == 201

    async def proposed() -> dict[str, Any] | None:
        c = (await api.get("/api/v1/customers/c-1", headers=auth("cs"))).json()
        return c if c.get("proposals") else None

    c = await eventually(proposed)
    assert c["email"] == "li@example.com"  # unchanged
    (p,) = c["proposals"]
    assert p["fields"] == {"email": "attacker@example.net"} and p["source"] == "dev-channel"
    # Only cs sees proposals; cs may apply one (audited).
    other = (await api.get("/api/v1/customers/c-1", headers=auth("finance"))).json()
    assert not other.get("proposals")
    r = await api.post(f"/api/v1/customers/c-1/proposals/{p['id']}/apply", headers=auth("cs"))
    assert r.status_code == 200 and r.json()["status"] == "applied"
    c = (await api.get("/api/v1/customers/c-1", headers=auth("cs"))).json()
    assert c["email"] == "attacker@example.net" and c["proposals"] == []
    trail = (await api.get("/api/v1/audit", params={"entity": "customer", "id": "c-1"},
                           headers=auth("ops"))).json()["items"]
    assert trail[0]["action"] == "proposal_applied" and trail[0]["actor"] == "dev-cs"


async def test_pages_show_credit_and_history_only_to_roles_the_api_allows(
        api: httpx.AsyncClient, settings: Settings, engine: Engine) -> None:
    from shopflow.api.app import create_app

    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    assert (await api.post("/api/v1/orders", headers=auth("channel"),
                           json=order_body("WEB-8"))).status_code == 201
    app = create_app(settings, engine=engine)
    for role, sees in (("warehouse", False), ("channel", False), ("cs", True), ("ops", True)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://shop.test") as ui:
            await sign_in(ui, f"dev-{role}")

            async def page() -> str | None:
                r = await ui.get("/ui/cases/order/WEB-8")
                return r.text if r.status_code == 200 and "Li Wei" in r.text else None

            html = await eventually(page)
            assert ("Credit rating" in html) is sees, role
            assert ("Purchase history" in html) is sees, role
