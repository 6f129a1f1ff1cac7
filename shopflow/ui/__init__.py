"""The web pages for people (reviewers, warehouse, customer service, operations) under /ui/.

``install(app)`` adds the pages (their static files are served from the package) and
the ``/`` redirect. Other processes extend the pages in ui/decisions.py (task forms per task
kind), ui/documents.py (printable documents), ui/actions.py (case actions) and ui/labels.py.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from shopflow.settings import Settings
from shopflow.ui.pages import UiState
from shopflow.ui.session import Signer


def state(settings: Settings) -> UiState:
    """The pages' state of one app (``app.state.ui``): session signer, KPI cache, templates."""
    return UiState(Signer.from_settings(settings), settings.timezone)


def install(app: FastAPI) -> None:
    """The pages' routes (their state comes with ``state(settings)``, set by bind_app)."""
    from shopflow.ui import care_pages, enquiry_form, live, routes, sample_docs, service_desk, work

    # before routes: its last route answers every other /ui/ path
    app.include_router(live.router)
    app.include_router(work.router)
    app.include_router(service_desk.router)
    app.include_router(enquiry_form.router)
    app.include_router(care_pages.router)
    app.include_router(sample_docs.router)
    app.include_router(routes.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
