"""The C++ fast path in front of the Python request interceptor (lockdown/ui/fastpath).

The escape corpus and the allowed flow run through it as well; these tests pin what it adds:
requests to an origin the decider has learnt never reach Python, everything else still does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from PySide6.QtWebEngineCore import QWebEngineUrlRequestInfo

from lockdown.demo.site import DemoSite
from lockdown.policy.decide import Kind
from lockdown.ui.fastpath import native
from lockdown.ui.profile import PolicyInterceptor
from tests.integration.conftest import Browser
from tests.support.evil import EvilServer

N = 30


@pytest.fixture
def python_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """URLs the Python interceptor is called with."""
    seen: list[str] = []
    original = PolicyInterceptor.interceptRequest

    def counting(self: PolicyInterceptor, info: QWebEngineUrlRequestInfo) -> None:
        seen.append(info.requestUrl().toString())
        original(self, info)

    monkeypatch.setattr(PolicyInterceptor, "interceptRequest", counting)
    return seen


def load_resources(browser: Browser, site: DemoSite) -> str:
    url = f"{site.base_url}_test/resources?n={N}"
    assert browser.load(url)
    assert browser.js("document.documentElement.getAttribute('data-loaded')") == "true"
    return url


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="built by dev.sh on Linux")
def test_the_set_up_built_the_fast_path() -> None:
    assert native.library() is not None


def test_requests_to_a_learnt_origin_never_reach_python(
        make_browser: Callable[..., Browser], site: DemoSite, python_calls: list[str]) -> None:
    browser = make_browser()
    url = load_resources(browser, site)
    fast = browser.profile.interceptor.fast_path
    assert fast is not None
    assert fast.prefix_count() == len(browser.decider.any_kind_prefixes) == 1
    # The page's own request taught the decider its origin; its N sub-resources passed in C++.
    assert python_calls == [url]


def test_without_the_fast_path_python_sees_every_request(
        make_browser: Callable[..., Browser], site: DemoSite, python_calls: list[str]) -> None:
    browser = make_browser(fast_path=False)
    load_resources(browser, site)
    assert browser.profile.interceptor.fast_path is None
    assert len(python_calls) >= N + 1


@pytest.mark.parametrize("fast_path", [True, False])
def test_other_origins_still_reach_python_and_are_blocked(
        make_browser: Callable[..., Browser], site: DemoSite, evil: EvilServer,
        python_calls: list[str], fast_path: bool) -> None:
    browser = make_browser(fast_path=fast_path)
    load_resources(browser, site)
    target = f"http://{evil.netloc}/fastpath-probe.png"
    browser.js(f"(() => {{ const i = new Image(); i.src = {target!r}; return 1; }})()")
    event = browser.wait_event(lambda e: e["event"] == "request.blocked"
                               and "fastpath-probe" in e.get("url", ""))
    assert event["url"].startswith(f"http://{evil.netloc}/")
    assert target in python_calls
    assert evil.hits == []


def test_a_request_hook_sees_every_request(
        make_browser: Callable[..., Browser], site: DemoSite) -> None:
    browser = make_browser()
    hooked: list[str] = []

    def hook(info: QWebEngineUrlRequestInfo, url: str, kind: Kind) -> bool:
        del info, kind
        hooked.append(url)
        return False

    load_resources(browser, site)  # the fast path has learnt the origin
    fast = browser.profile.interceptor.fast_path
    assert fast is not None and fast.prefix_count() == 1
    browser.profile.add_request_hook(hook)
    assert fast.prefix_count() == 0
    load_resources(browser, site)
    assert len([u for u in hooked if "/_test/res/" in u]) == N
