"""One language per person on the pages (issue 17.9): zh-CN or en, never both side by side.

The pages' texts are written once, bilingual, as "中文 English" (the Chinese first, then the
English after the last Chinese character and a space): ``split`` takes such a text apart and
``pick`` keeps the reader's side. Templates need nothing more: ``Bilingual`` rewrites each
literal text run and quoted attribute value of a template's source that holds both into
``{% if ui_en() %}English{% else %}中文{% endif %}`` when it is loaded (expressions and data
are never touched: a customer called "王芳 Wang Fang" keeps both). Texts that interleave the
two (a shared suffix, "第 3 页 · Page 3") are written with ``t("中文", "English")``. Python
texts shown on a page (labels, form captions, notes) go through ``tr`` (the template filter
``|tr``, or ``label``), data never does.

The language of a request is a context variable set by ``pages.render`` around the template's
render, so macros, filters and globals all see it without passing it down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from jinja2.ext import Extension

LANGUAGES = ("zh-CN", "en")
DEFAULT = "en"  # no Accept-Language (a script, a test client): English
_lang: ContextVar[str] = ContextVar("ui_language", default=DEFAULT)

# Chinese characters and the full-width punctuation written between them.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_HAS_CJK = re.compile(f"[{_CJK}]")
_LAST_CJK = re.compile(f"[{_CJK}][^{_CJK}]*$")
_PUNCT = " ·,;:(‹✔-—"


def split(text: str) -> tuple[str, str]:
    """``"收件箱 Inbox"`` → ``("收件箱", "Inbox")``: the English is what follows the first space
    after the last Chinese character. A text with no Chinese, or nothing after it, is the same
    in both."""
    found = _LAST_CJK.search(text)
    if found is None:
        return text, text
    space = text.find(" ", found.start())
    if space < 0 or not text[space + 1:].strip():
        return text, text
    # leading punctuation ("· 更新 Updated", "(库存 stock") belongs to both sides
    shared = len(text) - len(text.lstrip(_PUNCT))
    zh, en = text[:space].rstrip(), text[:shared] + text[space + 1:].lstrip()
    if not re.search("[A-Za-z0-9]", en):
        return text, text  # "已完成 ✓": not a translation
    return zh, en


def language() -> str:
    return _lang.get()


def is_en() -> bool:
    return _lang.get() == "en"


class Chosen(str):
    """A text in one language already (``t``): ``tr`` leaves it as it is."""


def tr(text: object) -> str:
    """The reader's side of a bilingual text (a Python-side label, caption or note)."""
    if text is None:
        return ""
    if isinstance(text, Chosen):
        return text
    zh, en = split(str(text))
    return en if is_en() else zh


def t(zh: str, en: str) -> str:
    """For texts ``split`` cannot take apart (or built with data in them): both sides given."""
    return Chosen(en if is_en() else zh)


def use(lang: str) -> None:
    """From here on in this request (``speaking`` around it restores the one before)."""
    if lang in LANGUAGES:
        _lang.set(lang)


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    token = _lang.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _lang.reset(token)


def from_header(accept_language: str | None) -> str:
    """The browser's choice (``Accept-Language``): the first of zh-* and en-* by weight,
    English when neither is asked for."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh-CN" if tag.startswith("zh") else None
        if lang and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, lang)
    return best[2] if best else DEFAULT


# --- templates ------------------------------------------------------------------------------

_JINJA = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)


def _choose(text: str) -> str:
    if not _HAS_CJK.search(text):
        return text
    lead = text[:len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    zh, en = split(text.strip())
    if zh == en:
        return text
    # "+" keeps the whitespace around as written (trim_blocks, lstrip_blocks are on)
    return f"{lead}{{%+ if ui_en() +%}}{en}{{%+ else +%}}{zh}{{%+ endif +%}}{trail}"


class _Scan:
    """Where a template's source is, across the jinja constructs between its pieces."""

    def __init__(self) -> None:
        self.in_tag = False
        self.quote = ""  # the open attribute value's quote
        self.whole = True  # the open value began in this piece (so it can be translated)

    def data(self, piece: str) -> str:
        out: list[str] = []
        buf: list[str] = []

        def flush(translate: bool) -> None:
            text = "".join(buf)
            out.append(_choose(text) if translate else text)
            buf.clear()

        for c in piece:
            if not self.in_tag:
                if c == "<":
                    flush(True)
                    self.in_tag = True
                    out.append(c)
                else:
                    buf.append(c)
            elif self.quote:
                if c == self.quote:
                    flush(self.whole)
                    self.quote = ""
                    out.append(c)
                else:
                    buf.append(c)
            else:
                if c in "\"'":
                    self.quote, self.whole = c, True
                elif c == ">":
                    self.in_tag = False
                out.append(c)
        if self.quote:
            flush(False)
            self.whole = False  # an attribute value around an expression: left as written
        else:
            flush(not self.in_tag)
        return "".join(out)


_STRING = re.compile(r"'([^'\\]*)'|\"([^\"\\]*)\"")


def _literal(m: re.Match[str]) -> str:
    quote = "'" if m.group(1) is not None else '"'
    text = m.group(1) if m.group(1) is not None else m.group(2)
    zh, en = split(text)
    return m.group(0) if zh == en else f"ui_t({quote}{zh}{quote}, {quote}{en}{quote})"


def _construct(piece: str) -> str:
    """A string literal with both sides inside ``{{ }}``/``{% %}`` becomes ``ui_t(zh, en)``."""
    if piece.startswith("{#") or "ui_t(" in piece or not _HAS_CJK.search(piece):
        return piece  # a comment, both sides given already, or nothing to choose
    return _STRING.sub(_literal, piece)


def bilingual_source(source: str) -> str:
    """A template's source with each bilingual literal text (a text run between tags and jinja
    constructs, a quoted attribute value, a string literal in an expression) made a choice
    between its two sides."""
    scan = _Scan()
    return "".join(_construct(piece) if _JINJA.fullmatch(piece) else scan.data(piece)
                   for piece in _JINJA.split(source) if piece)


class Bilingual(Extension):
    """Loads every template through ``bilingual_source``."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return bilingual_source(source)
