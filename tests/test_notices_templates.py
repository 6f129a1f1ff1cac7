"""Every notice template renders in both languages with its example data (found by kind in
tests/notice_examples/<kind>.json), escapes what it must, links what it should, and refuses
to render with a variable missing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from shopflow.notifications.render import LOCALES, NoticeRenderer

EXAMPLES = Path(__file__).parent / "notice_examples"
TEMPLATES = Path(__file__).parent.parent / "shopflow" / "notifications" / "templates"
COMMON = {"case_id": "S-1001", "public_url": "http://shop.test"}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

renderer = NoticeRenderer()
KINDS = renderer.kinds()


def example(kind: str) -> dict[str, Any]:
    path = EXAMPLES / f"{kind}.json"
    if not path.exists():
        pytest.fail(
            f"notice kind {kind!r} has templates but no example data: add "
            f"tests/notice_examples/{kind}.json with the variables your workflow passes to "
            f"notify(..., {kind!r}, ...) (case_id and public_url are added for you; see "
            f"tests/notice_examples/README.md)", pytrace=False)
    return {**COMMON, **json.loads(path.read_text(encoding="utf-8"))}


def test_kinds_are_found_in_the_template_directory() -> None:
    assert {"sample_received", "sample_shipped", "task_escalated", "notice_failed"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_template_renders_in_both_languages_with_its_example(kind: str) -> None:
    data = example(kind)
    missing = [loc for loc in LOCALES if not renderer.has(kind, loc)]
    assert not missing, f"notice kind {kind!r} has no template in {missing}: add " \
                        f"shopflow/notifications/templates/<locale>/{kind}.txt for each"
    for locale in LOCALES:
        try:
            notice = renderer.render(kind, locale, data)
        except UndefinedError as err:
            pytest.fail(f"{locale}/{kind}.txt uses a variable its example lacks ({err.message}): "
                        f"add it to tests/notice_examples/{kind}.json if the workflow passes it",
                        pytrace=False)
        assert notice.locale == locale
        assert notice.subject and "\n" not in notice.subject
        assert notice.text.strip() and notice.html.startswith("<!doctype html>")
        assert f'<html lang="{locale}">' in notice.html
        assert "None" not in notice.subject, f"{locale}/{kind}: 'None' in the subject"
        source = (TEMPLATES / locale / f"{kind}.txt").read_text(encoding="utf-8")
        if locale == "en":
            assert not CJK.search(source), f"en/{kind}.txt has Chinese text: translate it"
        else:
            assert CJK.search(source), f"zh-CN/{kind}.txt has no Chinese text"


def test_every_example_belongs_to_a_template() -> None:
    orphans = sorted(p.stem for p in EXAMPLES.glob("*.json") if p.stem not in KINDS)
    assert not orphans, f"examples without templates (renamed kinds?): {orphans}"


def test_missing_variable_fails_instead_of_leaving_a_blank() -> None:
    data = example("sample_shipped")
    del data["tracking_no"]
    for locale in LOCALES:
        with pytest.raises(UndefinedError, match="tracking_no"):
            renderer.render("sample_shipped", locale, data)
    with pytest.raises(UndefinedError, match="token"):
        renderer.render("sample_feedback_request", "en", COMMON)


def test_unknown_locale_falls_back_to_chinese() -> None:
    data = example("sample_shipped")
    assert renderer.render("sample_shipped", "fr", data).locale == "zh-CN"
    assert renderer.render("sample_shipped", None, data).subject.startswith("样品已发货")
    assert renderer.render("sample_shipped", "en", data).subject.startswith("Your samples")


def test_html_is_escaped_and_links_are_clickable_while_text_stays_plain() -> None:
    data = {**COMMON, "reason": '<script>alert("x")</script> & co'}
    notice = renderer.render("sample_rejected", "en", data)
    assert "<script>" not in notice.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in notice.html
    assert '<script>alert("x")</script> & co' in notice.text

    data = example("sample_feedback_request")
    url = f"http://shop.test/feedback/{data['token']}"
    for locale in LOCALES:
        notice = renderer.render("sample_feedback_request", locale, data)
        assert url in notice.text
        assert f'<a href="{url}">{url}</a>' in notice.html
    # A link followed by Chinese or ASCII punctuation, or with a query string, keeps its shape.
    from shopflow.notifications.render import _linkify
    assert _linkify("见 http://a.test/x?a=1&amp;b=2。") == \
        '见 <a href="http://a.test/x?a=1&amp;b=2">http://a.test/x?a=1&amp;b=2</a>。'
    assert _linkify("&#34;http://a.test/y&#34;.") == \
        '&#34;<a href="http://a.test/y">http://a.test/y</a>&#34;.'


def test_text_and_html_share_the_layout_footer() -> None:
    zh = renderer.render("sample_shipped", "zh-CN", example("sample_shipped"))
    en = renderer.render("sample_shipped", "en", example("sample_shipped"))
    assert "Shopflow 自动发送" in zh.text and "Shopflow 自动发送" in zh.html
    assert "Sent automatically by Shopflow" in en.text and "Sent automatically" in en.html
    assert "<p>您好，</p>" in zh.html and "SF1001" in zh.html
