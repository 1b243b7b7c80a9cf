"""Speaking the exam servers' protocols in a session: Numbas lockdown-app and Safe Exam Browser.

``install(session)`` plugs in (see ``app.integrations``):

* **Numbas** (when the session was launched from a ``numbas://`` link): every request to the
  launch host carries ``Authorization: Basic <token>`` (the user agent and the host restriction
  come from the launch's policy layer, ``lockdown.launch.numbas_layer``).
* **SEB** (when the policy has ``seb_config_key``/``seb_browser_exam_key``): requests to the
  exam hosts carry ``X-SafeExamBrowser-ConfigKeyHash``/``-RequestHash`` over the URL on the
  wire; every frame gets ``SafeExamBrowser.security`` before its scripts run; the user agent
  says ``SEB/<version>``.
* ``seb://``/``sebs://`` links clicked in a page: the configuration is fetched with the
  session's cookies and the app restarts with it (see :class:`SebLinks`).

The exact URL. Qt hands the interceptor a ``QUrl`` converted from Chromium's URL, and that
conversion is lossy: ``%7e``/``%41`` come back as ``~``/``A``, lowercase escapes are
uppercased, raw ``{}|^``` in a query are escaped, a stray ``%`` turns into ``%25``. Moodle hashes
the request line exactly as received, so hashing Qt's string would fail for such URLs. So frame
navigations to an exam host are redirected once, internally (no network round trip), to Qt's
form of their URL: Chromium then sends exactly that string, and the header is computed over
what is sent (:class:`ExactUrlRedirects`). Sub-resources are not redirected (a redirect would
be visible to ``fetch(..., {redirect: "manual"})`` and is impossible for WebSockets); their
hashes are right whenever the page's own URLs are in canonical form, which is what servers emit.

The JavaScript API. ``crypto.subtle`` does not exist on http:// pages and is asynchronous, and a
per-frame value cannot come from Python before the frame's scripts run. So the injected script
carries a small synchronous SHA-256 and hashes its own frame's ``location.href`` (which is the
URL the frame was loaded from, i.e. after the redirect above, the URL on the wire) at document
creation, and again in ``updateKeys`` (pages may have used ``history.pushState``). It writes only
into typed arrays and calls nothing the page could have replaced, so page scripts cannot read
the keys out of it; they see the per-URL hashes, as in SEB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QDateTime, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtNetwork import QNetworkCookie
from PySide6.QtWebEngineCore import (
    QWebEngineScript,
    QWebEngineUrlRequestInfo,
)
from PySide6.QtWidgets import QMessageBox

from lockdown import log, paths
from lockdown.launch import (
    SEB_API_VERSION,
    CarriedCookie,
    ExamHosts,
    LaunchError,
    ReconfigureBundle,
    fetch_seb_config,
    make_cookie,
    numbas_authorization_applies,
    restart_command,
    seb_layer,
    seb_user_agent,
    write_bundle,
)
from lockdown.policy.config import ConfigError
from lockdown.policy.decide import Kind
from lockdown.policy.numbas import NumbasLaunch, basic_auth_header
from lockdown.policy.seb.errors import SebError
from lockdown.policy.seb.hashes import seb_request_headers
from lockdown.policy.seb.links import SEB_SCHEMES, SebLink, SebLinkError, parse_seb_link
from lockdown.ui.numbas_password import (
    Asker,
    LaunchCancelled,
    LaunchContext,
    ask_password_dialog,
    current_launch,
    interactive,
    open_seb,
)

if TYPE_CHECKING:
    import http.cookiejar

    from lockdown.ui.app import Session
    from lockdown.ui.cookies import CookieMirror

WARNING = 30
SCRIPT_NAME = "lockdown-seb-api"
EXIT_RESTART_FAILED = 1


# --------------------------------------------------------------------------- headers


def numbas_provider(launch: NumbasLaunch) -> Callable[[str], dict[str, str]]:
    """Header provider: the launch token on requests to the launch host."""
    value = basic_auth_header(launch.token)

    def provide(url: str) -> dict[str, str]:
        return {"Authorization": value} if numbas_authorization_applies(launch, url) else {}

    return provide


def seb_provider(hosts: ExamHosts, config_key: str,
                 browser_exam_key: str) -> Callable[[str], dict[str, str]]:
    """Header provider: the SEB hashes on requests to the exam hosts."""

    def provide(url: str) -> dict[str, str]:
        if not hosts.matches(url):
            return {}
        return seb_request_headers(url, config_key=config_key,
                                   browser_exam_key=browser_exam_key)

    return provide


def wire_form(url: str) -> str:
    """The URL a frame navigation is redirected to: Qt's string, with ``'`` escaped.

    Moodle builds ``$FULLME`` with ``'`` and ``"`` escaped (``setup_get_remote_url``); Qt's
    string already escapes ``"``, and escaping ``'`` too makes the URL on the wire equal to
    Moodle's view of it (servers decode both forms alike). The fragment is left alone.
    """
    head, hash_sign, fragment = url.partition("#")
    return head.replace("'", "%27") + hash_sign + fragment


class ExactUrlRedirects:
    """Makes frame navigations to the exam hosts go out exactly as Qt reports their URL.

    Each such navigation is redirected once to its :func:`wire_form`; the redirect hop
    arrives with the same string and passes with its headers. A hop that comes back different
    (Chromium canonicalised Qt's string further) is redirected again; after
    :data:`MAX_STREAK` redirects in a row the request passes as is (logged), so no loop is
    possible.
    """

    MAX_STREAK = 3
    MAX_PENDING = 64

    def __init__(self, applies: Callable[[str], bool]) -> None:
        self._applies = applies
        self._pending: Counter[str] = Counter()
        self._streak = 0

    def __call__(self, info: QWebEngineUrlRequestInfo, url: str, kind: Kind) -> bool:
        if kind not in (Kind.MAIN_FRAME, Kind.SUB_FRAME) or not self._applies(url):
            return False
        if self._pending[url] > 0:
            self._pending[url] -= 1
            if not self._pending[url]:
                del self._pending[url]
            self._streak = 0
            return False
        if self._streak >= self.MAX_STREAK:
            log.event("seb.url_unstable", "URL did not settle; hashing Qt's form", level=WARNING,
                      url=url[:200])
            self._streak = 0
            return False
        if len(self._pending) >= self.MAX_PENDING:  # navigations that never came back
            self._pending.clear()
        target = wire_form(url)
        self._pending[target] += 1
        self._streak += 1
        info.redirect(info.requestUrl() if target == url else QUrl(target))
        return True


# --------------------------------------------------------------------------- JavaScript API

_SHA256_K = (
    "0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,"
    "0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,"
    "0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,"
    "0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,"
    "0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,"
    "0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,"
    "0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,"
    "0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2"
)

_API_TEMPLATE = """(function () {
  "use strict";
  var U8 = Uint8Array, U32 = Uint32Array, apply = Reflect.apply;
  var charCodeAt = String.prototype.charCodeAt, loc = window.location;
  var CK = __CK__, BEK = __BEK__, HEX = "0123456789abcdef";
  var K = new U32([__K__]);
  function utf8(text, end, out, at) {
    var n = 0, i = 0, c, d;
    while (i < end) {
      c = apply(charCodeAt, text, [i]); i += 1;
      if (c >= 0xd800 && c <= 0xdbff && i < end) {
        d = apply(charCodeAt, text, [i]);
        if (d >= 0xdc00 && d <= 0xdfff) { i += 1; c = 0x10000 + ((c - 0xd800) << 10) + d - 0xdc00; }
      }
      if (c >= 0xd800 && c <= 0xdfff) { c = 0xfffd; }
      if (c < 0x80) { if (out) { out[at + n] = c; } n += 1; }
      else if (c < 0x800) {
        if (out) { out[at + n] = 0xc0 | (c >>> 6); out[at + n + 1] = 0x80 | (c & 63); }
        n += 2;
      } else if (c < 0x10000) {
        if (out) {
          out[at + n] = 0xe0 | (c >>> 12); out[at + n + 1] = 0x80 | ((c >>> 6) & 63);
          out[at + n + 2] = 0x80 | (c & 63);
        }
        n += 3;
      } else {
        if (out) {
          out[at + n] = 0xf0 | (c >>> 18); out[at + n + 1] = 0x80 | ((c >>> 12) & 63);
          out[at + n + 2] = 0x80 | ((c >>> 6) & 63); out[at + n + 3] = 0x80 | (c & 63);
        }
        n += 4;
      }
    }
    return n;
  }
  function keyed(url, key) {
    var end = 0, size = url.length, i, t, o, b;
    while (end < size && apply(charCodeAt, url, [end]) !== 35) { end += 1; }
    var head = utf8(url, end, null, 0), total = head + key.length;
    var blocks = ((total + 8) >>> 6) + 1, last = blocks * 64, data = new U8(last);
    utf8(url, end, data, 0);
    for (i = 0; i < key.length; i += 1) { data[head + i] = key[i]; }
    data[total] = 0x80;
    var high = (total / 0x20000000) >>> 0, low = (total * 8) >>> 0;
    for (i = 0; i < 4; i += 1) {
      data[last - 8 + i] = (high >>> (24 - 8 * i)) & 255;
      data[last - 4 + i] = (low >>> (24 - 8 * i)) & 255;
    }
    var h = new U32([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    var w = new U32(64);
    for (b = 0; b < blocks; b += 1) {
      o = b * 64;
      for (t = 0; t < 16; t += 1) {
        w[t] = (data[o + 4 * t] << 24) | (data[o + 4 * t + 1] << 16) |
               (data[o + 4 * t + 2] << 8) | data[o + 4 * t + 3];
      }
      for (t = 16; t < 64; t += 1) {
        var x = w[t - 15], y = w[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (t = 0; t < 64; t += 1) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    var hex = "";
    for (i = 0; i < 8; i += 1) {
      for (t = 28; t >= 0; t -= 4) { hex += HEX[(h[i] >>> t) & 15]; }
    }
    return hex;
  }
  var security = { configKey: "", browserExamKey: "" };
  function refresh() {
    var url = loc.href;
    security.configKey = CK ? keyed(url, CK) : "";
    security.browserExamKey = BEK ? keyed(url, BEK) : "";
  }
  security.updateKeys = function (callback) {
    refresh();
    if (typeof callback === "function") { callback(); }
    else if (typeof callback === "string" && typeof window[callback] === "function") {
      window[callback]();
    }
  };
  refresh();
  window.SafeExamBrowser = { version: __VERSION__, security: security };
})();
"""


def seb_api_source(config_key: str, browser_exam_key: str,
                   version: str = SEB_API_VERSION) -> str:
    """The ``SafeExamBrowser`` API script; keys are embedded as byte lists, never as strings."""

    def key_bytes(key: str) -> str:
        return json.dumps(list(key.encode("utf-8"))) if key else "null"

    return (_API_TEMPLATE.replace("__CK__", key_bytes(config_key))
            .replace("__BEK__", key_bytes(browser_exam_key))
            .replace("__K__", _SHA256_K)
            .replace("__VERSION__", json.dumps(version)))


def seb_api_script(config_key: str, browser_exam_key: str) -> QWebEngineScript:
    """The API as a user script: main world, every frame, before the page's own scripts."""
    script = QWebEngineScript()
    script.setName(SCRIPT_NAME)
    script.setSourceCode(seb_api_source(config_key, browser_exam_key))
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(True)
    return script


# --------------------------------------------------------------------------- cookies


def carried_cookies(mirror: CookieMirror) -> tuple[CarriedCookie, ...]:
    """The session's cookies as they travel to a restarted app (see :class:`SebLinks`)."""
    return tuple(
        CarriedCookie(name=c.name, value=c.value, domain=c.domain, path=c.path,
                      secure=c.secure, http_only=c.http_only,
                      expires=None if c.expires is None else int(c.expires))
        for c in mirror.snapshot()
    )


def cookie_jar(mirror: CookieMirror) -> list[http.cookiejar.Cookie]:
    """The session's cookies for a request the app makes itself (fetching a .seb file)."""
    return [make_cookie(name=c.name, value=c.value, domain=c.domain, path=c.path,
                        secure=c.secure, http_only=c.http_only, expires=c.expires)
            for c in carried_cookies(mirror)]


def restore_cookies(session: Session, cookies: tuple[CarriedCookie, ...]) -> None:
    """Put carried cookies into the profile before the first page loads."""
    store = session.profile.profile.cookieStore()
    for carried in cookies:
        cookie = QNetworkCookie(carried.name.encode("latin-1"), carried.value.encode("latin-1"))
        host = carried.domain.lstrip(".")
        if carried.domain.startswith("."):
            cookie.setDomain(carried.domain)  # a domain cookie; host-only ones take the origin
        cookie.setPath(carried.path)
        cookie.setSecure(carried.secure)
        cookie.setHttpOnly(carried.http_only)
        if carried.expires is not None:
            cookie.setExpirationDate(QDateTime.fromSecsSinceEpoch(carried.expires))
        scheme = "https" if carried.secure else "http"
        store.setCookie(cookie, QUrl(f"{scheme}://{host}/"))
    if cookies:
        log.event("cookies.restored", "session cookies carried over", count=len(cookies))


# --------------------------------------------------------------------------- seb:// links


class SebLinks(QObject):
    """``seb://``/``sebs://`` links clicked in a page: fetch, check, then restart with it.

    Why a restart: the policy is immutable and every part of the session (decider, interceptor,
    window, quit flow, integrations) was built from it; a fresh process builds all of them from
    the new layered policy exactly as a launch with a ``.seb`` file does, so no part can keep a
    stale rule. The new configuration, the link's ``??`` query and the cookies (so the student
    stays logged in) go to the new process in a private one-shot file (``--reconfigure``).
    Before restarting, the new policy is built once here: a configuration that the machine
    policy refuses leaves the current session untouched.
    """

    fetched = Signal(object)
    failed = Signal(str)
    #: The restart command line is ready; the session is ending to run it.
    ready = Signal(list)

    def __init__(self, session: Session, context: LaunchContext,
                 ask: Asker = ask_password_dialog) -> None:
        super().__init__()
        self._session = session
        self._context = context
        self._ask = ask
        self._busy = False
        self.restart_args: list[str] | None = None
        self.fetched.connect(self._on_fetched, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._report)

    def handle(self, raw: str) -> None:
        """Called from ``acceptNavigationRequest``: act a tick later (re-entrancy)."""
        QTimer.singleShot(0, lambda: self._start(raw))

    def _start(self, raw: str) -> None:
        if self._busy or self.restart_args is not None:
            return
        try:
            link = parse_seb_link(raw)
        except SebLinkError as exc:
            self.failed.emit(str(exc))
            return
        decision = self._session.decider.request(link.config_url, kind=Kind.MAIN_FRAME)
        if not decision.allowed:
            log.event("seb.link_refused", "SEB link to a host outside the exam", level=WARNING,
                      url=link.config_url.split("?", 1)[0], reason=decision.reason)
            self._session.window.show_blocked(decision)
            return
        self._busy = True
        self._session.window.status.message.setText("Downloading the exam configuration…")
        log.event("seb.link", "fetching a SEB configuration",
                  url=link.config_url.split("?", 1)[0])
        jar = cookie_jar(self._session.cookies)
        threading.Thread(target=self._fetch, args=(link, jar), daemon=True,
                         name="seb-config-fetch").start()

    def _allowed(self, url: str) -> bool:
        return self._session.decider.request(url, kind=Kind.MAIN_FRAME).allowed

    def _fetch(self, link: SebLink, jar: list[http.cookiejar.Cookie]) -> None:
        """Worker thread: only the signal crosses back to Qt."""
        try:
            data = fetch_seb_config(link.config_url, cookies=jar, allowed=self._allowed)
        except LaunchError as exc:
            self.fetched.emit((link, exc))
            return
        self.fetched.emit((link, data))

    def _on_fetched(self, result: tuple[SebLink, bytes | LaunchError]) -> None:
        self._busy = False
        link, payload = result
        if isinstance(payload, LaunchError):
            self.failed.emit(str(payload))
            return
        source = f"configuration from {link.config_url.split('?', 1)[0]}"
        options = self._context.options
        try:
            seb, password = open_seb(payload, source=source, ask=self._ask)
            layer, _mapping = seb_layer(seb.settings, source=source,
                                        start_url_query=link.start_url_query)
            if options is None or options.exam_policy is None:
                raise LaunchError("this session cannot be reconfigured")
            options.exam_policy(layer)  # refuses what the machine policy forbids
        except LaunchCancelled:
            self._session.window.status.message.setText("")
            return
        except (LaunchError, ConfigError, SebError) as exc:
            self.failed.emit(str(exc))
            return
        bundle = ReconfigureBundle(payload, source, password, link.start_url_query,
                                   carried_cookies(self._session.cookies))
        path = write_bundle(bundle, paths.data_dir() / "reconfigure")
        self.restart_args = [*options.restart_args, "--reconfigure", str(path)]
        log.event("seb.reconfigure", "restarting with a new SEB configuration", source=source,
                  config_key=seb.config_key)
        self.ready.emit(list(self.restart_args))

    def _report(self, message: str) -> None:
        log.event("seb.link_failed", message, level=WARNING)
        window = self._session.window
        window.status.message.setText("The exam configuration could not be loaded.")
        if interactive():
            box = QMessageBox(QMessageBox.Icon.Warning, "Exam configuration", message,
                              QMessageBox.StandardButton.Ok, window)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()


def reexec(args: list[str]) -> None:
    """Replace this process by a new one with ``args``; ``app.run`` calls it last, once the
    window, profile and QApplication are gone (so cookies are on disk).

    Chromium's helper processes still alive are ended and reaped (the new image would not know
    them: they would linger as orphans or zombies), and every inherited descriptor except stdio
    is closed. Never returns.
    """
    command = restart_command(args)
    log.event("app.restart", "restarting with a new exam configuration")
    import psutil

    helpers = psutil.Process().children(recursive=True)
    for helper in helpers:
        with contextlib.suppress(psutil.Error):
            helper.terminate()
    psutil.wait_procs(helpers, timeout=5)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if os.name == "posix":
            os.closerange(3, 65536)
        os.execv(command[0], command)  # noqa: S606 - this same app, list argv, no shell
    except OSError as exc:
        print(f"lockdown: cannot restart ({exc})", file=sys.stderr)
    os._exit(EXIT_RESTART_FAILED)


# --------------------------------------------------------------------------- install


@dataclass
class Protocols:
    """What :func:`install_protocols` plugged in (tests drive ``links`` directly)."""

    links: SebLinks
    undo: list[Callable[[], None]]

    def cleanup(self) -> None:
        for step in reversed(self.undo):
            step()


def install_protocols(session: Session, context: LaunchContext,
                      ask: Asker = ask_password_dialog) -> Protocols:
    """Plug the exam protocols of ``context``'s launch and the session policy into a session."""
    policy = session.policy
    profile = session.profile
    undo: list[Callable[[], None]] = []
    restore_cookies(session, context.cookies)
    if context.numbas is not None:
        profile.add_header_provider(numbas_provider(context.numbas))
        log.event("numbas.session", "Numbas lockdown session", host=context.numbas.host)
    if policy.seb_config_key or policy.seb_browser_exam_key:
        hosts = ExamHosts.of(policy)
        profile.add_header_provider(
            seb_provider(hosts, policy.seb_config_key, policy.seb_browser_exam_key))
        profile.add_request_hook(ExactUrlRedirects(hosts.matches))
        script = seb_api_script(policy.seb_config_key, policy.seb_browser_exam_key)
        profile.profile.scripts().insert(script)

        def remove_script() -> None:
            profile.profile.scripts().remove(script)

        undo.append(remove_script)
        profile.profile.setHttpUserAgent(seb_user_agent(profile.engine_user_agent, policy))
        log.event("seb.session", "SEB compatibility on", config_key=policy.seb_config_key,
                  user_agent=profile.profile.httpUserAgent())
    links = seb_links(session, context, ask)
    session.window.page.claim_schemes(SEB_SCHEMES, links.handle)
    return Protocols(links, undo)


def seb_links(session: Session, context: LaunchContext,
              ask: Asker = ask_password_dialog) -> SebLinks:
    """The in-page link handler of a session; the session ends once a restart is ready."""
    links = SebLinks(session, context, ask)
    links.ready.connect(lambda _args: session.window.end_session("reconfigure"))
    return links


def install(session: Session) -> Callable[[], None] | None:
    """The session integration (``app.integrations``). After an in-page ``seb://`` link its
    cleanup asks ``app.run`` to restart the app with the new configuration (see
    :class:`SebLinks`)."""
    protocols = install_protocols(session, current_launch())

    def cleanup() -> None:
        protocols.cleanup()
        session.restart_args = protocols.links.restart_args

    return cleanup
