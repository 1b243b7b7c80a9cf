"""The app's start-up order: the page loads first, the window becomes a kiosk while it loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from lockdown.cli import Options
from lockdown.demo.site import DemoSite
from lockdown.policy.settings import Policy
from lockdown.ui import app as ui_app

OPTIONS = Options(demo=False, launch_link=None, log_format=None, log_file=None)


@pytest.fixture
def session(qtbot: QtBot, site: DemoSite, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[ui_app.Session]:
    monkeypatch.setenv("LOCKDOWN_DATA_DIR", str(tmp_path))
    policy = ui_app.demo_policy(Policy(), site)
    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    built = ui_app.build_session(qapp, policy, defer_kiosk=True)
    yield built
    built.cookies.disconnect_store()
    if shiboken6.isValid(built.window):
        built.window.end_session("test over")
        shiboken6.delete(built.window)
    shiboken6.delete(built.profile.profile)


def test_the_window_becomes_a_kiosk_while_the_start_page_loads(
        qtbot: QtBot, site: DemoSite, session: ui_app.Session) -> None:
    window = session.window

    def key_filter() -> object:  # read afresh each time (mypy would narrow the attribute)
        return window.key_filter

    assert key_filter() is None and window.isHidden()  # nothing of it before load()
    screen = window.screen().geometry()
    assert window.geometry() == screen  # laid out at its final size before the page loads
    assert window.view.width() == screen.width()
    assert screen.height() - 100 < window.view.height() < screen.height()
    before = window.view.size()
    with qtbot.waitSignal(window.page.loadFinished, timeout=20_000):
        window.load(site.start_url)
        ui_app._while_loading(session, OPTIONS)
    qtbot.waitUntil(lambda: window.isVisible() and window.isFullScreen())
    assert window.view.size() == before  # showing it did not resize the page
    assert key_filter() is not None
    assert window.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    with qtbot.waitSignal(window.start_page_settled, timeout=10_000):
        pass  # settles once shown, after the load event


def test_a_session_ended_before_the_window_showed_quits_the_app(
        qtbot: QtBot, site: DemoSite, session: ui_app.Session,
        monkeypatch: pytest.MonkeyPatch) -> None:
    quits: list[bool] = []
    monkeypatch.setattr(session.app, "quit", lambda: quits.append(True))
    window = session.window
    window.load(site.start_url)
    ui_app._while_loading(session, OPTIONS)
    window.end_session("signal 15")  # e.g. SIGTERM before the first step ran
    qtbot.waitUntil(lambda: quits == [True])
    assert window.isHidden() and window.key_filter is None  # never shown as a kiosk
