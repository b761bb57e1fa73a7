"""The dashboard is usable without a mouse and without good eyes: every form control has a
label, every page has one ``h1``, a skip link and a ``main`` to skip to, tables have captions
and header cells, and every text colour the stylesheet sets against a background meets WCAG
AA (4.5:1), badges and the header included."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources

import pytest

from reconciler.store import Store
from tests.integration.api.test_dashboard import PAGES, _client, store  # noqa: F401

ROOT_VARIABLES = re.compile(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})")
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.skip_target: str | None = None
        self._label_depth = 0
        self.wrapped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "label":
            self._label_depth += 1
            if found.get("for"):
                self.labelled.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            self.controls.append(found)
            self.wrapped += self._label_depth > 0
        if tag == "a" and "skip" in (found.get("class") or ""):
            self.skip_target = (found.get("href") or "").lstrip("#")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth -= 1


def _parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_has_a_title_a_skip_link_labelled_controls_and_captioned_tables(
    store: Store,  # noqa: F811
) -> None:
    client = _client(store)
    for route in [*PAGES, "/login"]:
        response = client.get(route)
        assert response.status_code == 200, route
        page = _parsed(response.text)
        assert page.tags.count("h1") == 1, route
        assert page.skip_target, route
        assert page.skip_target in page.ids, route
        unlabelled = [
            c
            for c in page.controls
            if not c.get("aria-label") and (c.get("id") or "") not in page.labelled
        ]
        assert len(unlabelled) <= page.wrapped, (route, unlabelled)
        assert page.tags.count("caption") == page.tags.count("table"), route
        if "table" in page.tags:
            assert "th" in page.tags, route


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _pairs() -> list[tuple[str, str, str]]:
    css = resources.files("reconciler.api").joinpath("static/dashboard.css").read_text()
    variables = dict(ROOT_VARIABLES.findall(css))
    pairs = [
        ("text", variables["fg"], variables["bg"]),
        ("muted text", variables["muted"], variables["bg"]),
        ("muted text on panels", variables["muted"], variables["panel"]),
        ("links", variables["link"], variables["bg"]),
        ("table headers", variables["fg"], variables["panel"]),
    ]
    for selector, body in RULE.findall(css):
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", body)
        background = re.search(r"background:\s*(#[0-9a-fA-F]{6})", body)
        if colour and background:
            pairs.append((selector.strip(), colour.group(1), background.group(1)))
    return pairs


def test_every_text_colour_meets_wcag_aa_against_its_background() -> None:
    pairs = _pairs()
    assert len(pairs) > 8, "the stylesheet's colour pairs were not found"
    weak = [
        (what, fg, bg, round(contrast(fg, bg), 2))
        for what, fg, bg in pairs
        if contrast(fg, bg) < 4.5
    ]
    assert weak == []


def test_the_contrast_check_can_fail() -> None:
    assert contrast("#777777", "#ffffff") < 4.5
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
