"""A real QtWebEngine against the emulated Numbas provider and Moodle (tests/support).

The servers check what the real ones check (token + user agent for Numbas, ``sha256(FULLME +
key)`` for Moodle); these tests drive the app's own profile, page and window, with the exam
protocols installed as ``app.run`` installs them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import plistlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pytestqt.qtbot import QtBot

from lockdown import __version__
from lockdown.cli import Options, build_policy
from lockdown.launch import (
    SEB_COMPAT_VERSION,
    LaunchError,
    ReconfigureBundle,
    numbas_layer,
    take_bundle,
    write_bundle,
)
from lockdown.policy.config import Layer
from lockdown.policy.numbas import (
    PROVIDER_UA_PATTERN,
    current_platform_name,
    decode_launch_link,
    numbas_user_agent,
)
from lockdown.policy.seb.config_key import config_key
from lockdown.policy.settings import Policy
from lockdown.ui.app import Session
from lockdown.ui.exam_protocols import Protocols, install_protocols
from lockdown.ui.numbas_password import (
    Dialogs,
    KeyringStore,
    LaunchCancelled,
    LaunchContext,
    resolve_launch,
)
from tests.integration.conftest import Browser, EventLog
from tests.support.encoders import numbas_link, seb_container
from tests.support.exam_site import ExamSite
from tests.support.protocol_server import (
    CONFIG_PATH,
    MIN_VERSION_PAGE,
    RecordedRequest,
    ServerConfig,
    moodle_fullme,
)
from tests.support.seb_fixtures import MOODLE_KEY

BEK = "b" * 63 + "1"
ALL_PLATFORMS = ("linux", "win32", "darwin")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def exam_site() -> Iterator[ExamSite]:
    server = ExamSite(ServerConfig(
        numbas_min_versions=dict.fromkeys(ALL_PLATFORMS, "0.1.0"),
        seb_config_key=MOODLE_KEY, seb_browser_exam_keys=[BEK],
    ))
    with server:
        yield server


def policy_changes(policy: Policy) -> dict[str, Any]:
    return {f.name: getattr(policy, f.name) for f in dataclasses.fields(Policy)}


def session_of(browser: Browser) -> Session:
    from PySide6.QtWidgets import QApplication

    app = cast(QApplication, QApplication.instance())
    return Session(app, browser.decider.policy, browser.decider, browser.profile,
                   browser.window, browser.downloads)


def navigate(browser: Browser, qtbot: QtBot, script: str, timeout: int = 20_000) -> None:
    """Start a navigation from the page itself (Chromium's URL, not one Qt built)."""
    with qtbot.waitSignal(browser.page.loadFinished, timeout=timeout):
        browser.page.runJavaScript(script)


def js_list(browser: Browser, expression: str) -> list[Any]:
    """Evaluate an array expression (PySide6 returns JS arrays as "", so go through JSON)."""
    return cast(list[Any], json.loads(browser.js(f"JSON.stringify({expression})")))


def last(site: ExamSite, predicate: Callable[[RecordedRequest], bool]) -> RecordedRequest:
    found = [r for r in site.requests if predicate(r)]
    assert found, [f"{r.method} {r.target} {r.check}" for r in site.requests]
    return found[-1]


# =========================================================================== Numbas

NUMBAS_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/numbas/app.js?v=1"></script></head><body>
<img src="/numbas/img.png?x=1"><iframe id="f" src="/numbas/frame?y=2"></iframe>
<script>
window.results = {};
fetch("/numbas/api/attempt?z=3", {method: "POST", body: "data"})
  .then(function (r) { results.fetch = r.status; });
var ws = new WebSocket("ws://" + location.host + "/numbas/ws?attempt=1");
ws.onopen = function () { results.ws = "open"; ws.close(); };
ws.onerror = function () { results.ws = "error"; };
</script></body></html>"""


@pytest.fixture
def numbas_session(make_browser: Callable[..., Browser], exam_site: ExamSite,
                   tmp_path: Path) -> tuple[Browser, Protocols, str]:
    launch_url = exam_site.page("/numbas/launch", NUMBAS_PAGE) + "?session_key=k1&lti=%7E"
    exam_site.pages["/numbas/app.js"] = ("text/javascript", b"window.appLoaded = true;")
    link = numbas_link(f"127.0.0.1:{exam_site.port}",
                       {"url": launch_url, "token": exam_site.config.numbas_token})
    launch = decode_launch_link(link, password="", salt="")
    policy = build_policy(config=None, start_url=None, machine_dir=tmp_path,
                          exam=numbas_layer(launch))
    browser = make_browser(**policy_changes(policy))
    protocols = install_protocols(session_of(browser), LaunchContext(numbas=launch))
    return browser, protocols, launch_url


def test_numbas_token_and_agent_on_every_request(numbas_session: tuple[Browser, Protocols, str],
                                                 exam_site: ExamSite, qtbot: QtBot) -> None:
    browser, _protocols, launch_url = numbas_session
    assert browser.load(launch_url)
    qtbot.waitUntil(lambda: any(r.method == "WEBSOCKET" for r in exam_site.requests),
                    timeout=20_000)
    qtbot.waitUntil(lambda: any("/numbas/api/" in r.target for r in exam_site.requests),
                    timeout=20_000)
    numbas = [r for r in exam_site.requests if r.check == "numbas"]
    paths = {r.target.partition("?")[0] for r in numbas}
    assert {"/numbas/launch", "/numbas/app.js", "/numbas/img.png", "/numbas/frame",
            "/numbas/api/attempt", "/numbas/ws"} <= paths
    token = f"Basic {exam_site.config.numbas_token}"
    assert all(r.allowed and r.headers["authorization"] == token for r in numbas), [
        (r.target, r.reason) for r in numbas if not r.allowed]
    agent = browser.js("navigator.userAgent")
    assert agent == numbas_user_agent(__version__, current_platform_name())
    assert dict(PROVIDER_UA_PATTERN.findall(agent)) == {
        "Version": __version__, "Platform": current_platform_name()}
    assert browser.js("window.results.ws") == "open"
    assert browser.js("window.appLoaded") is True


def test_numbas_refusal_page_for_an_old_version(numbas_session: tuple[Browser, Protocols, str],
                                                exam_site: ExamSite) -> None:
    browser, _protocols, launch_url = numbas_session
    exam_site.config.numbas_min_versions = dict.fromkeys(ALL_PLATFORMS, "99.0.0")
    browser.load(launch_url)
    assert MIN_VERSION_PAGE in browser.js("document.body.innerText")
    refused = last(exam_site, lambda r: r.target.startswith("/numbas/launch"))
    assert not refused.allowed and refused.headers["authorization"].startswith("Basic ")


def test_numbas_session_allows_the_launch_host_only(
        numbas_session: tuple[Browser, Protocols, str], site: Any) -> None:
    browser, _protocols, _launch_url = numbas_session
    port = browser.decider.policy.start_url.split(":")[2].split("/")[0]
    assert browser.decider.policy.allowed_hosts == (f"127.0.0.1:{port}",)
    assert not browser.decider.navigation(site.start_url, main_frame=True).allowed


# =========================================================================== Moodle / SEB


@pytest.fixture
def seb_browser(make_browser: Callable[..., Browser],
                exam_site: ExamSite) -> tuple[Browser, Protocols]:
    start = exam_site.page("/moodle/start", "<!doctype html><meta charset=utf-8><p>start</p>")
    browser = make_browser(start_url=start, allowed_hosts=(), idp_hosts=(), login_paths=(),
                           seb_config_key=MOODLE_KEY, seb_browser_exam_key=BEK)
    protocols = install_protocols(session_of(browser), LaunchContext())
    assert browser.load(start)
    return browser, protocols


#: Relative URLs as a page writes them; Chromium sends them in its canonical form, which Qt
#: reports differently for several of them (see exam_protocols' module docstring).
AWKWARD_URLS = [
    "/moodle/mod/quiz/view.php?id=3&x=%7e&y=%41%c3%a9#frag",
    "/moodle/caf\u00e9/\u00fcber/\u65e5\u672c?q=\u00e9t\u00e9&r=a b",
    "/moodle/x?a={b}|^`&c=%zz&d=%",
    "/moodle/p%41th/%2F/x;y=1?a=[1]&b=+%20",
    "/moodle/quote'path/x?y=\"z\"&w='v'",
]


@pytest.mark.parametrize("relative", AWKWARD_URLS)
def test_moodle_accepts_the_config_key_hash(seb_browser: tuple[Browser, Protocols],
                                            exam_site: ExamSite, qtbot: QtBot,
                                            relative: str) -> None:
    browser, _protocols = seb_browser
    exam_site.requests.clear()
    navigate(browser, qtbot, f"location.href = {json.dumps(relative)};")
    request = last(exam_site, lambda r: r.check == "moodle")
    assert request.allowed, request.reason
    href, config_hash, exam_hash = js_list(
        browser, "[location.href, SafeExamBrowser.security.configKey,"
        " SafeExamBrowser.security.browserExamKey]")
    fullme = moodle_fullme("http", exam_site.wwwroot, request.target)
    assert config_hash == sha(href.split("#")[0] + MOODLE_KEY) == sha(fullme + MOODLE_KEY)
    assert exam_hash == sha(fullme + BEK)
    assert href.endswith("#frag") == relative.endswith("#frag")


def test_app_initiated_loads_and_sub_resources_carry_hashes(
        seb_browser: tuple[Browser, Protocols], exam_site: ExamSite, qtbot: QtBot) -> None:
    browser, _protocols = seb_browser
    page = exam_site.page("/moodle/mod/quiz/attempt.php",
                          "<!doctype html><img src='/moodle/pix/i.png?x=1'>"
                          "<script src='/moodle/lib/requirejs.php/1/core/first.js'></script>")
    exam_site.requests.clear()
    assert browser.load(page + "?attempt=7&cmid=3&page=%7e")
    qtbot.waitUntil(lambda: any("/pix/" in r.target for r in exam_site.requests))
    checked = [r for r in exam_site.requests if r.check == "moodle"]
    assert {r.target.partition("?")[0] for r in checked} >= {
        "/moodle/mod/quiz/attempt.php", "/moodle/pix/i.png",
        "/moodle/lib/requirejs.php/1/core/first.js"}
    assert all(r.allowed for r in checked), [(r.target, r.reason) for r in checked]
    agent = browser.js("navigator.userAgent")
    assert f" SEB/{SEB_COMPAT_VERSION}" in agent
    assert all(f"SEB/{SEB_COMPAT_VERSION}" in r.headers["user-agent"] for r in checked)


def test_form_post_survives_the_exact_url_redirect(seb_browser: tuple[Browser, Protocols],
                                                   exam_site: ExamSite, qtbot: QtBot) -> None:
    browser, _protocols = seb_browser
    form = exam_site.page("/moodle/mod/quiz/summary.php", """<!doctype html><meta charset=utf-8>
        <form id=f method=post action="/moodle/mod/quiz/processattempt.php?cmid=3&x=%7e">
        <input name=answer value="42 \u00e9"></form>""")
    assert browser.load(form)
    exam_site.requests.clear()
    navigate(browser, qtbot, "document.getElementById('f').submit();")
    post = last(exam_site, lambda r: r.method == "POST")
    assert post.allowed, post.reason
    assert post.target == "/moodle/mod/quiz/processattempt.php?cmid=3&x=~"
    assert exam_site.bodies[post.target] == b"answer=42+%C3%A9"


def test_js_api_in_frames_before_page_scripts(seb_browser: tuple[Browser, Protocols],
                                              exam_site: ExamSite) -> None:
    browser, _protocols = seb_browser
    exam_site.page("/moodle/inner/caf%C3%A9/x",  # the server sees the encoded path
                   "<script>window.early = SafeExamBrowser.security.configKey;</script>")
    host = exam_site.page("/moodle/framehost", """<!doctype html><meta charset=utf-8>
        <script>window.early = window.SafeExamBrowser && SafeExamBrowser.security.configKey;
        </script><iframe id=f src="/moodle/inner/caf%c3%a9/x?y=%7e&q=\u00e9#f"></iframe>
        <iframe id=blank></iframe>""")
    exam_site.requests.clear()
    assert browser.load(host)
    main_href, main_early = js_list(browser, "[location.href, window.early]")
    assert main_early == sha(main_href + MOODLE_KEY)
    href, key, exam_key, early = js_list(
        browser, "(function () { var w = document.getElementById('f').contentWindow;"
        " return [w.location.href, w.SafeExamBrowser.security.configKey,"
        " w.SafeExamBrowser.security.browserExamKey, w.early]; })()")
    inner = last(exam_site, lambda r: r.target.startswith("/moodle/inner/"))
    assert inner.allowed, inner.reason
    fullme = moodle_fullme("http", exam_site.wwwroot, inner.target)
    assert key == early == sha(href.split("#")[0] + MOODLE_KEY) == sha(fullme + MOODLE_KEY)
    assert exam_key == sha(fullme + BEK)
    blank = browser.js("document.getElementById('blank').contentWindow"
                       ".SafeExamBrowser.security.configKey")
    assert blank == sha("about:blank" + MOODLE_KEY)


def test_update_keys_follows_push_state_and_ignores_tampering(
        seb_browser: tuple[Browser, Protocols]) -> None:
    browser, _protocols = seb_browser
    href, key, called = js_list(browser, """(function () {
        history.pushState({}, "", "/moodle/pushed/\u00e9?z=%7e#h");
        String.prototype.charCodeAt = function () { throw new Error("patched"); };
        Object.defineProperty(Array.prototype, "0", {set: function () { throw new Error("x"); }});
        var called = false;
        SafeExamBrowser.security.updateKeys(function () { called = true; });
        return [location.href, SafeExamBrowser.security.configKey, called]; })()""")
    assert "/moodle/pushed/%C3%A9?z=%7e#h" in href
    assert key == sha(href.split("#")[0] + MOODLE_KEY)
    assert called is True


# =========================================================================== seb:// in a page


def seb_xml(start_url: str, **extra: object) -> bytes:
    settings: dict[str, object] = {"startURL": start_url, "sendBrowserExamKey": True, **extra}
    return plistlib.dumps(settings, fmt=plistlib.FMT_XML)


@pytest.fixture
def link_session(make_browser: Callable[..., Browser], exam_site: ExamSite,
                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Browser, Protocols]:
    monkeypatch.setenv("LOCKDOWN_DATA_DIR", str(tmp_path / "data"))
    start = exam_site.page("/moodle/course/view.php", "<!doctype html><p>course</p>")
    exam_site.set_cookie["/moodle/course/view.php"] = "MoodleSession=s3cr3t; Path=/; HttpOnly"
    exam_site.config.session_cookie = "MoodleSession=s3cr3t"
    exam_site.config.seb_config_key = ""  # the course page is not an SEB page
    exam_site.config.seb_browser_exam_keys = []
    browser = make_browser(start_url=start, allowed_hosts=(), idp_hosts=(), login_paths=())

    def exam_policy(layer: Layer) -> Policy:
        return build_policy(config=None, start_url=None, machine_dir=tmp_path, exam=layer)

    options = Options(demo=False, launch_link=None, log_format=None, log_file=None,
                      exam_policy=exam_policy, restart_args=("--log-format", "json"))
    protocols = install_protocols(session_of(browser), LaunchContext(options=options))
    assert browser.load(start)
    return browser, protocols


def test_seb_link_in_a_page_fetches_with_cookies_and_prepares_a_restart(
        link_session: tuple[Browser, Protocols], exam_site: ExamSite, qtbot: QtBot) -> None:
    browser, protocols = link_session
    exam_start = exam_site.url("/moodle/mod/quiz/view.php?id=5")
    exam_site.config.seb_config_xml = seb_xml(exam_start, startURLAppendQueryParameter=True)
    link = f"seb://127.0.0.1:{exam_site.port}{CONFIG_PATH}?cmid=5??extra=1"
    with qtbot.waitSignal(protocols.links.ready, timeout=20_000) as ready:
        browser.page.runJavaScript(f"location.href = {json.dumps(link)};")
    fetch = last(exam_site, lambda r: r.check == "moodle-config")
    assert fetch.allowed and fetch.target == f"{CONFIG_PATH}?cmid=5"
    args = ready.args[0]
    assert args[:2] == ["--log-format", "json"] and args[2] == "--reconfigure"
    bundle = take_bundle(Path(args[3]))
    assert not Path(args[3]).exists()
    assert bundle.seb_data == exam_site.config.seb_config_xml
    assert bundle.start_url_query == "extra=1"
    assert ("MoodleSession", "s3cr3t") in {(c.name, c.value) for c in bundle.cookies}
    assert browser.window._ending  # the session ends so the cleanup can restart


def test_seb_link_to_another_host_is_refused(link_session: tuple[Browser, Protocols],
                                             exam_site: ExamSite, qtbot: QtBot,
                                             events: EventLog) -> None:
    browser, protocols = link_session
    with qtbot.waitSignal(browser.page.loadFinished, timeout=20_000):
        browser.page.runJavaScript("location.href = 'sebs://elsewhere.example/x.seb';")
    assert browser.url().startswith("lockdown:")
    assert events.named("seb.link_refused")
    assert not any(r.check == "moodle-config" for r in exam_site.requests)
    assert protocols.links.restart_args is None


def test_seb_link_in_a_frame_is_not_followed(link_session: tuple[Browser, Protocols],
                                            exam_site: ExamSite, events: EventLog) -> None:
    browser, protocols = link_session
    exam_site.config.seb_config_xml = seb_xml(exam_site.url("/moodle/x"))
    frame = exam_site.page("/moodle/framed", f"""<!doctype html><iframe
        src="seb://127.0.0.1:{exam_site.port}{CONFIG_PATH}?cmid=1"></iframe>""")
    assert browser.load(frame)
    browser.wait_event(lambda e: e["event"] == "navigation.blocked" and not e["main_frame"])
    assert not events.named("navigation.handled")
    assert not any(r.check == "moodle-config" for r in exam_site.requests)
    assert protocols.links.restart_args is None and browser.url() == frame


def test_seb_link_with_a_failing_download_keeps_the_session(
        link_session: tuple[Browser, Protocols], exam_site: ExamSite, qtbot: QtBot) -> None:
    browser, protocols = link_session
    exam_site.config.session_cookie = "MoodleSession=other"  # as if logged out
    with qtbot.waitSignal(protocols.links.failed, timeout=20_000) as failed:
        browser.page.runJavaScript(
            f"location.href = 'seb://127.0.0.1:{exam_site.port}{CONFIG_PATH}?cmid=9';")
    assert "answered 403" in failed.args[0]
    assert protocols.links.restart_args is None and not browser.window._ending


# =========================================================================== launch flows


class FakeStore:
    def __init__(self, saved: dict[str, str] | None = None) -> None:
        self.saved = dict(saved or {})

    def get(self, host: str) -> str | None:
        return self.saved.get(host)

    def set(self, host: str, password: str) -> None:
        self.saved[host] = password


class Answers:
    """Scripted password answers; records the error shown with each question."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.errors: list[str] = []

    def __call__(self, title: str, prompt: str, error: str) -> str | None:
        self.errors.append(error)
        return self.answers.pop(0)


def options_for(link: str | None, tmp_path: Path, reconfigure: str | None = None) -> Options:
    def exam_policy(layer: Layer) -> Policy:
        return build_policy(config=None, start_url=None, machine_dir=tmp_path, exam=layer)

    return Options(demo=False, launch_link=link, log_format=None, log_file=None,
                   exam_policy=exam_policy, reconfigure=reconfigure)


LAUNCH = {"url": "https://numbas.example.ac.uk/lti/lockdown/launch?x=1", "token": "tok:1"}


def test_numbas_password_tries_empty_then_saved_then_asks(tmp_path: Path) -> None:
    link = numbas_link("numbas.example.ac.uk", LAUNCH, password="pw")
    store = FakeStore({"numbas.example.ac.uk": "pw"})
    policy, context = resolve_launch(Policy(), options_for(link, tmp_path),
                                     Dialogs(ask=Answers(), store=store))
    assert policy.start_url == LAUNCH["url"]
    assert context.numbas is not None and context.numbas.token == "tok:1"

    answers, offers = Answers("nope", "pw"), []

    def offer(host: str) -> bool:
        offers.append(host)
        return True

    store = FakeStore({"numbas.example.ac.uk": "stale"})
    resolve_launch(Policy(), options_for(link, tmp_path),
                   Dialogs(ask=answers, store=store, offer_save=offer))
    assert answers.errors == ["", "Wrong password. 2 attempts left."]
    assert offers == ["numbas.example.ac.uk"] and store.saved["numbas.example.ac.uk"] == "pw"


def test_numbas_password_gives_up_after_three_and_on_cancel(tmp_path: Path) -> None:
    link = numbas_link("numbas.example.ac.uk", LAUNCH, password="pw")
    answers = Answers("a", "b", "c")
    with pytest.raises(LaunchError, match=r"wrong password .*\(3 attempts\)"):
        resolve_launch(Policy(), options_for(link, tmp_path), Dialogs(ask=answers,
                                                                      store=FakeStore()))
    assert answers.errors[-1] == "Wrong password. 1 attempt left."
    with pytest.raises(LaunchCancelled):
        resolve_launch(Policy(), options_for(link, tmp_path),
                       Dialogs(ask=Answers(None), store=FakeStore()))


def test_malformed_numbas_link_is_an_error_without_asking(tmp_path: Path) -> None:
    answers = Answers()
    with pytest.raises(LaunchError, match="not hex"):
        resolve_launch(Policy(), options_for("numbas://host.example/zz", tmp_path),
                       Dialogs(ask=answers, store=FakeStore()))
    assert answers.errors == []


@pytest.fixture
def failing_keyring() -> Iterator[None]:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]  # untyped package
    yield
    keyring.set_keyring(previous)


@pytest.mark.usefixtures("failing_keyring")
def test_keyring_failure_is_not_fatal(events: EventLog) -> None:
    # No usable backend (a bare Linux session): reading and saving are logged, not raised.
    store = KeyringStore()
    assert store.get("numbas.example.ac.uk") is None
    store.set("numbas.example.ac.uk", "pw")
    assert [e["message"] for e in events.named("keyring.unavailable")] == [
        "cannot read the OS keyring", "cannot save to the OS keyring"]


def test_seb_file_with_password_and_reconfigure_bundle(tmp_path: Path) -> None:
    xml = seb_xml("https://moodle.example.ac.uk/mod/quiz/view.php?id=4",
                  startURLAppendQueryParameter=True)
    path = tmp_path / "exam.seb"
    path.write_bytes(seb_container(xml, "gzip(pswd+gzip)", password="sesame"))
    answers = Answers("wrong", "sesame")
    policy, _context = resolve_launch(Policy(), options_for(str(path), tmp_path),
                                      Dialogs(ask=answers, store=FakeStore()))
    expected_key = config_key(plistlib.loads(xml))
    assert policy.seb_config_key == expected_key
    assert policy.start_url == "https://moodle.example.ac.uk/mod/quiz/view.php?id=4"
    assert answers.errors == ["", "Wrong password. 2 attempts left."]

    bundle = write_bundle(ReconfigureBundle(path.read_bytes(), "exam.seb", "sesame", "q=1",
                                            ()), tmp_path / "re")
    policy, context = resolve_launch(Policy(), options_for(None, tmp_path, str(bundle)),
                                     Dialogs(ask=Answers(), store=FakeStore()))
    assert policy.start_url.endswith("?id=4&q=1") and policy.seb_config_key == expected_key
    assert not bundle.exists() and context.cookies == ()


def test_machine_pinned_start_url_refuses_a_link(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('start_url = "https://moodle.example.ac.uk/"\n')
    link = numbas_link("numbas.example.ac.uk", LAUNCH)
    with pytest.raises(LaunchError, match="pins the start URL"):
        resolve_launch(Policy(), options_for(link, tmp_path), Dialogs(ask=Answers(),
                                                                      store=FakeStore()))
