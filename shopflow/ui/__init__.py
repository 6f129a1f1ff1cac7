"""The web pages for people (reviewers, warehouse, customer service, operations) under /ui/.

``install(app, settings)`` mounts the static files, the pages and the ``/`` redirect. See
ui/decisions.py (task forms per task kind), ui/documents.py (printable documents), ui/actions.py
(case actions) and ui/kpis.py (dashboard figures) for the places other processes extend.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from shopflow.settings import Settings
from shopflow.ui.pages import STATIC_DIR, UiState
from shopflow.ui.session import Signer


def install(app: FastAPI, settings: Settings) -> None:
    from shopflow.ui.routes import router

    app.state.ui = UiState(Signer.from_settings(settings))
    # Before the router: its catch-all 404 page would otherwise answer for /ui/static/….
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
