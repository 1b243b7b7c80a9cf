"""The named persistent profile: cookies (session ones too) and localStorage survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from tests.integration.conftest import Browser
from tests.integration.test_allowed_flow import login


def test_login_survives_restart(make_browser: Callable[..., Browser], site: DemoSite) -> None:
    first = make_browser(storage="profile-a")
    login(first, site, "student")
    first.js("localStorage.setItem('lockdown-test', 'kept')")
    # Chromium commits localStorage lazily; closing the profile flushes it.
    first.close()

    second = make_browser(storage="profile-a")
    assert second.load(f"{site.base_url}course/view.php?id=2")
    assert second.js("document.title") == pages.TITLE_COURSE  # no redirect to the login page
    assert second.js("localStorage.getItem('lockdown-test')") == "kept"
    cookies = second.js("document.cookie")
    assert "MoodleSessionTest" in cookies  # a session cookie (no Expires) survived


def test_user_agent_and_settings(make_browser: Callable[..., Any], site: DemoSite) -> None:
    browser = make_browser(user_agent_suffix="University-X/2")
    assert browser.load(site.start_url)
    agent = browser.js("navigator.userAgent")
    assert agent.endswith("lockdown/0.1.0 University-X/2")
    last = [r for r in site.requests() if r.path == "/"][-1]
    assert last.headers["user-agent"] == agent
