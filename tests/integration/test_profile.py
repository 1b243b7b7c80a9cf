"""The named persistent profile: cookies (session ones too) and localStorage survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from tests.integration.conftest import Browser
from tests.integration.test_allowed_flow import login
from tests.integration.test_escape_corpus import CORPUS


def on_disk(path: Path, marker: bytes) -> bool:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return any(marker in f.read_bytes() for f in files)


def test_login_survives_restart(make_browser: Callable[..., Browser], site: DemoSite) -> None:
    first = make_browser(storage="profile-a")
    login(first, site, "student")
    first.js("localStorage.setItem('lockdown-test', 'kept')")
    # Chromium commits cookies and localStorage lazily; deleting the profile flushes them, on
    # Chromium's own threads. The app then exits, so a restart always finds them; here the
    # same process reopens the folder at once, so wait until both are really on disk.
    storage = Path(first.profile.profile.persistentStoragePath())
    first.close()
    first.qtbot.waitUntil(lambda: on_disk(storage / "Cookies", b"MoodleSessionTest")
                          and on_disk(storage / "Local Storage", b"lockdown-test"),
                          timeout=10_000)

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


def test_interceptor_url_form_is_toString_fully_encoded() -> None:
    """The interceptor reads each request URL as ``toEncoded()`` (cheaper per request); the
    policy was written and tested against ``toString(FullyEncoded)``: they must agree on every
    URL, hostile, invalid or not ASCII."""
    from PySide6.QtCore import QUrl

    hosts = {"evil": "http://127.0.0.1:9", "evil_port": 9, "site": "http://127.0.0.1:8000",
             "site_port": 8000, "idp": "http://127.0.0.2:8001"}
    targets = [case["target"].format(**hosts) for case in CORPUS["cases"]]
    targets += ["http://[::1", "http://a b/", "http://xn--nxasmq6b.com/é", "http://h/%zz", "",
                "http://müller.de/ä?ö#ü", "http://1.2.3.4:99999/", "blob:http://h/x",
                "http://u:p w@h/", "http://h/a\\b", "http://h/\x01\x7f", "data:text/html,é"]
    fully_encoded = QUrl.ComponentFormattingOption.FullyEncoded
    for target in targets:
        for mode in QUrl.ParsingMode.TolerantMode, QUrl.ParsingMode.StrictMode:
            url = QUrl(target, mode)
            text = str(url.toEncoded(), "latin-1")  # type: ignore[call-overload]
            assert text == url.toString(fully_encoded), target
