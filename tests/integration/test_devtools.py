"""Devtools attack matrix inside the real engine: keys, context menu, special-scheme navigations."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from lockdown.demo.site import DemoSite
from tests.integration.conftest import Browser

DEVTOOLS_KEYS = [
    (Qt.Key.Key_F12, Qt.KeyboardModifier.NoModifier),
    (Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier),
    (Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier),
    (Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier),
    (Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier),
]


@pytest.mark.parametrize(("key", "modifiers"), DEVTOOLS_KEYS, ids=str)
def test_devtools_keys_are_swallowed(browser: Browser, site: DemoSite, key: Qt.Key,
                                     modifiers: Qt.KeyboardModifier) -> None:
    assert browser.load(site.start_url)
    browser.window.view.setFocus()
    window = browser.window.windowHandle()
    assert window is not None
    before = len(QApplication.topLevelWidgets())
    # Through the QWindow, as the platform delivers keys: the window's own filter must act.
    QTest.keyClick(window, key, modifiers)
    event = browser.wait_event(lambda e: e["event"] == "key.swallowed")
    assert event["key"] == int(key.value)
    assert len(QApplication.topLevelWidgets()) == before  # no devtools window appeared
    assert browser.url().startswith(site.base_url)  # no view-source: navigation


def test_allowed_keys_reach_the_page(browser: Browser, site: DemoSite) -> None:
    """The window filter passes ordinary typing through to the focused page."""
    assert browser.load(site.start_url)
    browser.js("document.body.insertAdjacentHTML('beforeend', '<input id=t>');"
               " document.getElementById('t').focus()")
    browser.window.view.setFocus()
    # Chromium tells the renderer of the focus on another channel than the keys: wait for it.
    browser.qtbot.waitUntil(
        lambda: browser.js("document.hasFocus() && document.activeElement.id === 't'") is True)
    window = browser.window.windowHandle()
    assert window is not None
    for key in (Qt.Key.Key_O, Qt.Key.Key_K):
        QTest.keyClick(window, key)
    browser.qtbot.waitUntil(lambda: browser.js("document.getElementById('t').value") == "ok")


def test_context_menu_offers_only_edit_actions(browser: Browser, site: DemoSite) -> None:
    assert browser.load(site.start_url)
    browser.window.view.customContextMenuRequested.emit(QPoint(20, 20))
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert menus, "the custom context menu did not open"
    labels = [a.text() for a in menus[-1].actions()]
    assert labels == ["Cut", "Copy", "Paste"]
    menus[-1].close()


@pytest.mark.parametrize(
    "url",
    ["view-source:{site}", "chrome://gpu", "chrome://settings", "devtools://devtools/bundled/"
     "inspector.html", "javascript:document.title='pwned'", "chrome-devtools://devtools/",
     "qrc:/qtwebchannel/qwebchannel.js", "file:///etc/passwd", "about:blank"],
)
def test_special_scheme_navigations_blocked(browser: Browser, site: DemoSite, url: str) -> None:
    assert browser.load(site.start_url)
    target = url.format(site=site.start_url)
    browser.events.events.clear()
    browser.window.load(target)
    event = browser.wait_event(lambda e: e["event"] in ("navigation.blocked", "request.blocked"))
    assert event["rule"] in ("scheme", "malformed-url")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and str(e.get("url", "")).startswith("lockdown:blocked"))
    assert browser.js("document.title") != "pwned"
    assert browser.js("document.getElementById('reason').textContent").startswith("Reason:")
