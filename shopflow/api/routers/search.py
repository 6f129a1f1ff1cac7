"""Find anything: ``GET /search?q=`` across customers, products and every process's cases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, current_user
from shopflow.models.schemas import PageOf, SearchHit
from shopflow.services import search as finder

router = APIRouter(tags=["search"])


@router.get("/search", response_model=PageOf[SearchHit])
async def search(
    svc: ServicesDep, user: Annotated[User, Depends(current_user)], page: PageDep,
    q: Annotated[str, Query(min_length=2, max_length=100,
                            description="a customer's name, phone, e-mail or company, an order "
                                        "no, tracking no, SKU or case id")],
) -> dict[str, Any]:
    """Customers (for the roles that read profiles), products, then the cases of every process
    the caller may read (a channel token: its channels' only), newest first; each hit names the
    fields that matched."""
    return await svc.db(finder.search, svc.engine, user, q, page.page, page.page_size)
