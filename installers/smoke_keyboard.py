"""The smoke test's keyboard scenario: a student logs in through the identity provider, answers the
exam and quits through the quit flow, typing on an X display (Linux only).

Driven from outside, as a student would: keys go to the app's window through ``xdotool``
(XTEST), and every step waits for the app's JSON log event or for the demo site to have
received something (condition waits, no sleeps). ``installers/smoke.py`` runs it in its
``exam`` phase, on the source app (the e2e suite) and on the frozen and installed builds alike.

Windows and macOS have no xdotool/Xvfb: there :func:`unavailable` gives the reason, and the
smoke test prints that the scenario was not run instead of passing it silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from installers.smoke_process import AppRun, SmokeError, check
from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from lockdown.demo.state import USERS

SCREEN = "1280x800x24"
XDOTOOL_TIMEOUT = 30.0
STUDENT = USERS["student"]  # a demo account; its password is public on purpose
ANSWERS = ("42", "x squared")
QUIT_DIALOG = "Quit the exam browser"  # the quit flow's confirmation (lockdown/ui/quit_flow.py)


def unavailable(platform: str = sys.platform) -> str | None:
    """Why the keyboard scenario cannot run on this OS (None: it runs)."""
    if platform.startswith("linux"):
        return None
    return f"it types through xdotool on an X display, which {platform} does not have"


def tools_missing(need_xvfb: bool) -> list[str]:
    """The programs the scenario needs on Linux that are not installed."""
    wanted = ["xdotool", "Xvfb"] if need_xvfb else ["xdotool"]
    return [tool for tool in wanted if shutil.which(tool) is None]


@contextlib.contextmanager
def virtual_display(screen: str = SCREEN) -> Iterator[str]:
    """A private Xvfb (no TCP); yields its display name, e.g. ``:3``.

    ``-displayfd`` makes Xvfb pick a free display and report it once it accepts clients, so
    nothing has to guess a number or wait a fixed time.
    """
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        os.close(read_fd)
        raise SmokeError(f"cannot start Xvfb: {exc}") from None
    finally:
        os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()  # EOF (empty) if Xvfb dies first
        check(number.isdigit(), lambda: f"Xvfb did not start (exit status {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Xdotool:
    """``xdotool`` on one display; a failure or hang becomes a :class:`SmokeError` that shows
    what the app logged last."""

    def __init__(self, display: str, run: AppRun) -> None:
        program = shutil.which("xdotool")
        if program is None:
            raise SmokeError("xdotool is not installed (apt-get install xdotool)")
        self._program = program
        self._env = {"DISPLAY": display, "PATH": os.environ.get("PATH", os.defpath)}
        self._run = run

    def __call__(self, *args: str) -> str:
        try:
            out = subprocess.run([self._program, *args], env=self._env, capture_output=True,
                                 text=True, timeout=XDOTOOL_TIMEOUT, check=True)
        except subprocess.TimeoutExpired:
            raise SmokeError(f"xdotool {' '.join(args)}: no result within"
                             f" {XDOTOOL_TIMEOUT:.0f} s\n{self._run.tail()}") from None
        except subprocess.CalledProcessError as exc:
            raise SmokeError(f"xdotool {' '.join(args)} failed ({exc.returncode}):"
                             f" {exc.stderr.strip()}\n{self._run.tail()}") from None
        return out.stdout.strip()

    def type(self, text: str) -> None:
        self("type", "--delay", "20", text)

    def key(self, *keys: str) -> None:
        self("key", *keys)

    def focus(self, *search: str) -> None:
        """Wait for the first visible window matching ``search`` (xdotool's own condition
        wait, ``--sync``) and give it the keyboard focus."""
        window = self("search", "--sync", "--onlyvisible", *search).splitlines()[0]
        self("windowfocus", "--sync", window)


def login_answer_quit(run: AppRun, site: DemoSite, display: str, timeout: float,
                      say: Callable[[str], None]) -> float:
    """The student's whole visit, by keyboard; returns its duration in seconds.

    The app must already be on the demo site's front page under ``display`` (QT_QPA_PLATFORM
    xcb). It ends with the app gone through the quit flow (Ctrl+Q, confirmed with Alt+Y):
    exit status 0 and ``session.end`` with why=user.
    """
    started = time.monotonic()
    xdo = Xdotool(display, run)

    def loaded(title: str) -> None:
        run.wait_event("page.loaded", timeout, title=title)

    loaded(pages.TITLE_FRONT)
    # The OS lockdown (keyboard grab, focus guard) settles in after the first page: type after.
    run.wait_event("lockdown.applied", timeout)
    run.wait_event("environment.checks_done", timeout)
    xdo.focus("--pid", str(run.proc.pid), "--name", "lockdown")

    xdo.key("Return")  # the autofocused "Log in" link
    loaded(pages.TITLE_IDP_LOGIN)  # the IdP page's script has focused the user name field
    xdo.type(STUDENT.username)
    xdo.key("Tab")
    xdo.type(STUDENT.password)
    xdo.key("Return")
    loaded(pages.TITLE_COURSE)
    blocked = run.find_all("navigation.blocked")
    check(not blocked, lambda: f"navigation blocked during the IdP login: {blocked}")
    say("ok: logged in through the identity provider by keyboard")

    xdo.key("Return")  # the autofocused exam link
    loaded(pages.TITLE_EXAM)  # after its frame: the SCO's deferred script has run
    xdo.type(ANSWERS[0])  # into the autofocused first question
    xdo.key("Tab", "Tab")  # leave q1 (a change saves it), skip its Save button, to q2
    xdo.type(ANSWERS[1])
    xdo.key("Tab")  # leave q2: saved

    def answered(demo: DemoSite) -> bool:
        answers = demo.answers(STUDENT.username)
        return all(answers.get(f"cmi.interactions.{n}.learner_response") == value
                   for n, value in enumerate(ANSWERS))

    check(site.wait_for(answered, timeout=timeout),
          lambda: f"the site did not receive the answers {ANSWERS}:"
                  f" {site.answers(STUDENT.username)}\n{run.tail()}")
    say(f"ok: answered the exam by keyboard; the site stored {list(ANSWERS)}")

    xdo.key("ctrl+q")
    run.wait_event("quit.requested", timeout)
    xdo.focus("--name", QUIT_DIALOG)
    xdo.key("alt+y")
    run.wait_exit(timeout, "confirming the quit dialog")
    run.wait_event("session.end", 10, why="user")
    delivered = {d.element for d in site.deliveries() if d.user == STUDENT.username}
    check(f"cmi.interactions.{len(ANSWERS) - 1}.learner_response" in delivered,
          lambda: f"the last answer never reached the site: {sorted(delivered)}")
    say("ok: Ctrl+Q, quit dialog confirmed: exit 0, session.end why=user")
    return time.monotonic() - started
