"""The app as the OS starts it: with a numbas:// link, a .seb file or a seb:// link.

Each test starts ``python -m lockdown <argument>`` against the emulated Numbas provider /
Moodle (tests/support/exam_site.py) and waits for the server to accept the exam page; bad
arguments must end the app with exit status 2 and one clear line, never a traceback.
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from lockdown.policy.seb.config_key import config_key
from tests.e2e.conftest import AppProcess
from tests.support.encoders import numbas_link, seb_container
from tests.support.exam_site import ExamSite
from tests.support.protocol_server import CONFIG_PATH, ServerConfig

pytestmark = pytest.mark.e2e

StartApp = Callable[..., AppProcess]


@pytest.fixture
def exam_site() -> Iterator[ExamSite]:
    server = ExamSite(ServerConfig(
        numbas_min_versions=dict.fromkeys(("linux", "win32", "darwin"), "0.1.0")))
    with server:
        yield server


def seb_settings(start_url: str, **extra: object) -> dict[str, object]:
    return {"startURL": start_url, "sendBrowserExamKey": True, "allowQuit": True, **extra}


def loaded(app: AppProcess, url_prefix: str, timeout: float = 60) -> None:
    app.wait_event(lambda e: e.get("event") == "page.loaded"
                   and str(e.get("url", "")).startswith(url_prefix), timeout=timeout)


def test_numbas_link_reaches_the_exam(start_app: StartApp, exam_site: ExamSite) -> None:
    launch = exam_site.page("/numbas/lockdown/launch",
                            "<!doctype html><title>Numbas exam</title><p>ready</p>")
    link = numbas_link(f"127.0.0.1:{exam_site.port}",
                       {"url": f"{launch}?session_key=k&lti1p3-session-id=s",
                        "token": exam_site.config.numbas_token})
    app = start_app(link)
    accepted = exam_site.wait_for(lambda r: r.target.startswith("/numbas/lockdown/launch"))
    assert accepted.allowed, accepted.reason
    assert accepted.target == "/numbas/lockdown/launch?session_key=k&lti1p3-session-id=s"
    loaded(app, launch)


def test_seb_file_reaches_the_exam(start_app: StartApp, exam_site: ExamSite,
                                   tmp_path: Path) -> None:
    start = exam_site.page("/moodle/mod/quiz/view.php", "<!doctype html><p>quiz</p>")
    settings = seb_settings(f"{start}?id=7&x=%7e")
    exam_site.config.seb_config_key = config_key(settings)
    path = tmp_path / "Final exam.seb"
    path.write_bytes(seb_container(plistlib.dumps(settings, fmt=plistlib.FMT_XML), "gzip"))
    app = start_app(str(path))
    accepted = exam_site.wait_for(lambda r: r.check == "moodle")
    assert accepted.allowed, accepted.reason
    assert "SEB/" in accepted.headers["user-agent"]
    loaded(app, start)


def test_seb_link_reaches_the_exam(start_app: StartApp, exam_site: ExamSite) -> None:
    start = exam_site.page("/moodle/mod/quiz/view.php", "<!doctype html><p>quiz</p>")
    settings = seb_settings(f"{start}?id=8", startURLAppendQueryParameter=True)
    exam_site.config.seb_config_key = config_key(settings)
    exam_site.config.seb_config_xml = plistlib.dumps(settings, fmt=plistlib.FMT_XML)
    app = start_app(f"seb://127.0.0.1:{exam_site.port}{CONFIG_PATH}?cmid=8??token=1")
    exam = exam_site.wait_for(lambda r: r.check == "moodle")
    assert exam.allowed, exam.reason
    assert exam.target == "/moodle/mod/quiz/view.php?id=8&token=1"
    loaded(app, start)


def test_seb_link_in_a_page_restarts_with_the_new_exam(start_app: StartApp,
                                                       exam_site: ExamSite,
                                                       tmp_path: Path) -> None:
    """A page sends the student to another exam's seb:// link (as Moodle does).

    The configuration download needs the login cookie the page set; the app then re-executes
    itself (same process id) with the new exam, and the cookie is still there.
    """
    second_start = exam_site.page("/moodle/mod/quiz/view.php", "<!doctype html><p>exam</p>")
    second = seb_settings(f"{second_start}?id=9", startURLAppendQueryParameter=True)
    exam_site.config.seb_config_key = config_key(second)
    exam_site.config.seb_config_xml = plistlib.dumps(second, fmt=plistlib.FMT_XML)
    exam_site.config.session_cookie = "MoodleSession=abc123"
    link = f"seb://127.0.0.1:{exam_site.port}{CONFIG_PATH}?cmid=2??launch=7"
    exam_site.set_cookie["/site/login"] = "MoodleSession=abc123; Path=/; HttpOnly"
    login = exam_site.page(
        "/site/login", f"<!doctype html><script>location.replace({link!r});</script>")
    first = tmp_path / "course.seb"
    first.write_bytes(plistlib.dumps(seb_settings(login), fmt=plistlib.FMT_XML))
    app = start_app(str(first))
    pid = app.proc.pid
    fetched = exam_site.wait_for(lambda r: r.check == "moodle-config", timeout=60)
    assert fetched.allowed and fetched.target == f"{CONFIG_PATH}?cmid=2"
    app.wait_event(lambda e: e.get("event") == "app.restart")
    exam = exam_site.wait_for(lambda r: r.check == "moodle", timeout=60)
    assert exam.allowed, exam.reason
    assert exam.target == "/moodle/mod/quiz/view.php?id=9&launch=7"
    assert "MoodleSession=abc123" in exam.headers.get("cookie", "")
    loaded(app, second_start)
    assert app.proc.pid == pid and app.proc.poll() is None
    # The old image's Chromium helpers were ended and reaped, not left as zombies/orphans.
    statuses = [psutil.Process(p).status() for p in app.pids()]
    assert psutil.STATUS_ZOMBIE not in statuses


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("numbas://numbas.example.ac.uk/zz", "not hex"),
        ("numbas://numbas.example.ac.uk/" + "00" * 20, "truncated"),
        ("sebs://", "no valid host"),
        ("exam.txt", "is not a .seb file"),
        ("https://moodle.example.ac.uk/", "use --start-url"),
        ("/nonexistent/exam.seb", "no such file"),
        (numbas_link("numbas.example.ac.uk", {"url": "https://n.example/l", "token": "t"},
                     password="secret"), "no password was entered"),
    ],
)
def test_bad_launch_arguments_exit_2_with_one_line(start_app: StartApp, argument: str,
                                                   message: str) -> None:
    app = start_app(argument)
    assert app.wait_exit(timeout=60) == 2
    lines = [line for line in app.other_lines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("lockdown: launch error: ") and message in lines[0]
    assert any(e.get("event") == "launch.failed" for e in app.events)
