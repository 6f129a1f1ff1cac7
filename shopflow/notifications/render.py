"""Render a notice (subject, plain text, HTML) from its jinja2 template in the reader's language.

Templates live in templates/<locale>/<kind>.txt, one per kind and language (zh-CN, the default,
and en), with two blocks, ``subject`` and ``body``. The HTML part is the body rendered again with
autoescape, its paragraphs and links set inside the shared templates/layout.html; the text part
gets the shared footer.

A notice that goes by SMS has its own short template, templates/<locale>/sms/<kind>.txt, with one
block ``text``: one line, no e-mail footer, under SMS_LIMIT characters where possible and a link
(the status page, the form, the tracking) when there is more to say. A kind without one (a staff
notice, which goes by e-mail) is sent as its e-mail text. A missing variable is an error
(StrictUndefined), never a blank in a customer's mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
FOOTER = {
    "zh-CN": "此邮件由 Shopflow 自动发送，请勿直接回复。",
    "en": "Sent automatically by Shopflow; please do not reply to this message.",
}
# In escaped text: ASCII URL characters only (Chinese punctuation right after a link stays
# outside it), and "&" only as "&amp;" (an escaped quote or bracket ends the link).
_URL = re.compile(r"https?://(?:[A-Za-z0-9\-._~:/?#\[\]@!$()*+,;=%]|&amp;)+")
_TRAILING = ".,;:!?)"
SMS_LIMIT = 70  # characters of one SMS in UCS-2 (Chinese): longer ones are split and joined


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str
    locale: str
    # Where the customer's reply goes (e-mail): the case's plus-address (issue 18).
    reply_to: str | None = None


def pick_locale(locale: str | None) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


class NoticeRenderer:
    def __init__(self) -> None:
        loader = PackageLoader("shopflow.notifications", "templates")
        # text/plain subject and body: HTML escaping would show "&amp;" to the reader. The HTML
        # part is rendered by the escaping environment below.
        self._text = Environment(loader=loader, undefined=StrictUndefined,
                                 autoescape=False)  # noqa: S701
        self._html = Environment(loader=loader, undefined=StrictUndefined, autoescape=True)

    def kinds(self, channel: str = "email") -> list[str]:
        """Every kind with a template in any language (a kind missing in one is still listed);
        ``channel="sms"``: the kinds with an SMS template."""
        prefix = "sms/" if channel == "sms" else ""
        found = set()
        for name in self._text.list_templates(extensions=["txt"]):
            locale, _, rest = name.partition("/")
            if locale in LOCALES and rest.startswith(prefix) and "/" not in rest[len(prefix):]:
                found.add(rest[len(prefix):].removesuffix(".txt"))
        return sorted(found)

    def has(self, kind: str, locale: str) -> bool:
        return f"{locale}/{kind}.txt" in self._text.list_templates(extensions=["txt"])

    def render(self, kind: str, locale: str | None, data: dict[str, Any],
               channel: str = "email") -> RenderedNotice:
        """Raises jinja2's TemplateNotFound for an unknown kind and UndefinedError for a
        variable the data does not carry. ``channel="sms"``: the kind's SMS text when it has
        one (``html`` empty: an SMS rendering), else the e-mail's."""
        locale = pick_locale(locale)
        if channel == "sms" and self.has(f"sms/{kind}", locale):
            return self.render_sms(kind, locale, data)
        name = f"{locale}/{kind}.txt"
        text_tpl = self._text.get_template(name)
        subject = " ".join(_block(text_tpl, "subject", data).split())
        text = _block(text_tpl, "body", data).strip()
        html_tpl = self._html.get_template(name)
        body = _block(html_tpl, "body", data).strip()  # escaped by the environment
        # `body` was escaped by the environment; _linkify only adds <a> around URLs in it.
        content = Markup("\n").join(
            Markup("<p>{}</p>").format(
                Markup(_linkify(p.strip()).replace("\n", "<br>\n")))  # noqa: S704
            for p in re.split(r"\n\s*\n", body) if p.strip()
        )
        html = self._html.get_template("layout.html").render(
            subject=subject, content=content, locale=locale, footer=FOOTER[locale]
        )
        if not subject:
            raise ValueError(f"notice {name} renders an empty subject")
        return RenderedNotice(subject, f"{text}\n\n--\n{FOOTER[locale]}\n", html, locale)

    def render_sms(self, kind: str, locale: str | None, data: dict[str, Any]) -> RenderedNotice:
        """The SMS of a kind: its one-line text (no footer, no HTML); the subject is the
        e-mail's, so the outbox names the notice the same way on every channel."""
        locale = pick_locale(locale)
        text = _sms_text(self._text.get_template(f"{locale}/sms/{kind}.txt"), data)
        if not text:
            raise ValueError(f"notice {locale}/sms/{kind}.txt renders an empty text")
        subject = " ".join(_block(self._text.get_template(f"{locale}/{kind}.txt"), "subject",
                                  data).split())
        return RenderedNotice(subject, text, "", locale)


def _sms_text(template: Template, data: dict[str, Any]) -> str:
    return " ".join(_block(template, "text", data).split())


def _block(template: Template, block: str, data: dict[str, Any]) -> str:
    if block not in template.blocks:
        raise ValueError(f"notice template {template.name} has no block {block!r}")
    return "".join(template.blocks[block](template.new_context(dict(data))))


def _linkify(escaped: str) -> str:
    """Make the URLs of already-escaped text clickable (the href is escaped text as well)."""

    def link(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        return f'<a href="{url}">{url}</a>{tail}'

    return _URL.sub(link, escaped)
