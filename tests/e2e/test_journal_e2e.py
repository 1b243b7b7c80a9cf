"""The attempt journal in the real app: network drop, SIGKILL, server errors, bad journal files.

The app runs as a subprocess under Xvfb; the student is the keyboard (xdotool) on the real SCORM
player page; the app's JSON log lines and the demo site's delivery log are the observations.
``LOCKDOWN_SOAK=1`` runs the crash test 50 times at random points (``LOCKDOWN_SOAK_SEED``).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from keyring.backends.fail import Keyring as FailKeyring

from lockdown.demo import pages
from lockdown.demo.site import DemoSite, Fault
from lockdown.journal.keys import load_key
from lockdown.journal.store import Journal, SaveContext
from tests.e2e.conftest import AppProcess, demo_config

pytestmark = pytest.mark.e2e

SOAK_RUNS = 50
RESPONSE = "cmi.interactions.{}.learner_response"
Event = dict[str, Any]
NO_KEYRING = FailKeyring()  # type: ignore[no-untyped-call]  # what the app gets in these tests


def require_wiring() -> None:
    from lockdown.ui import journal_front
    from lockdown.ui.app import integrations

    if journal_front.install not in integrations():
        pytest.fail("lockdown.ui.journal_front.install is not in lockdown.ui.app.integrations()"
                    " (it must be there, before the first request: the hook has to be in the"
                    " first exam page and the cookie database read before Chromium opens it)")


@pytest.fixture
def site() -> Iterator[DemoSite]:
    """A demo site of this test's own: its attempt starts empty."""
    demo = DemoSite(test_routes=True)
    demo.start()
    yield demo
    demo.stop()


def xdotool(display: str, *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env={"DISPLAY": display}, capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip()


def since(app: AppProcess, mark: int, predicate: Callable[[Event], bool]) -> Callable[[Event],
                                                                                   bool]:
    """``predicate``, but only for events logged after ``mark`` (an index into app.events)."""
    return lambda e: predicate(e) and any(e is x for x in app.events[mark:])


def named(name: str, **fields: Any) -> Callable[[Event], bool]:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())


def loaded(title: str) -> Callable[[Event], bool]:
    return named("page.loaded", title=title)


@dataclass
class Exam:
    """The app on the demo exam, driven by keyboard like a student."""

    display: str
    site: DemoSite
    start_app: Callable[..., AppProcess]
    env: dict[str, str]
    config: Path
    data: Path = Path()
    app: AppProcess | None = None
    logins: int = 0
    typing: list[threading.Thread] = field(default_factory=list)

    def start(self) -> AppProcess:
        """Start the app on the exam page; log in again when the session did not survive."""
        self.app = app = self.start_app("--config", str(self.config), env=self.env)
        first = app.wait_event(lambda e: loaded(pages.TITLE_EXAM)(e)
                               or loaded(pages.TITLE_IDP_LOGIN)(e), timeout=90)
        self.focus()
        if first.get("title") == pages.TITLE_IDP_LOGIN:
            self.logins += 1
            self.keys("student", "Tab", "student", "Return")
            app.wait_event(loaded(pages.TITLE_EXAM), timeout=60)
        return app

    def quit(self) -> None:
        """Quit through the quit flow, as a student would (no answers waiting)."""
        assert self.app is not None
        self.keys("ctrl+q")
        dialog = xdotool(self.display, "search", "--sync", "--onlyvisible", "--name",
                         "Quit the exam browser").splitlines()[0]
        xdotool(self.display, "windowfocus", "--sync", dialog)
        xdotool(self.display, "key", "alt+y")
        assert self.app.wait_exit(timeout=60) == 0

    def focus(self) -> None:
        assert self.app is not None
        window = xdotool(self.display, "search", "--sync", "--onlyvisible", "--pid",
                         str(self.app.proc.pid), "--name", "lockdown").splitlines()[0]
        xdotool(self.display, "windowfocus", "--sync", window)

    def keys(self, *steps: str) -> None:
        """Key names (Tab, Return, ctrl+a) are pressed; anything else is typed."""
        for step in steps:
            if step in ("Tab", "Return", "ctrl+a", "ctrl+q", "F5"):
                xdotool(self.display, "key", step)
            else:
                xdotool(self.display, "type", "--delay", "12", step)

    def answer(self, values: dict[int, str], stop: threading.Event | None = None) -> None:
        """Answer questions in order, from the focused one (q1 after a load), replacing text."""
        for _n, value in sorted(values.items()):
            if stop is not None and stop.is_set():
                return
            self.keys("ctrl+a", value, "Tab", "Tab")

    def answer_in_background(self, values: dict[int, str]) -> threading.Event:
        stop = threading.Event()

        def run() -> None:
            # The app may be killed while we type: that is the point.
            with contextlib.suppress(subprocess.CalledProcessError):
                self.answer(values, stop)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.typing.append(thread)
        return stop

    def stop_typing(self, stop: threading.Event) -> None:
        """Stop a background typist before the next app starts (it must not type into it)."""
        stop.set()
        for thread in self.typing:
            thread.join(timeout=30)
            assert not thread.is_alive()
        self.typing.clear()

    def server_has(self, expected: dict[int, set[str | None]], timeout: float = 60) -> bool:
        """Wait until every question's stored answer is one of ``expected[n]`` (None: none)."""
        def good(site: DemoSite) -> bool:
            answers = site.answers("student")
            return all(answers.get(RESPONSE.format(n - 1)) in ok for n, ok in expected.items())

        return self.site.wait_for(good, timeout=timeout)

    def answers(self) -> dict[int, str]:
        stored = self.site.answers("student")
        return {n: stored[RESPONSE.format(n - 1)] for n in range(1, 26)
                if RESPONSE.format(n - 1) in stored}


@pytest.fixture
def exam(xvfb_display: str, site: DemoSite, tmp_path: Path, app_env: dict[str, str],
         start_app: Callable[..., AppProcess]) -> Exam:
    require_wiring()
    env = dict(app_env, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb_display,
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    config = demo_config(site, tmp_path / "policy.json", start_url=site.exam_url,
                         unsaved_banner_delay_s=2)
    return Exam(xvfb_display, site, start_app, env, config, Path(app_env["LOCKDOWN_DATA_DIR"]))


def last_pending(app: AppProcess) -> int | None:
    counts = [e["count"] for e in app.events if e.get("event") == "journal.pending"]
    return counts[-1] if counts else None


def pending_is(app: AppProcess, count: int, timeout: float = 60) -> None:
    app.wait_event(lambda _e: last_pending(app) == count, timeout=timeout)


# -- (1) network drop ---------------------------------------------------------------------------
def test_network_drop_mid_exam(exam: Exam, site: DemoSite) -> None:
    app = exam.start()
    exam.answer({1: "before one", 2: "before two"})
    assert exam.server_has({1: {"before one"}, 2: {"before two"}})
    pending_is(app, 0)
    mark = len(app.events)
    site.stop()  # the site goes away: connections refused
    outage = {n: f"outage answer {n}" for n in range(3, 23)}
    exam.answer(outage)
    pending_is(app, len(outage), timeout=90)  # every answer durable on this device
    app.wait_event(since(app, mark, named("journal.banner", visible=True)), timeout=30)
    assert all(d.value not in outage.values() for d in site.deliveries())
    site.start()
    exam.answer({23: "after the outage"})  # the student keeps working; the page saves again
    app.wait_event(since(app, mark, named("journal.banner", visible=False)), timeout=90)
    everything: dict[int, str] = {**outage, 23: "after the outage"}
    assert exam.server_has({n: {v} for n, v in everything.items()}, timeout=30), exam.answers()
    pending_is(app, 0)

    deliveries = site.deliveries()
    for n, value in outage.items():  # in effect exactly once: nothing stale lands after it
        element = RESPONSE.format(n - 1)
        assert [d.value for d in deliveries if d.element == element][-1] == value
    by_request: dict[float, list[int]] = {}  # one datamodel.php request, one arrival time
    number = {v: n for n, v in outage.items()}
    for d in deliveries:
        if d.value in number:
            by_request.setdefault(d.received_at, []).append(number[d.value])
    assert max(len(q) for q in by_request.values()) >= len(outage) - 1  # one resend batch
    assert all(q == sorted(q) for q in by_request.values())  # in the order answered


# -- (2) SIGKILL at random points --------------------------------------------------------------
MODES = ("offline", "drop", "lose", "online")


def in_journal(data: Path, element: str, value: str, timeout: float = 30) -> bool:
    """Whether the app's journal file holds ``element=value``, read as support staff would
    (read-only, with the key file). No log event says "on disk" at INFO level, so the file
    itself is polled."""
    key = load_key(data, backend=NO_KEYRING, create=False).secret
    deadline = time.monotonic() + timeout
    while True:
        with Journal(data / "journal.sqlite3", key, read_only=True) as journal:
            if any(e.key == element and e.value == value for e in journal.entries()):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def crash_runs(exam: Exam, rng: random.Random, modes: list[str]) -> None:
    site = exam.site
    app = exam.start()
    exam.answer({1: "setup"})
    assert exam.server_has({1: {"setup"}})
    pending_is(app, 0)
    # A clean quit writes the cookie store: from now on the session is restored from disk, which
    # Qt never reports as cookie changes (the journal reads the profile's cookie database).
    exam.quit()
    app = exam.start()
    assert exam.logins == 1
    expected: dict[int, set[str | None]] = {1: {"setup"}}
    for run, mode in enumerate(modes):
        pending_is(app, 0)
        k = rng.randint(1, 4)
        j = rng.randint(1, k)
        values = {n: f"r{run}q{n}-{mode}" for n in range(1, k + 1)}
        site.set_fault({"offline": Fault.OFFLINE, "drop": Fault.DROP, "lose": Fault.LOSE}
                       .get(mode))
        stop = exam.answer_in_background(values)
        # The page accepted answer j and the journal holds it on disk: from here on, a crash
        # must not lose it (the answers typed after it may or may not be in yet).
        assert in_journal(exam.data, RESPONSE.format(j - 1), values[j]), (run, mode, j)
        time.sleep(rng.uniform(0.0, 0.15))  # a random kill point, not a synchronisation
        app.kill()
        exam.stop_typing(stop)
        site.set_fault(None)
        for n, value in values.items():
            # Answered before the kill: must arrive. Typed after: the new or the old answer
            # (or none), depending on where the kill landed.
            expected[n] = {value} if n <= j else {value, *expected.get(n, {None})}
        app = exam.start()
        assert exam.server_has(expected), (run, mode, k, j, exam.answers(), expected)
        # An uncertain answer stays uncertain until a later run answers that question for sure:
        # the journal may still deliver it (newer values always win over older ones).


def test_sigkill_after_answering_loses_nothing(exam: Exam) -> None:
    crash_runs(exam, random.Random(11), ["offline", "lose", "drop"])


@pytest.mark.skipif(os.environ.get("LOCKDOWN_SOAK") != "1", reason="set LOCKDOWN_SOAK=1")
def test_sigkill_soak(exam: Exam) -> None:
    rng = random.Random(int(os.environ.get("LOCKDOWN_SOAK_SEED", "7")))
    crash_runs(exam, rng, [rng.choice(MODES) for _ in range(SOAK_RUNS)])


def met(site: DemoSite, fault: Fault, n: int, value: str, *, by_page: bool) -> bool:
    """Wait until a save of answer ``n`` = ``value``, by the page or the app, met ``fault``."""
    return site.wait_for(lambda s: any(
        a.by_page == by_page and a.fault is fault and a.values.get(RESPONSE.format(n - 1)) == value
        for a in s.save_attempts()), timeout=30)


# -- (3) server errors --------------------------------------------------------------------------
def test_server_errors_lose_and_double_nothing(exam: Exam, site: DemoSite) -> None:
    app = exam.start()
    exam.answer({1: "plain"})
    assert exam.server_has({1: {"plain"}})
    faults = {2: (Fault.ERROR, "server error"), 3: (Fault.DROP, "dropped"),
              4: (Fault.APPLY_THEN_DROP, "stored then dropped")}
    for n, (fault, value) in faults.items():
        site.set_fault(fault)
        exam.answer({n: value})
        assert met(site, fault, n, value, by_page=True)
        # The app resends under the same fault (after stored-then-dropped: a duplicate).
        assert met(site, fault, n, value, by_page=False)
    site.set_fault(Fault.SLOW, delay=1.0)
    exam.answer({5: "slow"})  # saved by the page after a second; then the backlog goes
    expected = {1: "plain", 2: "server error", 3: "dropped", 4: "stored then dropped", 5: "slow"}
    assert exam.server_has({n: {v} for n, v in expected.items()}), exam.answers()
    pending_is(app, 0)

    site.set_fault(Fault.LOSE)  # "true\n0", stored nowhere
    mark = len(app.events)
    exam.answer({6: "acknowledged then lost"})
    app.wait_event(since(app, mark, named("journal.acknowledged", source="page")), timeout=30)
    site.set_fault(None)
    assert RESPONSE.format(5) not in site.answers("student")
    exam.keys("F5")  # reload: the player reads the attempt back and the journal sees the loss
    app.wait_event(since(app, mark, loaded(pages.TITLE_EXAM)), timeout=60)
    expected[6] = "acknowledged then lost"
    assert exam.server_has({n: {v} for n, v in expected.items()}), exam.answers()

    delivered = [(d.element, d.value) for d in site.deliveries()]
    for n, value in expected.items():  # in effect once: the last delivery is the answer
        assert [v for e, v in delivered if e == RESPONSE.format(n - 1)][-1] == value
    doubled = [v for e, v in delivered if e == RESPONSE.format(3)]
    assert doubled.count("stored then dropped") >= 2  # a real duplicate, harmless
    assert exam.answers() == expected


# -- (4) bad journal files ---------------------------------------------------------------------
def seed_journal(data: Path, site: DemoSite, values: dict[int, str]) -> Path:
    """A journal with pending answers for the demo attempt, written with the app's key file."""
    data.mkdir(mode=0o700, exist_ok=True)
    key = load_key(data, backend=NO_KEYRING).secret
    path = data / "journal.sqlite3"
    origin = site.base_url.rstrip("/")
    with Journal(path, key) as journal:
        context = journal.context(origin, "moodle-scorm:3:1:1") or SaveContext(
            origin, "moodle-scorm:3:1:1", "moodle-scorm", site.base_url + "mod/scorm/datamodel.php",
            {"id": "3", "a": "1", "sesskey": "unknown", "attempt": "1", "scoid": "1"},
            site.exam_url, "scorm2004", time.time())
        for n, value in values.items():
            journal.record(origin, context.attempt, RESPONSE.format(n - 1), value,
                           client_time=time.time(), source="scorm2004", context=context)
    return path


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "other-user"])
def test_damaged_journal_is_quarantined_and_the_app_starts(
        damage: str, exam: Exam, site: DemoSite, app_env: dict[str, str]) -> None:
    data = Path(app_env["LOCKDOWN_DATA_DIR"])
    path = seed_journal(data, site, {9: "never resent"})
    if damage == "truncated":
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(size // 3)
    elif damage == "corrupted":
        with open(path, "r+b") as handle:
            handle.seek(4096 + 100)
            handle.write(os.urandom(4000))
    else:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(path, 65534, 65534)
    app = exam.start_app("--config", str(exam.config), env=exam.env)
    quarantined = app.wait_event(named("journal.quarantined"), timeout=90)
    shown = app.wait_event(named("journal.notice_shown"), timeout=30)
    assert "could not be verified" in shown["message"] and "exam support" in shown["message"]
    assert Path(quarantined["moved_to"]).exists()
    opened = app.wait_event(named("journal.opened"), timeout=30)
    assert opened["pending"] == 0  # the untrusted answer is not in the journal the app uses
    app.wait_event(lambda e: e.get("event") == "page.loaded", timeout=90)
    assert app.proc.poll() is None  # still running
    assert not [line for line in app.other_lines if "Traceback" in line]


def test_tampered_entry_is_quarantined_and_never_sent(exam: Exam, site: DemoSite,
                                                      app_env: dict[str, str]) -> None:
    app = exam.start()
    exam.answer({1: "first"})
    assert exam.server_has({1: {"first"}})
    pending_is(app, 0)
    app.kill()
    data = Path(app_env["LOCKDOWN_DATA_DIR"])
    path = seed_journal(data, site, {10: "valid resend", 11: "original answer"})
    with sqlite3.connect(path) as conn:  # an edit on disk, as an attacker or a bad disk would
        conn.execute("UPDATE entries SET value = 'tampered answer' WHERE value = ?",
                     ("original answer",))
    conn.close()
    app = exam.start()
    quarantined = app.wait_event(named("journal.quarantined"), timeout=30)
    assert "HMAC" in quarantined["reason"]
    assert exam.server_has({10: {"valid resend"}}), exam.answers()
    pending_is(app, 0)  # everything trusted was delivered in that same pass
    values = {d.value for d in site.deliveries()}
    assert "tampered answer" not in values and "original answer" not in values
