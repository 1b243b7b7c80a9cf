"""A real QtWebEngine (offscreen) driving the real demo site, through the app's own UI classes."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from lockdown.demo.site import DemoSite
from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.sanitize import qt_argv
from lockdown.ui.app import demo_policy
from lockdown.ui.internal_pages import register_scheme
from tests.support.evil import EvilServer

register_scheme()  # must precede the QApplication pytest-qt creates


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    return qt_argv("lockdown-tests")


@pytest.fixture(scope="session")
def site() -> Iterator[DemoSite]:
    demo = DemoSite(test_routes=True)
    demo.start()
    yield demo
    demo.stop()


@pytest.fixture(scope="session")
def evil() -> Iterator[EvilServer]:
    server = EvilServer().start()
    yield server
    server.stop()


class EventLog(logging.Handler):
    """Captures the app's structured log events (the same ones support staff and e2e read)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        entry = {"event": getattr(record, "event", "message"), "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        self.events.append(entry)

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] in names]


@pytest.fixture
def events() -> Iterator[EventLog]:
    handler = EventLog()
    logger = logging.getLogger("lockdown")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


class Browser:
    """The app's window, profile and page, plus helpers to drive and observe them."""

    def __init__(self, qtbot: QtBot, policy: Policy, storage: Path, events: EventLog, *,
                 fast_path: bool = True) -> None:
        from lockdown.ui.downloads import DownloadManager
        from lockdown.ui.profile import ExamProfile
        from lockdown.ui.window import KioskWindow

        self.qtbot = qtbot
        self.events = events
        self.decider = Decider(policy)
        self.profile = ExamProfile(f"test-{storage.name}", storage / "profile", self.decider,
                                   home=policy.start_url, fast_path=fast_path)
        self.downloads = DownloadManager(self.decider, storage / "Downloads")
        self.profile.profile.downloadRequested.connect(self.downloads.on_download)
        self.window = KioskWindow(self.profile, self.decider, self.downloads, host_label="test")
        self.window.resize(1024, 768)
        self.window.show()
        self.page = self.window.page
        self.loading = False
        self.page.loadStarted.connect(lambda: setattr(self, "loading", True))
        self.page.loadFinished.connect(lambda _ok: setattr(self, "loading", False))

    def load(self, url: str, timeout: int = 20_000) -> bool:
        with self.qtbot.waitSignal(self.page.loadFinished, timeout=timeout) as blocker:
            self.window.load(url)
        return bool(blocker.args and blocker.args[0])

    def js(self, script: str, timeout: int = 10_000) -> Any:
        result: list[Any] = []
        self.page.runJavaScript(script, 0, result.append)
        self.qtbot.waitUntil(lambda: bool(result), timeout=timeout)
        return result[0]

    def click(self, selector: str) -> None:
        """A real mouse click (user activation), as file choosers and downloads require."""
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        # PySide6 hands JS arrays back as '': go through JSON.
        rect = json.loads(self.js(
            f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
            " return JSON.stringify([r.x + r.width / 2, r.y + r.height / 2]); })()"))
        target = self.window.view.focusProxy() or self.window.view
        QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(int(rect[0]), int(rect[1])))

    def url(self) -> str:
        return self.page.url().toString()

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: int = 15_000) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = [e for e in self.events.events if predicate(e)]
            return bool(found)

        self.qtbot.waitUntil(check, timeout=timeout)
        return found[0]

    def close(self) -> None:
        import shiboken6

        if not shiboken6.isValid(self.window):
            return
        self.window._ending = True
        self.window.close()
        shiboken6.delete(self.window)
        shiboken6.delete(self.profile.profile)


@pytest.fixture
def make_browser(qtbot: QtBot, tmp_path: Path, events: EventLog,
                 site: DemoSite) -> Iterator[Callable[..., Browser]]:
    made: list[Browser] = []

    def make(storage: str | None = None, *, fast_path: bool = True, **changes: Any) -> Browser:
        """A browser on the demo site; the same ``storage`` name reuses the profile folder."""
        policy = dataclasses.replace(demo_policy(Policy(), site), **changes)
        browser = Browser(qtbot, policy, tmp_path / (storage or f"b{len(made)}"), events,
                          fast_path=fast_path)
        made.append(browser)
        return browser

    yield make
    for browser in made:
        browser.close()


@pytest.fixture
def browser(make_browser: Callable[..., Browser]) -> Browser:
    return make_browser()
