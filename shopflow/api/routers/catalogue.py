"""Products and stock."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, current_user, require
from shopflow.api.idempotency import idempotent
from shopflow.models.schemas import (
    InventoryPublic,
    PageOf,
    ProductChange,
    ProductCreate,
    ProductPublic,
    ReceiptCreate,
)
from shopflow.services import inventory

router = APIRouter(tags=["catalogue"])


@router.post("/products", status_code=201, response_model=ProductPublic, responses={409: {}})
async def create_product(body: ProductCreate, svc: ServicesDep,
                         user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    return await svc.db(inventory.create_product, svc.engine, body.model_dump(), user.name)


@router.patch("/products/{sku}", response_model=ProductPublic, responses={404: {}, 422: {}})
async def change_product(sku: str, body: ProductChange, svc: ServicesDep,
                         user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    """Change a product's name, limits, price, specification or origin (the fields given;
    a null price, specification or origin clears it)."""
    return await svc.db(inventory.change_product, svc.engine, sku,
                        body.model_dump(exclude_unset=True), user.name)


@router.get("/products", response_model=PageOf[ProductPublic])
async def list_products(svc: ServicesDep, page: PageDep,
                        _: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
    total, items = await svc.db(inventory.list_products, svc.engine, page.offset,
                                page.page_size)
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@router.post("/inventory/receipts", status_code=201, response_model=InventoryPublic,
             responses={409: {}, 422: {}})
async def receive_stock(
    body: ReceiptCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("warehouse"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        key = f"receipt:{seed or uuid.uuid4().hex}"
        booked, waited_for = await svc.db(inventory.book_receipt, svc.engine, body.sku,
                                          body.quantity, body.note, user.name, key)
        # Orders (and exchanges) waiting for this SKU take it now, oldest first: a small
        # workflow per receipt does it (durable); the answer waits a little to show the result.
        if waited_for and svc.temporal is not None and await inventory.start_backorder_wake(
                svc.temporal, svc.settings.task_queue, body.sku, key):
            booked = await svc.db(inventory.stock_of, svc.engine, body.sku)
        return 201, booked

    return await idempotent(svc, user, "POST /inventory/receipts", idempotency_key,
                            body.model_dump(mode="json"), create)


@router.get("/inventory/{sku}", response_model=InventoryPublic)
async def get_inventory(sku: str, svc: ServicesDep,
                        _: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
    return await svc.db(inventory.stock_of, svc.engine, sku)
