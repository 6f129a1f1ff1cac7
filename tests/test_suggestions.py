"""Customers' suggestions per period (issue 18): the keyword themes of survey answers and
complaint texts, counted, with examples, in the KPIs (API), the stored report (HTML, CSV) and
the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from shopflow.models import Complaint, FeedbackRequest
from shopflow.services import reports
from shopflow.services.suggestions import OTHER, summary, themes_of
from shopflow.ui.kpis import compute
from tests.helpers import auth

pytestmark = pytest.mark.asyncio
FEB = datetime(2025, 2, 10, tzinfo=UTC)
MAR = datetime(2025, 3, 5, tzinfo=UTC)


def seed(engine: Engine) -> None:
    answers = [
        ({"satisfaction": 4, "suggestions": "希望增加无咖啡因的口味"}, FEB),
        ({"satisfaction": 3, "suggestions": "Delivery was slow, and the box was dented",
          "problem": ""}, FEB),
        ({"satisfaction": 5, "suggestions": "More flavour options please"}, FEB),
        ({"satisfaction": 2, "problem": "快递太慢了"}, FEB),
        ({"satisfaction": 5, "suggestions": "   "}, FEB),  # blank: not a text
        ({"satisfaction": 5, "suggestions": "Lovely!"}, FEB),
        ({"satisfaction": 4, "suggestions": "more decaf"}, MAR),  # another period
    ]
    with Session(engine) as s:
        for n, (response, at) in enumerate(answers):
            s.add(FeedbackRequest(token=f"t{n}", case_id=f"c{n}", workflow_id=f"w{n}",
                                  kind="followup", status="answered", response=response,
                                  created_at=at, answered_at=at))
        s.add(Complaint(id="CP1", workflow_id="complaint-CP1", customer_id="c-1",
                        category="quality", description="The teapot lid arrived cracked.",
                        created_at=FEB, updated_at=FEB))
        s.add(FeedbackRequest(token="open", case_id="x", workflow_id="x", kind="sample",
                              status="open", created_at=FEB))
        s.commit()


async def test_themes_are_keyword_groups() -> None:
    assert themes_of("快递太慢了") == ["delivery"]
    assert themes_of("Delivery was slow, and the box was dented") == ["delivery", "packaging"]
    assert themes_of("Lovely!") == [OTHER]


async def test_top_themes_with_counts_and_examples_in_the_kpis_report_and_dashboard(
        api: httpx.AsyncClient, engine: Engine) -> None:
    seed(engine)
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    with Session(engine) as s:
        got = summary(s, start, end)
    assert got["texts"] == 6
    counts = {t["theme"]: t["count"] for t in got["themes"]}
    assert [t["theme"] for t in got["themes"]][:2] == ["delivery", "range"]
    assert counts == {"delivery": 3, "range": 2, "packaging": 1, "quality": 1, OTHER: 1}
    delivery = got["themes"][0]
    assert [e["text"] for e in delivery["examples"]] == [
        "The teapot lid arrived cracked.", "快递太慢了"]
    assert delivery["examples"][0]["source"] == "complaint"

    r = await api.get("/api/v1/reports/kpis", params={"from": "2025-02-01", "to": "2025-02-28"},
                      headers=auth("ops"))
    assert r.status_code == 200 and r.json()["suggestions"] == got
    with Session(engine) as s:
        figures = reports.compute_kpis(s, start, end)
    html = reports.render_html("monthly-2025-02", "monthly", figures, "now")
    assert "Customers' suggestions" in html and "希望增加无咖啡因的口味" in html
    csv_text = reports.render_csv(figures)
    assert "suggestions,1.delivery,3" in csv_text
    board = compute(engine, start, end)
    assert board["suggestions"] == got["themes"]
