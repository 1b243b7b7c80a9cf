"""What the journal bridge needs from QtWebEngine: the injected scripts, the web channel and the
subframe collection (see :mod:`lockdown.ui.journal_bridge` for why the work is split between the
MainWorld and an isolated world). The cookies it resends with come from the session's
:class:`~lockdown.ui.cookies.CookieMirror`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import QFile, QIODevice, QObject, QUrl, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineScript

from lockdown.assets import read_text
from lockdown.journal.errors import JournalError

if TYPE_CHECKING:  # PySide6 builds each class's Python enums at its first import: not at start
    from PySide6.QtWebEngineCore import QWebEngineFrame

WORLD = QWebEngineScript.ScriptWorldId.ApplicationWorld
EVENT = "__lockdown_journal_entry"
PING = "__lockdown_journal_ping"
CHANNEL_OBJECT = "lockdownJournal"
WARNING = 30

# The isolated-world half: forwards the MainWorld's entries to Python (see the module docstring).
BRIDGE_JS = r"""
;(function () {
  'use strict';
  var EVENT = '%(event)s', PING = '%(ping)s', MAX_QUEUE = 50000;
  var queue = [], journal = null, pinged = false, drainWanted = false;
  var hasChannel = typeof qt === 'object' && qt !== null && !!qt.webChannelTransport;
  function here() { try { return String(window.location.href); } catch (e) { return ''; } }
  function forward(text) {
    if (journal) { journal.record(here(), text); return; }
    if (queue.length < MAX_QUEUE) { queue.push(text); }
    if (!hasChannel && !pinged) {
      pinged = true;
      try { window.top.postMessage(PING, '*'); } catch (e) { /* detached */ }
    }
  }
  document.addEventListener(EVENT, function (event) {
    if (typeof event.detail === 'string') { forward(event.detail); }
  }, true);
  // Subframes: Python collects the queue with frame.runJavaScript (this world only).
  window.__lockdownJournalDrain = function () {
    var out = queue;
    queue = [];
    pinged = false;
    return JSON.stringify(out);
  };
  if (!hasChannel) { return; }
  window.addEventListener('message', function (event) {
    if (event.data !== PING) { return; }
    event.stopImmediatePropagation();  // registered before any page script: the page never sees it
    if (journal) { journal.drainFrames(); } else { drainWanted = true; }
  }, true);
  new QWebChannel(qt.webChannelTransport, function (channel) {
    journal = channel.objects['%(object)s'];
    var waiting = queue;
    queue = [];
    for (var i = 0; i < waiting.length; i += 1) { journal.record(here(), waiting[i]); }
    if (drainWanted) { journal.drainFrames(); }
  });
})();
"""

# The MainWorld half, appended to the hook: hand entries to the isolated world, and notice the
# Numbas provider kicking this window out (its websocket says another window is current).
MAIN_JS = r"""
;(function () {
  'use strict';
  var EVENT = '%(event)s';
  var doc = document, dispatch = EventTarget.prototype.dispatchEvent, Custom = window.CustomEvent;
  var stringify = JSON.stringify, apply = Reflect.apply, construct = Reflect.construct;
  function send(entry) {
    try { apply(dispatch, doc, [new Custom(EVENT, { detail: stringify(entry) })]); } catch (e) { }
  }
  try { window.__lockdownRecord = send; } catch (e) { /* the hook looks it up on every call */ }
  var SOCKET = /\/websocket\/attempt\/(\d+)\/scorm_api\/?$/;
  function watch(socket, address) {
    var url = new URL(String(address), doc.baseURI);
    var match = SOCKET.exec(url.pathname);
    var uid = url.searchParams.get('uid') || '';
    if (!match || !uid || url.searchParams.get('mode') === 'review') { return; }
    var reported = false;
    socket.addEventListener('message', function (event) {
      if (reported || typeof event.data !== 'string') { return; }
      var data = null;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data.current_uid === 'string' && data.current_uid &&
          data.current_uid !== uid) {
        reported = true;
        send({ type: 'kicked', attempt: match[1], url: String(location.href) });
      }
    });
  }
  try {
    var Native = window.WebSocket;
    if (typeof Native === 'function' && typeof Proxy === 'function') {
      Object.defineProperty(window, 'WebSocket', {
        value: new Proxy(Native, { construct: function (target, args, newTarget) {
          var socket = construct(target, args, newTarget);
          try { watch(socket, args[0]); } catch (e) { /* never hurt the page */ }
          return socket;
        } }),
        writable: true, enumerable: false, configurable: true
      });
    }
  } catch (e) { /* leave WebSocket alone */ }
})();
"""

DRAIN_CALL = "window.__lockdownJournalDrain ? window.__lockdownJournalDrain() : '[]'"


# -- the page side -----------------------------------------------------------------------------
class JournalChannel(QObject):
    """The only object published on a page's web channel (isolated world, main frame only).

    ``record(frame_url, payload)``: one hook message from the main frame, with the frame's URL as
    the isolated world reads it. ``drainFrames()``: a subframe has entries waiting.
    """

    def __init__(
        self,
        page: QWebEnginePage,
        on_record: Callable[[str, str], object],
        on_drain: Callable[[QWebEnginePage], None],
    ) -> None:
        super().__init__(page)
        self._page = page
        self._on_record = on_record
        self._on_drain = on_drain

    @Slot(str, str)
    def record(self, frame_url: str, payload: str) -> None:
        self._on_record(frame_url, payload)

    @Slot()
    def drainFrames(self) -> None:  # the name the page-side bridge calls
        self._on_drain(self._page)


def serve(
    page: QWebEnginePage,
    on_record: Callable[[str, str], object],
    on_drain: Callable[[QWebEnginePage], None],
) -> tuple[QWebChannel, JournalChannel]:
    """Give a page its web channel in the isolated world (page scripts cannot reach it).

    Both objects are children of the page; keep the returned pair referenced while it lives.
    """
    channel = QWebChannel(page)
    endpoint = JournalChannel(page, on_record, on_drain)
    channel.registerObject(CHANNEL_OBJECT, endpoint)
    page.setWebChannel(channel, WORLD)
    return channel, endpoint


def drain_subframes(page: QWebEnginePage, on_record: Callable[[str, str], object]) -> None:
    """Collect the entries subframes keep in their isolated world; the frame's URL is Qt's."""
    for frame in _subframes(page.mainFrame()):
        url = frame.url().toString(QUrl.ComponentFormattingOption.FullyEncoded)
        frame.runJavaScript(DRAIN_CALL, WORLD, functools.partial(_drained, on_record, url))


def _drained(on_record: Callable[[str, str], object], frame_url: str, result: object) -> None:
    import json  # not on the way to the start page

    try:
        items = json.loads(result) if isinstance(result, str) else []
    except ValueError:
        items = []
    for payload in items if isinstance(items, list) else []:
        if isinstance(payload, str):
            on_record(frame_url, payload)


def _subframes(frame: QWebEngineFrame) -> Iterator[QWebEngineFrame]:
    for child in frame.children():
        yield child
        yield from _subframes(child)


def _script(name: str, source: str, world: int) -> QWebEngineScript:
    script = QWebEngineScript()
    script.setName(name)
    script.setSourceCode(source)
    script.setWorldId(world)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setRunsOnSubFrames(True)
    return script


def qwebchannel_js() -> str:
    """Qt's own ``qwebchannel.js`` from its resources (the version matching the C++ side)."""
    source = QFile(":/qtwebchannel/qwebchannel.js")
    if not source.open(QIODevice.OpenModeFlag.ReadOnly):
        raise JournalError("Qt's qwebchannel.js is missing; the answer journal cannot run.")
    try:
        return bytes(source.readAll().data()).decode("utf-8")
    finally:
        source.close()


def install_scripts(profile: QWebEngineProfile) -> None:
    """The isolated-world bridge and the MainWorld hook, in every frame of every page."""
    scripts = profile.scripts()
    names = {"event": EVENT, "ping": PING, "object": CHANNEL_OBJECT}
    scripts.insert(_script("lockdown-journal-bridge", qwebchannel_js() + BRIDGE_JS % names, WORLD))
    hook = read_text("js", "journal_hook.js") + MAIN_JS % names
    scripts.insert(_script("lockdown-journal-hook", hook, QWebEngineScript.ScriptWorldId.MainWorld))
