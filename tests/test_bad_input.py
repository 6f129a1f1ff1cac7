"""Issue 14, point 8: bad input never gets a 500 and never a 503 (which tells clients to retry
forever): non-ASCII digits, NaN/Infinity/1e999 amounts, non-ASCII cookie bytes, nulls where the
profile needs a value, constraint violations: each a 4xx naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from shopflow.api.errors import ascii_int, integrity_error
from shopflow.db import session_scope
from shopflow.models import Customer, Product
from shopflow.settings import Settings
from tests.helpers import app_for, auth


@pytest.fixture
async def http(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app alone (no Temporal needed: each request here is refused before it)."""
    with session_scope(engine) as session:
        session.add(Product(sku="TEA", name="Tea", sample_limit=5))
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        yield client


def order_with(price: str) -> str:
    return ('{"order_no":"A1","channel":"web","customer":{"id":"c","name":"n","phone":"1"},'
            '"items":[{"sku":"TEA","quantity":1,"unit_price":PRICE}],"shipping_address":"1 Tea Rd",'
            '"payment_method":"cod"}').replace("PRICE", price)


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity", "1e999", '"NaN"',
                                   '"1e999"', '"²"', '"١٠"'])
async def test_odd_amounts_are_422_naming_the_field(http: httpx.AsyncClient, price: str) -> None:
    r = await http.post("/api/v1/orders", content=order_with(price),
                        headers={**auth("channel"), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert ["body", "items", 0, "unit_price"] in [d["loc"] for d in r.json()["error"]["details"]]


async def test_non_ascii_cookie_bytes_get_a_fresh_session(http: httpx.AsyncClient) -> None:
    for cookie in ("shopflow_ui=x.caf\xe9", "shopflow_ui=caf\xe9.x; other=\xe4"):
        r = await http.get("/ui/login", headers=[(b"cookie", cookie.encode("latin-1"))])
        assert r.status_code == 200, r.text


async def test_non_ascii_digits_in_a_form_are_refused_not_crashed(http: httpx.AsyncClient) -> None:
    r = await http.post("/feedback/some-token", data={"satisfaction": "²"})
    assert r.status_code == 422
    assert ascii_int("²", None) is None and ascii_int("٣", None) is None
    assert ascii_int(" 12 ", None) == 12


@pytest.mark.parametrize("field", ["name", "locale", "tags", "credit_rating"])
async def test_null_for_a_required_profile_field_is_422_not_503(
        http: httpx.AsyncClient, engine: Engine, field: str) -> None:
    r = await http.put("/api/v1/customers/c-1", headers=auth("cs"), json={field: None})
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["error"]["details"]] == [["body", field]]
    with session_scope(engine, write=False) as session:
        assert session.get(Customer, "c-1") is None  # validated before anything was written


def test_integrity_errors_map_to_409_and_422_naming_the_column(engine: Engine) -> None:
    def violation(*rows: dict[str, object]) -> IntegrityError:
        try:
            with session_scope(engine) as session:
                for row in rows:
                    session.execute(Customer.__table__.insert().values(**row))  # type: ignore[attr-defined]
        except IntegrityError as err:
            return err
        raise AssertionError("no violation")

    base = {"id": "c-9", "name": "n", "locale": "en", "tags": [], "credit_rating": "B"}
    null = integrity_error(violation({**base, "locale": None}))
    assert (null.status, null.code, null.details) == (422, "missing_value", {"field": "locale"})
    dup = integrity_error(violation(base, base))
    assert (dup.status, dup.code) == (409, "conflict")
