"""The journal bridge in the real engine against the demo site: durable before Commit returns,
invisible to the LMS, origins taken from frames, banners, and the attempt opened elsewhere."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from keyring.backends.fail import Keyring as FailKeyring
from PySide6.QtNetwork import QNetworkCookie
from PySide6.QtWidgets import QApplication

from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from lockdown.journal.keys import load_key
from lockdown.journal.sender import Backoff, PassResult
from lockdown.journal.store import Journal
from lockdown.ui import journal_bridge, journal_front
from lockdown.ui.app import Session
from lockdown.ui.banner import Banner, unsaved_text
from lockdown.ui.cookies import CookieMirror
from lockdown.ui.journal_bridge import JournalBridge, SenderOptions, browserless_session
from tests.integration.conftest import Browser

FAST = SenderOptions(grace_s=0.3, poll_s=0.3, timeout_s=3.0,
                     backoff=Backoff(base_s=0.1, factor=2.0, cap_s=0.5))
SCO = "document.getElementById('scorm_object').contentWindow"
RESPONSE = "cmi.interactions.{}.learner_response"
NO_KEYRING = FailKeyring()  # type: ignore[no-untyped-call]  # as on a bare CI machine


class Bridged:
    """A browser with the journal bridge installed, as ``install`` does in the app."""

    def __init__(self, browser: Browser, journal_path: Path,
                 options: SenderOptions = FAST) -> None:
        self.browser = browser
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        session = Session(app, browser.decider.policy, browser.decider, browser.profile,
                          browser.window, browser.downloads)
        self.journal = Journal(journal_path, os.urandom(32))

        def open_journal(session: Session) -> JournalBridge:
            bridge = JournalBridge(session, self.journal, options=options)
            bridge.start()
            return bridge

        self.front = journal_front.JournalFront(session, open_journal, journal_path)
        bridge = self.front.open()
        assert bridge is not None
        self.bridge = bridge

    def values(self, key: str) -> list[str]:
        return [e.value for e in self.journal.entries() if e.key == key]

    def close(self) -> None:
        self.bridge.close()


@pytest.fixture
def bridged(make_browser: Callable[..., Browser], tmp_path: Path) -> Iterator[
        Callable[..., Bridged]]:
    made: list[Bridged] = []

    def make(**changes: Any) -> Bridged:
        browser = make_browser(**changes)
        result = Bridged(browser, tmp_path / f"journal{len(made)}.sqlite3")
        made.append(result)
        return result

    yield make
    for item in made:
        item.close()


def login(browser: Browser, site: DemoSite) -> None:
    browser.events.events.clear()  # the log is shared by every browser of a test
    assert browser.load(site.start_url)
    browser.js("document.getElementById('login-link').click()")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and e.get("title") == pages.TITLE_IDP_LOGIN)
    browser.js("document.getElementById('username').value = 'student';"
               "document.getElementById('password').value = 'student';"
               "document.getElementById('login-form').submit()")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and e.get("title") == pages.TITLE_COURSE)


def open_exam(browser: Browser, site: DemoSite, *, logged_in: bool = False) -> None:
    if not logged_in:
        login(browser, site)
    assert browser.load(site.exam_url)
    browser.qtbot.waitUntil(lambda: browser.js(
        f"(() => {{ try {{ return {SCO}.document.documentElement.dataset.examReady"
        " === 'connected'; } catch (e) { return false; } })()") is True, timeout=20_000)


def test_answers_are_durable_before_commit_returns(bridged: Callable[..., Bridged],
                                                   site: DemoSite) -> None:
    item = bridged()
    open_exam(item.browser, site)
    seen: list[tuple[Any, list[str]]] = []
    for n, value in ((3, "seven"), (4, "x² + 1"), (3, "eight")):
        # The callback runs as soon as the page's JS call (SetValue + synchronous Commit) has
        # returned; the journal must already hold the value, durably, at that moment.
        key, count = RESPONSE.format(n - 1), len(seen) + 1

        def returned(result: Any, key: str = key) -> None:
            seen.append((result, item.values(key)))

        item.browser.page.runJavaScript(
            f"{SCO}.demoExam.answer({n}, {json.dumps(value)})", 0, returned)
        item.browser.qtbot.waitUntil(functools.partial(lambda c: len(seen) == c, count))
    assert [s[0] for s in seen] == [True, True, True]
    assert seen[0][1][-1] == "seven" and seen[1][1][-1] == "x² + 1" and seen[2][1][-1] == "eight"
    answers = site.answers("student")
    assert answers[RESPONSE.format(2)] == "eight" and answers[RESPONSE.format(3)] == "x² + 1"
    # The page's own successful save acknowledged them: nothing waits for a resend.
    item.browser.qtbot.waitUntil(lambda: item.journal.pending_count() == 0)
    assert item.browser.events.named("journal.acknowledged")


# A page with its own deterministic SCORM API: what the page sees must be the same with and
# without the hook (return values, `this`, arguments, exceptions, identity, synchronous XHR).
TRANSPARENCY_PAGE = r"""<!DOCTYPE html><title>t</title><script>
var calls = [];
var api = {
  SetValue: function (k, v) {
    calls.push([this === api, typeof v, String(v)]);
    if (k === 'throw') { throw new Error('boom'); }
    return k.indexOf('cmi.') === 0 ? 'true' : 'false';
  },
  GetValue: function (k) { return 'got ' + k; },
  Commit: function () {
    var x = new XMLHttpRequest();
    x.open('POST', '/mod/scorm/datamodel.php', false);
    x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
    x.send('id=3&a=1&sesskey=wrong&attempt=1&scoid=1&cmi__location=p%C3%A4ge');
    return x.status + ':' + JSON.stringify(x.responseText);
  }
};
window.API_1484_11 = api;
var out = {};
out.identity = window.API_1484_11 === api;
out.keys = Object.keys(window.API_1484_11);
out.set = window.API_1484_11.SetValue('cmi.location', 'p\u00e4ge');
out.number = window.API_1484_11.SetValue('cmi.score.raw', 5);
out.bad = window.API_1484_11.SetValue('adl.nav.request', 'continue');
try { window.API_1484_11.SetValue('throw', 'x'); out.threw = false; }
catch (e) { out.threw = e.message; }
out.get = window.API_1484_11.GetValue('cmi.location');
try { out.commit = window.API_1484_11.Commit(''); }
catch (e) { out.commit = 'threw ' + e.name; }  // not logged in: redirected to the blocked IdP
localStorage.setItem('numbas-lti-attempt-7-scorm-data', '{"sent": {}}');
out.storage = localStorage.getItem('numbas-lti-attempt-7-scorm-data');
out.calls = calls;
document.title = 'done';
window.transcript = JSON.stringify(out);
</script>"""


def page_url(site: DemoSite, html: str, host: str | None = None) -> str:
    base = site.base_url if host is None else f"http://{host}/"
    return f"{base}_test/page?html={quote(html)}"


def transcript(browser: Browser, site: DemoSite) -> dict[str, Any]:
    assert browser.load(page_url(site, TRANSPARENCY_PAGE))
    browser.qtbot.waitUntil(lambda: browser.js("document.title") == "done")
    return dict(json.loads(browser.js("window.transcript")))


def test_the_lms_sees_the_same_with_and_without_the_hook(
        bridged: Callable[..., Bridged], make_browser: Callable[..., Browser],
        site: DemoSite) -> None:
    plain = transcript(make_browser(), site)
    item = bridged()
    hooked = transcript(item.browser, site)
    assert hooked == plain
    assert plain["identity"] is True and plain["threw"] == "boom"
    assert plain["commit"] == "threw NetworkError"  # thrown through the hook's XHR wrapper
    item.browser.qtbot.waitUntil(lambda: item.values("cmi.location") == ["päge"])
    assert item.values("cmi.score.raw") == ["5"]


def test_pages_cannot_reach_the_channel_or_forge_origins(
        bridged: Callable[..., Bridged], site: DemoSite) -> None:
    item = bridged()
    assert item.browser.load(page_url(site, "<title>x</title>"))
    seen = item.browser.js(
        "[typeof qt, typeof QWebChannel, typeof __lockdownJournalDrain,"
        " typeof __lockdownRecord].join(',')")
    assert seen == "undefined,undefined,undefined,function"
    item.browser.js(
        "__lockdownRecord({type: 'set', page: 'p1', seq: 1, time: Date.now(),"
        " url: 'http://127.0.0.9:1/mod/scorm/player.php', api: 'scorm2004',"
        " key: 'cmi.location', value: 'forged'}); 1")
    refused = item.browser.wait_event(lambda e: e["event"] == "journal.refused")
    assert "another origin" in refused["reason"]
    assert item.values("cmi.location") == []


def test_subframes_record_under_their_own_origin(
        bridged: Callable[..., Bridged], site: DemoSite) -> None:
    other = "localhost:" + site.site_netloc.split(":")[1]
    item = bridged(allowed_hosts=(site.site_netloc, other))
    inner = page_url(site, "<title>inner</title><script>"
                     "window.API_1484_11 = {SetValue: function () { return 'true'; }};"
                     "window.API_1484_11.SetValue('cmi.location', 'from the subframe');"
                     f"__lockdownRecord({{type: 'set', page: 'p2', seq: 9, time: Date.now(),"
                     f" url: {json.dumps(site.start_url)}, api: 'scorm2004',"
                     " key: 'cmi.location', value: 'forged'});"
                     "</script>", host=other)
    assert item.browser.load(page_url(site, f"<title>outer</title><iframe src='{inner}'>"))
    item.browser.qtbot.waitUntil(lambda: item.values("cmi.location") == ["from the subframe"])
    entry = next(e for e in item.journal.entries() if e.key == "cmi.location")
    assert entry.origin == f"http://{other}"
    refused = item.browser.wait_event(lambda e: e["event"] == "journal.refused")
    assert refused["origin"] == f"http://{other}"
    assert item.values("cmi.location") == ["from the subframe"]  # the forged one never landed


def test_outage_shows_the_banner_and_resends(bridged: Callable[..., Bridged],
                                             site: DemoSite) -> None:
    item = bridged(unsaved_banner_delay_s=1)
    open_exam(item.browser, site)
    site.set_offline(True)
    try:
        assert item.browser.js(f"{SCO}.demoExam.answer(5, 'offline answer')") is False
        shown = item.browser.wait_event(lambda e: e["event"] == "journal.banner"
                                        and e["visible"] is True)
        assert shown["pending"] >= 1
        assert item.bridge.unsaved_banner.text == unsaved_text(item.journal.pending_count())
        assert item.bridge.pending_for_quit() >= 1  # the quit flow would warn
    finally:
        site.set_offline(False)
    item.browser.wait_event(lambda e: e["event"] == "journal.banner" and e["visible"] is False)
    assert site.answers("student")[RESPONSE.format(4)] == "offline answer"
    assert item.journal.pending_count() == 0
    assert item.browser.events.named("sender.state")


def test_attempt_opened_elsewhere_is_shown_and_not_resent(
        bridged: Callable[..., Bridged], site: DemoSite, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = bridged(), bridged()
    site.set_exclusive_attempts(True)
    try:
        open_exam(first.browser, site)
        open_exam(second.browser, site)  # another device opens the same attempt
        assert first.browser.js(f"{SCO}.demoExam.answer(7, 'older window')") is False
        kicked = first.browser.wait_event(lambda e: e["event"] == "journal.kicked")
        assert kicked["attempt"].startswith("moodle-scorm:")
        assert first.bridge.kicked_banner.text is not None
        assert "another window or on another device" in first.bridge.kicked_banner.text
        session = first.bridge.cookies.for_url(site.base_url)["MoodleSession"]

        def posts() -> int:
            return sum(1 for r in site.requests() if r.path.startswith("/mod/scorm/datamodel")
                       and f"MoodleSession={session}" in r.headers.get("cookie", ""))

        sender = first.bridge.resender
        passes = threading.Semaphore(0)
        real_pass = sender.deliver_once

        def counted() -> PassResult:
            result = real_pass()
            passes.release()
            return result

        monkeypatch.setattr(sender, "deliver_once", counted)
        assert passes.acquire(timeout=10)  # a pass that may still have raced the kick
        before = posts()
        for _ in range(3):
            sender.nudge(everything=True)
            assert passes.acquire(timeout=10)
        assert posts() == before  # no resend loop against the newer window
        assert sender.state.blocked >= 1
        assert "older window" in first.values(RESPONSE.format(6))  # kept on this device
        assert second.browser.js(f"{SCO}.demoExam.answer(7, 'newer window')") is True
        assert site.answers("student")[RESPONSE.format(6)] == "newer window"
    finally:
        site.set_exclusive_attempts(False)


def test_numbas_provider_kick_is_detected(bridged: Callable[..., Bridged],
                                          site: DemoSite) -> None:
    item = bridged()
    ws = "ws://" + site.site_netloc + "/websocket/attempt/42/scorm_api?uid=me&mode={}"
    script = (
        "<title>numbas</title><script>"
        "function tell(s, uid) { s.dispatchEvent(new MessageEvent('message',"
        " {data: JSON.stringify({current_uid: uid})})); }"
        f"var review = new WebSocket('{ws.format('review')}'); tell(review, 'other');"
        f"var mine = new WebSocket('{ws.format('normal')}'); tell(mine, 'me');"
        "window.ok = mine instanceof WebSocket && WebSocket.OPEN === 1;"
        "tell(mine, 'other');"
        "</script>"
    )
    assert item.browser.load(page_url(site, script))
    kicked = item.browser.wait_event(lambda e: e["event"] == "journal.kicked")
    assert kicked["attempt"] == "numbas-lti:42" and kicked["source"] == "page"
    assert item.browser.js("window.ok") is True
    assert len(item.browser.events.named("journal.kicked")) == 1


def test_popup_windows_are_bridged_too(bridged: Callable[..., Bridged], site: DemoSite) -> None:
    item = bridged(popups="new_window")
    popup = page_url(site, "<title>popup</title><script>"
                     "window.API = {LMSSetValue: function () { return 'true'; }};"
                     "window.API.LMSSetValue('cmi.core.lesson_location', 'in the popup');"
                     "</script>")
    assert item.browser.load(page_url(site, "<title>opener</title>"))
    item.browser.js(f"window.open({json.dumps(popup)}); 1")
    try:
        item.browser.qtbot.waitUntil(
            lambda: item.values("cmi.core.lesson_location") == ["in the popup"])
    finally:
        item.browser.window.end_session("test")  # closes the popup before its profile goes


def test_install_shows_a_quarantined_journal_and_starts_anyway(
        make_browser: Callable[..., Browser], site: DemoSite, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "journal.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    monkeypatch.setenv("LOCKDOWN_DATA_DIR", str(data))
    monkeypatch.setattr(journal_bridge, "load_key",
                        functools.partial(load_key, backend=NO_KEYRING))
    browser = make_browser()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    cleanup = journal_front.install(Session(app, browser.decider.policy, browser.decider,
                                            browser.profile, browser.window, browser.downloads))
    assert not browser.events.named("journal.opened")  # not before the start page is up
    assert browser.load(f"{site.base_url}")
    try:
        # The damaged file may hold answers: opened once the start page has settled.
        browser.wait_event(lambda e: e["event"] == "journal.opened")
        notice = browser.window.findChild(Banner, "journalNoticeBanner")
        assert isinstance(notice, Banner) and notice.text is not None
        assert "could not be verified" in notice.text and "quarantine" in notice.text
        quarantined = browser.events.named("journal.quarantined")
        assert quarantined and Path(quarantined[0]["moved_to"]).exists()
        assert (data / "journal.sqlite3").exists()  # a fresh journal took its place
    finally:
        cleanup()


def chromium_time(unix: float) -> int:
    return int((unix + 11_644_473_600) * 1_000_000)


def test_cookies_restored_from_disk_reach_the_sender(make_browser: Callable[..., Browser],
                                                     tmp_path: Path) -> None:
    """Qt reports only cookie changes; a session restored from disk comes from the database."""
    database = tmp_path / "Cookies"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE cookies (creation_utc INTEGER, host_key TEXT,"
                     " top_frame_site_key TEXT, name TEXT, value TEXT, encrypted_value BLOB,"
                     " path TEXT, expires_utc INTEGER, is_secure INTEGER, is_httponly INTEGER)")
        later, earlier = chromium_time(time.time() + 3600), chromium_time(time.time() - 60)
        conn.executemany("INSERT INTO cookies VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            ("127.0.0.1", "", "MoodleSession", "restored", b"", "/", 0, 0, 1),
            ("127.0.0.1", "", "Expired", "old", b"", "/", earlier, 0, 0),
            ("127.0.0.1", "", "Encrypted", "", b"v10\x01\x02", "/", later, 0, 0),
            ("127.0.0.1", "https://other.example", "Partitioned", "p", b"", "/", later, 0, 0),
            (".example.org", "", "Wide", "w", b"", "/", later, 0, 0),
            ("example.org", "", "Secure", "s", b"", "/mod", later, 1, 0),
        ])
    conn.close()
    browser = make_browser()
    mirror = CookieMirror(browser.profile.profile.cookieStore(), database)
    assert mirror.for_url("http://127.0.0.1:8/mod/scorm/datamodel.php") == {
        "MoodleSession": "restored"}
    assert mirror.for_url("https://example.org/mod/x") == {"Wide": "w", "Secure": "s"}
    assert mirror.for_url("http://example.org/mod/x") == {"Wide": "w"}  # not over http
    assert mirror.for_url("https://a.example.org/module") == {"Wide": "w"}  # not /mod's path
    # A change the engine reports later wins over the disk copy.
    cookie = QNetworkCookie(b"MoodleSession", b"newer")
    cookie.setDomain("127.0.0.1")
    cookie.setPath("/")
    mirror.add(cookie)
    assert mirror.for_url("http://127.0.0.1:8/")["MoodleSession"] == "newer"
    stale = QNetworkCookie(b"MoodleSession", b"restored")
    stale.setDomain("127.0.0.1")
    stale.setPath("/")
    mirror.remove(stale)  # a late removal of the replaced cookie keeps its successor
    assert mirror.for_url("http://127.0.0.1:8/")["MoodleSession"] == "newer"
    assert CookieMirror(browser.profile.profile.cookieStore(), tmp_path / "missing").count == 0
    # The disk copy is parsed at the first read: what the engine reports before that still wins.
    early = CookieMirror(browser.profile.profile.cookieStore(), database)
    early.add(cookie)  # MoodleSession=newer
    wide = QNetworkCookie(b"Wide", b"w")
    wide.setDomain(".example.org")
    wide.setPath("/")
    early.remove(wide)  # gone before anything was read
    assert early.for_url("http://127.0.0.1:8/") == {"MoodleSession": "newer"}
    assert early.for_url("https://a.example.org/") == {}


def test_the_sender_keeps_no_cookies_of_its_own(site: DemoSite) -> None:
    """A login redirect's guest cookie must never stand in for the browser's session."""
    with browserless_session() as http:
        http.trust_env = False
        answer = http.get(site.base_url + "course/view.php?id=2", allow_redirects=False,
                          timeout=10)
        assert answer.status_code == 303 and "MoodleSession" in answer.headers["Set-Cookie"]
        assert len(http.cookies) == 0


def test_the_journal_opens_at_the_first_answer_and_keeps_it(
        make_browser: Callable[..., Browser], site: DemoSite, tmp_path: Path) -> None:
    """Start-up never pays for the journal; the first answer opens it and is still durable
    before the page's call returns."""
    browser = make_browser()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    session = Session(app, browser.decider.policy, browser.decider, browser.profile,
                      browser.window, browser.downloads)
    journal = Journal(tmp_path / "journal.sqlite3", os.urandom(32))
    opened: list[JournalBridge] = []

    def open_journal(session: Session) -> JournalBridge:
        bridge = JournalBridge(session, journal, options=FAST)
        bridge.start()
        opened.append(bridge)
        return bridge

    front = journal_front.JournalFront(session, open_journal, tmp_path / "journal.sqlite3")
    browser.window.start_page_settled.connect(front.open_if_pending)
    try:
        login(browser, site)
        assert opened == []  # pages without answers: nothing opened, nothing pending
        open_exam(browser, site, logged_in=True)
        seen: list[list[str]] = []
        browser.page.runJavaScript(f"{SCO}.demoExam.answer(1, 'first')", 0,
                                   lambda _r: seen.append(
                                       [e.value for e in journal.entries()
                                        if e.key == RESPONSE.format(0)]))
        browser.qtbot.waitUntil(lambda: bool(seen))
        assert len(opened) == 1 and seen[0][-1:] == ["first"]
        assert front.pending_for_quit() == 0  # the page's own save was acknowledged
    finally:
        front.close()
