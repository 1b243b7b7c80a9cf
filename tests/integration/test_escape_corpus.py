"""The escape corpus: hostile navigations from inside the demo site, all blocked in the engine.

Every case loads a page on the demo site that tries to leave it one way (tests/data/
escape_corpus.json). A case passes when the policy (or Chromium itself) refused it and nothing
reached the hostile server, another host name of the site, or the identity provider.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from lockdown.demo.site import DemoSite
from tests.integration.conftest import Browser
from tests.support.evil import EvilServer

CORPUS = json.loads((Path(__file__).parent.parent / "data" / "escape_corpus.json").read_text())
#: page.failed: Chromium fails navigations to schemes it has no handler for (ftp:, mailto:)
#: without asking the app; the test then checks nothing escaped.
BLOCK_EVENTS = {"navigation.blocked", "request.blocked", "popup.blocked", "page.failed"}
#: Chromium's own refusals (it never asks the app about these): the console says so.
ENGINE_REFUSALS = ("contain embedded credentials", "Not allowed to load local resource",
                   "Not allowed to navigate top frame",
                   "Not allowed to load", "Unsafe attempt", "Refused to", "Failed to construct",
                   "SyntaxError")


def _vector_html(vector: str, target: str) -> str:
    t = html.escape(target, quote=True)
    js = json.dumps(target)
    click = "<script>document.getElementById('a').click()</script>"
    pages = {
        "link": f"<a id=a href=\"{t}\">go</a>{click}",
        "target-blank": f"<a id=a target=_blank href=\"{t}\">go</a>{click}",
        "location": f"<script>location.href = {js}</script>",
        "location-replace": f"<script>location.replace({js})</script>",
        "window-open": f"<script>window.open({js})</script>",
        "meta-refresh": f"<meta http-equiv=refresh content=\"0;url={t}\">",
        "form-get": f"<form id=f action=\"{t}\"><input name=q value=1></form>"
                    "<script>f.submit()</script>",
        "form-post": f"<form id=f method=post action=\"{t}\"><input name=q value=1></form>"
                     "<script>f.submit()</script>",
        "iframe": f"<iframe src=\"{t}\"></iframe>",
        "img": f"<img src=\"{t}\">",
        "script": f"<script src=\"{t}\"></script>",
        "fetch": f"<script>fetch({js}).catch(() => {{}})</script>",
        "xhr": f"<script>var x = new XMLHttpRequest(); x.open('GET', {js}); x.send()</script>",
        "websocket": f"<script>new WebSocket({js}.replace('http', 'ws'))</script>",
        "css": f"<link rel=stylesheet href=\"{t}\">",
        "beacon": f"<script>navigator.sendBeacon({js}, 'x')</script>",
        "blob-navigation": "<script>location.href = URL.createObjectURL(new Blob("
                           "['<h1>blob-escape</h1>'], {type: 'text/html'}))</script>",
    }
    return "<!doctype html><title>hostile</title>" + pages[vector]


def _case_url(site: DemoSite, vector: str, target: str) -> str:
    if vector.startswith("redirect-"):
        code = vector.split("-")[1]
        return f"{site.base_url}_test/redirect?code={code}&to={quote(target, safe='')}"
    return f"{site.base_url}_test/page?html={quote(_vector_html(vector, target), safe='')}"


def _fill(target: str, site: DemoSite, evil: EvilServer) -> str:
    return target.format(
        evil=f"http://{evil.netloc}", evil_port=evil.port, site=site.base_url.rstrip("/"),
        site_port=site.site_netloc.rsplit(":", 1)[1], idp=site.idp_base_url.rstrip("/"),
    )


def _refused(event: dict[str, Any]) -> bool:
    if event["event"] in BLOCK_EVENTS:
        return True
    return event["event"] == "page.console" and any(
        marker in event["message"] for marker in ENGINE_REFUSALS)


@pytest.mark.parametrize("case", CORPUS["cases"], ids=[c["id"] for c in CORPUS["cases"]])
def test_escape_is_blocked(case: dict[str, str], browser: Browser, site: DemoSite,
                           evil: EvilServer) -> None:
    target = _fill(case["target"], site, evil)
    idp_before = sum(1 for r in site.requests() if r.host == site.idp_netloc)
    browser.events.events.clear()
    browser.window.load(_case_url(site, case["vector"], target))
    if case.get("settle") == "load":
        browser.wait_event(lambda e: e["event"] == "page.loaded")
        assert browser.js("document.title") == "hostile"  # the page's own tasks have run
    else:
        assert browser.wait_event(_refused), case
    assert evil.hits == [], f"{case['id']}: reached the hostile server: {evil.hits}"
    assert not [r for r in site.requests() if "localhost" in r.headers.get("Host", "")], case
    idp_after = sum(1 for r in site.requests() if r.host == site.idp_netloc)
    assert idp_after == idp_before, f"{case['id']}: reached the identity provider"
    browser.qtbot.waitUntil(lambda: browser.url() != "" and not browser.loading, timeout=15_000)
    current = browser.url()
    assert current.startswith((site.base_url, "lockdown:")), current


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS["cases"]) >= 150
