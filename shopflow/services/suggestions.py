"""Customers' suggestions per period (issue 18; seed 003 case 2 客户建议, 第五条 2 "收集、整理和
分析客户的反馈和投诉信息,及时提出改进和优化的建议"): the top themes with counts and examples, in
the KPIs and the stored reports.

A simple keyword grouping, not language understanding: a text belongs to every theme one of
whose keywords (Chinese or English, case-insensitive substrings) it contains; a text that names
none counts as ``other``. The texts: answered surveys' ``suggestions`` and ``problem`` (and the
complaint text a follow-up survey carried), and the descriptions of complaints filed, in the
period. Extend ``THEMES`` to teach it a word.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from shopflow.models import Complaint, FeedbackRequest

# theme -> (label, keywords)
THEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "quality": ("质量 Product quality", (
        "质量", "破", "坏", "裂", "瑕疵", "次品", "quality", "broken", "crack", "defect",
        "damaged", "faulty", "leak")),
    "delivery": ("物流配送 Delivery", (
        "物流", "快递", "配送", "发货", "送货", "到货", "delivery", "shipping", "courier",
        "parcel", "arrived", "late", "slow")),
    "packaging": ("包装 Packaging", ("包装", "盒", "packag", "box", "wrapping")),
    "price": ("价格与优惠 Price and offers", (
        "价格", "贵", "便宜", "优惠", "折扣", "券", "price", "expensive", "cheap", "discount",
        "coupon", "offer")),
    "range": ("品种与新品 Range and new products", (
        "品种", "款式", "口味", "新品", "选择", "无咖啡因", "增加", "flavour", "flavor",
        "variety", "range", "option", "decaf", "new product", "more choice", "size")),
    "service": ("客服与服务 Customer service", (
        "客服", "服务", "态度", "回复", "答复", "service", "staff", "support", "reply",
        "response", "rude", "helpful")),
    "ordering": ("下单与网站 Ordering and website", (
        "网站", "页面", "下单", "付款", "支付", "app", "website", "checkout", "payment",
        "order form", "login")),
    "information": ("商品信息 Product information", (
        "说明", "介绍", "信息", "说明书", "instruction", "information", "description",
        "manual", "label")),
}
OTHER = "other"
EXAMPLE_CHARS = 140


def themes_of(text: str) -> list[str]:
    """The themes a text names (``[OTHER]`` when none)."""
    low = text.lower()
    found = [name for name, (_, words) in THEMES.items() if any(w in low for w in words)]
    return found or [OTHER]


def _texts(session: Session, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(source, text) of the period: survey answers, then complaints filed."""
    out: list[tuple[str, str]] = []
    answered = session.exec(select(FeedbackRequest.kind, FeedbackRequest.response).where(
        FeedbackRequest.status == "answered", col(FeedbackRequest.answered_at) >= start,
        col(FeedbackRequest.answered_at) < end).order_by(col(FeedbackRequest.answered_at)))
    for kind, response in answered:
        if not isinstance(response, dict):
            continue
        for key in ("suggestions", "problem", "complaint_text"):
            value = response.get(key)
            if isinstance(value, str) and value.strip():
                out.append((f"{kind} survey", value.strip()))
    complaints = session.exec(select(Complaint.description).where(
        col(Complaint.created_at) >= start, col(Complaint.created_at) < end)
        .order_by(col(Complaint.created_at)))
    out += [("complaint", d.strip()) for d in complaints if d and d.strip()]
    return out


def summary(session: Session, start: datetime, end: datetime, *, top: int = 5,
            examples: int = 2) -> dict[str, Any]:
    """The top themes of the period's suggestions, most mentioned first: count, label and a
    few examples (the latest, shortened); ``texts``: how many texts were read."""
    texts = _texts(session, start, end)
    grouped: dict[str, list[tuple[str, str]]] = {}
    for source, text in texts:
        for theme in themes_of(text):
            grouped.setdefault(theme, []).append((source, text))
    ranked = sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0] == OTHER, kv[0]))
    return {
        "method": "keyword themes (services/suggestions.py)",
        "texts": len(texts),
        "themes": [{
            "theme": name,
            "label": THEMES[name][0] if name in THEMES else "其他 Other",
            "count": len(items),
            "examples": [{"source": source, "text": _short(text)}
                         for source, text in items[-examples:][::-1]],
        } for name, items in ranked[:top]],
    }


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= EXAMPLE_CHARS else one_line[:EXAMPLE_CHARS - 1] + "…"
