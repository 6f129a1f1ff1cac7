"""Render a notice (subject, plain text, HTML) from its jinja2 template in the reader's language.

Templates live in templates/<locale>/<kind>.txt with two blocks, ``subject`` and ``body``;
the HTML part is the body rendered with autoescape inside templates/layout.html. A missing
variable is an error (StrictUndefined), never a blank in a customer's mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
FOOTER = {"zh-CN": "此邮件由 Shopflow 自动发送。", "en": "Sent by Shopflow."}


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str
    locale: str


class NoticeRenderer:
    def __init__(self) -> None:
        loader = PackageLoader("shopflow.notifications", "templates")
        self._text = Environment(loader=loader, undefined=StrictUndefined, autoescape=False,
                                 keep_trailing_newline=False)
        self._html = Environment(loader=loader, undefined=StrictUndefined, autoescape=True)

    def kinds(self) -> list[str]:
        names = self._text.list_templates(filter_func=lambda n: n.startswith(f"{DEFAULT_LOCALE}/"))
        return sorted(n.split("/", 1)[1].removesuffix(".txt") for n in names)

    def render(self, kind: str, locale: str | None, data: dict[str, Any]) -> RenderedNotice:
        locale = locale if locale in LOCALES else DEFAULT_LOCALE
        name = f"{locale}/{kind}.txt"
        text_tpl = self._text.get_template(name)
        ctx = text_tpl.new_context(dict(data))
        subject = "".join(text_tpl.blocks["subject"](ctx)).strip()
        text = "".join(text_tpl.blocks["body"](ctx)).strip()
        html_tpl = self._html.get_template(name)
        body_html = "".join(html_tpl.blocks["body"](html_tpl.new_context(dict(data)))).strip()
        paragraphs = [Markup(p.strip().replace("\n", Markup("<br>")))
                      for p in body_html.split("\n\n") if p.strip()]
        html = self._html.get_template("layout.html").render(
            subject=subject, paragraphs=paragraphs, locale=locale, footer=FOOTER[locale]
        )
        return RenderedNotice(subject, text, html, locale)
