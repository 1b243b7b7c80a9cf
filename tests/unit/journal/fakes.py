"""Tiny stdlib HTTP servers that imitate the two save endpoints, with scriptable misbehaviour.

``FakeMoodle`` imitates ``/mod/scorm/datamodel.php``: checks the session cookie and ``sesskey``,
upserts ``cmi*`` elements per (scoid, attempt) and answers ``true\\n0``. ``FakeNumbas`` imitates
the provider's ``/attempt/<pk>/scorm_data_fallback``: checks the CSRF header against the cookie,
stores items with get_or_create semantics on (key, value, time, counter) and answers
``received_batches``. Each request pops a mode from ``script`` (default ``ok``):

``ok``, ``500``, ``false`` (``false\\n101``), ``login`` (200 login page), ``redirect`` (303),
``hang`` (no answer until ``release`` is set: the client times out), ``slow`` (answers after
``slow_s``), ``apply-then-drop`` (stores, then closes the connection without an answer),
``ack-then-lose`` (answers success without storing), ``gated`` (signals ``arrived``, then waits
for ``gate`` before storing: lets a test put another request in between).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl

MOODLE_SESSION = "MoodleSession=sess1"
MOODLE_SESSKEY = "sk1"
CSRF = "csrf-token-1"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: stop() really ends service

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        mode = fake.next_mode()
        fake.seen.append((self.path, dict(self.headers), body))
        if mode == "hang":
            fake.release.wait(5.0)
            self.close_connection = True
            return
        if mode == "slow":
            fake.release.wait(fake.slow_s)
        if mode == "gated":
            fake.arrived.set()
            fake.gate.wait(5.0)
        if mode == "500":
            self._answer(500, "text/html", "<h1>Server error</h1>")
            return
        if mode == "login":
            self._answer(200, "text/html", "<html><form id=login></form></html>")
            return
        if mode == "redirect":
            self.send_response(303)
            self.send_header("Location", "/login/index.php")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, kind, text = fake.handle(
            self.path, dict(self.headers), body, store=mode != "ack-then-lose"
        )
        if mode == "false":
            status, kind, text = 200, "text/plain", "false\n101"
        if mode == "apply-then-drop":
            self.close_connection = True
            return
        self._answer(status, kind, text)

    def _answer(self, status: int, kind: str, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeServer, port: int) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)


class FakeServer:
    """Common machinery: a scripted mode queue and start/stop on a fixed port."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.seen: list[tuple[str, dict[str, str], str]] = []
        self.release = threading.Event()
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self.slow_s = 0.05
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def next_mode(self) -> str:
        with self.lock:
            return self.script.popleft() if self.script else "ok"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = _Server(self, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self.release.set()
            self.gate.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.release = threading.Event()
            self.gate = threading.Event()

    def handle(
        self, path: str, headers: dict[str, str], body: str, *, store: bool
    ) -> tuple[int, str, str]:
        raise NotImplementedError


class FakeMoodle(FakeServer):
    kind = "moodle"

    def __init__(self) -> None:
        super().__init__()
        self.tracks: dict[tuple[str, str, str], str] = {}
        self.writes: list[tuple[str, str]] = []  # (element, value) in arrival order

    def handle(
        self, path: str, headers: dict[str, str], body: str, *, store: bool
    ) -> tuple[int, str, str]:
        if path != "/mod/scorm/datamodel.php":
            return 404, "text/plain", "not found"
        if MOODLE_SESSION not in headers.get("Cookie", ""):
            return 200, "text/html", "<html>login</html>"
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if fields.get("sesskey") != MOODLE_SESSKEY:
            return 200, "text/plain", ""  # confirm_sesskey() failed: Moodle prints nothing
        with self.lock:
            for name, value in parse_qsl(body, keep_blank_values=True):
                element = name.replace("__", ".")
                if element.startswith("cmi") and store:
                    self.tracks[(fields["scoid"], fields["attempt"], element)] = value
                    self.writes.append((element, value))
        return 200, "text/plain", "true\n0"

    def value(self, element: str, scoid: str = "2", attempt: str = "1") -> str | None:
        with self.lock:
            return self.tracks.get((scoid, attempt, element))


class FakeNumbas(FakeServer):
    kind = "numbas"

    def __init__(self) -> None:
        super().__init__()
        self.items: set[tuple[str, str, str, int]] = set()
        self.creates = 0

    def handle(
        self, path: str, headers: dict[str, str], body: str, *, store: bool
    ) -> tuple[int, str, str]:
        if not path.startswith("/attempt/") or not path.endswith("/scorm_data_fallback"):
            return 404, "text/plain", "not found"
        if headers.get("X-CSRFToken") != CSRF or f"csrftoken={CSRF}" not in headers.get(
            "Cookie", ""
        ):
            return 403, "text/html", "CSRF verification failed"
        data = json.loads(body)
        done = []
        with self.lock:
            for batch_id, items in data["batches"].items():
                for item in items:
                    identity = (item["key"], item["value"], item["time_iso"], int(item["counter"]))
                    if store and identity not in self.items:
                        self.items.add(identity)
                        self.creates += 1
                done.append(batch_id)
        answer = {"received_batches": done, "unsaved_elements": []}
        return 200, "application/json", json.dumps(answer)

    def latest(self, key: str) -> str | None:
        """The provider's view: latest value by (time, counter)."""
        with self.lock:
            found = sorted((t, c, v) for k, v, t, c in self.items if k == key)
        return found[-1][2] if found else None


@contextmanager
def running(fake: FakeServer) -> Iterator[FakeServer]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
