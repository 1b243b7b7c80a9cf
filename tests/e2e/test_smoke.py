"""The app as a real process: log in through the IdP, answer the exam, quit through the quit flow.

Driven only from outside, as a student would: keys typed into an Xvfb window with xdotool, the
app's JSON log lines read from stderr, the demo site's delivery log checked at the end.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from tests.e2e.conftest import AppProcess, demo_config

pytestmark = pytest.mark.e2e


def xdotool(display: str, *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env={"DISPLAY": display}, capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip()


def loaded(app: AppProcess, title: str, timeout: float = 60) -> None:
    app.wait_event(lambda e: e.get("event") == "page.loaded" and e.get("title") == title,
                   timeout=timeout)


def focus_app_window(display: str, app: AppProcess) -> str:
    window = xdotool(display, "search", "--sync", "--onlyvisible", "--pid",
                     str(app.proc.pid), "--name", "lockdown").splitlines()[0]
    xdotool(display, "windowfocus", "--sync", window)
    return window


def test_login_answer_quit(xvfb_display: str, e2e_site: DemoSite, tmp_path: Path,
                           app_env: dict[str, str], start_app: Callable[..., AppProcess]) -> None:
    env = dict(app_env, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb_display)
    config = demo_config(e2e_site, tmp_path / "policy.json")
    app = start_app("--config", str(config), env=env)
    loaded(app, pages.TITLE_FRONT)
    # The OS lockdown (keyboard grab, focus guard) settles in after the first page: type after.
    app.wait_event(lambda e: e.get("event") == "lockdown.applied")
    app.wait_event(lambda e: e.get("event") == "environment.checks_done")
    focus_app_window(xvfb_display, app)

    xdotool(xvfb_display, "key", "Return")  # the focused "Log in" link
    loaded(app, pages.TITLE_IDP_LOGIN)
    xdotool(xvfb_display, "type", "--delay", "20", "student")
    xdotool(xvfb_display, "key", "Tab")
    xdotool(xvfb_display, "type", "--delay", "20", "student")
    xdotool(xvfb_display, "key", "Return")
    loaded(app, pages.TITLE_COURSE)
    assert not [e for e in app.events if e.get("event") == "navigation.blocked"]

    xdotool(xvfb_display, "key", "Return")  # the focused exam link
    loaded(app, pages.TITLE_EXAM)
    assert e2e_site.wait_for(lambda s: any(r.path.startswith("/mod/scorm/sco/exam.js")
                                           for r in s.requests()), timeout=30)
    xdotool(xvfb_display, "type", "--delay", "20", "42")
    xdotool(xvfb_display, "key", "Tab", "Tab")  # leave q1 (saves), skip its button, to q2
    xdotool(xvfb_display, "type", "--delay", "20", "x squared")
    xdotool(xvfb_display, "key", "Tab")

    def answered(site: DemoSite) -> bool:
        answers = site.answers("student")
        return (answers.get("cmi.interactions.0.learner_response") == "42"
                and answers.get("cmi.interactions.1.learner_response") == "x squared")

    assert e2e_site.wait_for(answered, timeout=30), e2e_site.answers("student")

    xdotool(xvfb_display, "key", "ctrl+q")
    app.wait_event(lambda e: e.get("event") == "quit.requested")
    dialog = xdotool(xvfb_display, "search", "--sync", "--onlyvisible", "--name",
                     "Quit the exam browser").splitlines()[0]
    xdotool(xvfb_display, "windowfocus", "--sync", dialog)
    xdotool(xvfb_display, "key", "alt+y")
    assert app.wait_exit(timeout=30) == 0
    assert any(e.get("event") == "session.end" and e.get("why") == "user" for e in app.events)
    delivered = {d.element for d in e2e_site.deliveries() if d.user == "student"}
    assert "cmi.interactions.1.learner_response" in delivered
