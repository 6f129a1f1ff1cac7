"""Products and stock."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from sqlalchemy import func
from sqlmodel import col, select

from shopflow.activities.inventory import receive
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, current_user, require
from shopflow.api.errors import ApiError
from shopflow.api.idempotency import idempotent
from shopflow.api.routers.orders import wake_backorders
from shopflow.db import insert_ignore, session_scope
from shopflow.models import InventoryItem, Product
from shopflow.models.schemas import (
    InventoryPublic,
    PageOf,
    ProductCreate,
    ProductPublic,
    ReceiptCreate,
)
from shopflow.models.types import utcnow
from shopflow.services.audit import audit

router = APIRouter(tags=["catalogue"])


def inventory_public(item: InventoryItem) -> dict[str, Any]:
    return {"sku": item.sku, "on_hand": item.on_hand, "reserved": item.reserved,
            "available": item.available, "damaged": item.damaged}


@router.post("/products", status_code=201, response_model=ProductPublic, responses={409: {}})
async def create_product(body: ProductCreate, svc: ServicesDep,
                         user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    def create() -> dict[str, Any]:
        with session_scope(svc.engine) as session:
            inserted = insert_ignore(session, Product.__table__, [{
                **body.model_dump(), "created_at": utcnow()}], ["sku"])
            if not inserted:
                existing = session.get(Product, body.sku)
                assert existing is not None
                if (existing.name, existing.sample_limit) != (body.name, body.sample_limit):
                    raise ApiError(409, "sku_exists", f"product {body.sku} exists already")
            else:
                audit(session, user.name, "product", body.sku, "created", None, body.model_dump())
            insert_ignore(session, InventoryItem.__table__, [{
                "sku": body.sku, "on_hand": 0, "reserved": 0, "damaged": 0,
                "updated_at": utcnow()}], ["sku"])
        return body.model_dump()

    return await svc.db(create)


@router.get("/products", response_model=PageOf[ProductPublic])
async def list_products(svc: ServicesDep, page: PageDep,
                        _: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
    def query() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Product)).one()
            rows = session.exec(select(Product).order_by(col(Product.sku))
                                .offset(page.offset).limit(page.page_size)).all()
        return {"items": [{"sku": p.sku, "name": p.name, "sample_limit": p.sample_limit}
                          for p in rows],
                "total": total, "page": page.page, "page_size": page.page_size}

    return await svc.db(query)


@router.post("/inventory/receipts", status_code=201, response_model=InventoryPublic,
             responses={409: {}, 422: {}})
async def receive_stock(
    body: ReceiptCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("warehouse"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        def book() -> dict[str, Any]:
            with session_scope(svc.engine) as session:
                try:
                    item = receive(session, body.sku, body.quantity, body.note, user.name,
                                   f"receipt:{seed or uuid.uuid4().hex}")
                except LookupError:
                    raise ApiError(422, "unknown_sku", f"unknown SKU {body.sku}") from None
                return inventory_public(item)

        booked = await svc.db(book)
        # Orders (and exchanges) waiting for this SKU take it now, oldest first.
        if await wake_backorders(svc, body.sku):
            booked = await get_inventory(body.sku, svc, user)
        return 201, booked

    return await idempotent(svc, user, "POST /inventory/receipts", idempotency_key,
                            body.model_dump(mode="json"), create)


@router.get("/inventory/{sku}", response_model=InventoryPublic)
async def get_inventory(sku: str, svc: ServicesDep,
                        _: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            item = session.get(InventoryItem, sku)
            if item is None:
                raise ApiError(404, "not_found", f"no stock record for {sku}")
            return inventory_public(item)

    return await svc.db(load)
