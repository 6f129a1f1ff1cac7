"""The pages of every role's day (issue 17): find anything, and (below) the bulk work of the
inbox. Thin like the rest: read and act through the services the API calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shopflow.services import search as finder
from shopflow.ui.pages import PageRoute, render, signed_in, svc_of
from shopflow.ui.queries import Paged

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
PageNo = Annotated[int, Query(ge=1, le=100000)]


@router.get("/search")
async def search(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                 page: PageNo = 1) -> Response:
    """The header's search box: customers, products and every case the person may read."""
    user = await signed_in(request)
    term = q.strip()
    svc = svc_of(request)
    found = (await svc.db(finder.search, svc.engine, user, term, page, PAGE_SIZE)
             if len(term) >= 2 else None)
    result = Paged(found["items"], found["total"], page, PAGE_SIZE) if found else None
    return render(request, "search.html", section="search", q=term, result=result,
                  filters={"q": term})
