"""The small HTTP layer under both demo servers (stdlib ``http.server``, one thread per connection).

Handlers turn a socket request into a :class:`Request`, hand it to an application object
(:class:`App`: the Moodle-like site or the identity provider) and write its :class:`Response`.
Routing and page logic therefore never touch sockets. The server keeps track of open
connections so :meth:`DemoHTTPServer.close_connections` can cut browser keep-alive connections
when the demo site stops: a stopped site must really look gone to the app under test.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from lockdown.demo.state import RequestRecord

log = logging.getLogger("lockdown.demo")

#: Largest urlencoded form body accepted (logins, datamodel.php posts).
MAX_FORM_BYTES = 1 << 20
#: Largest body accepted by an upload route.
MAX_UPLOAD_BYTES = 20 << 20
#: Most fields parsed out of one urlencoded body.
MAX_FORM_FIELDS = 10_000
#: How often ``serve_forever`` checks for shutdown; bounds how long :meth:`DemoSite.stop` takes.
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Request:
    """An HTTP request as the applications see it."""

    method: str
    target: str  # path and query exactly as received
    path: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    cookies: dict[str, str]
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        """First query-string value of ``name``, or None."""
        return next((v for k, v in self.query if k == name), None)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form_items(self) -> list[tuple[str, str]]:
        """The urlencoded body as ordered (name, value) pairs; ValueError when unparseable."""
        if not self.body:
            return []
        text = self.body.decode("utf-8", errors="replace")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)

    def form(self) -> dict[str, str]:
        """The urlencoded body as a dict (first value of each name wins)."""
        result: dict[str, str] = {}
        for key, value in self.form_items():
            result.setdefault(key, value)
        return result


@dataclass
class Response:
    """What an application answers; ``drop`` closes the connection without any reply."""

    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


class App(Protocol):
    """An application served by a :class:`DemoHTTPServer`."""

    def handle(self, request: Request) -> Response: ...

    def max_body(self, path: str) -> int: ...


class Observer(Protocol):
    """Where the server reports traffic (the shared :class:`SiteState`)."""

    def record_request(self, record: RequestRecord) -> None: ...

    def notify(self) -> None: ...


# -- response helpers --------------------------------------------------------------------------
def html_response(status: int, page: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, page.encode("utf-8"), headers=list(headers or []))


def redirect(location: str, status: int = 303, cookies: list[str] | None = None) -> Response:
    headers = [("Location", location)] + [("Set-Cookie", c) for c in cookies or []]
    body = f'<!DOCTYPE html><title>Redirect</title><a href="{html.escape(location)}">Continue</a>'
    return Response(status, body.encode("utf-8"), headers=headers)


def text_response(
    status: int, text: str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status, text.encode("utf-8"), content_type=content_type)


def json_response(data: object) -> Response:
    return Response(200, json.dumps(data, indent=1).encode("utf-8"), "application/json")


def parse_cookies(header: str | None) -> dict[str, str]:
    """Parse a Cookie header leniently (``SimpleCookie`` drops everything after a bad pair)."""
    cookies: dict[str, str] = {}
    for pair in (header or "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name:
            cookies.setdefault(name, value.strip().strip('"'))
    return cookies


# -- server ------------------------------------------------------------------------------------
class DemoHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one app; knows its connections so it can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], observer: Observer) -> None:
        self.app: App | None = None  # set once both servers are bound and URLs are known
        self.observer = observer
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closed = False
        super().__init__(address, DemoHandler)

    @property
    def netloc(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def track(self, conn: socket.socket, is_open: bool) -> None:
        with self._connections_lock:
            if not is_open:
                self._connections.discard(conn)
                return
            if not self._closed:
                self._connections.add(conn)
                return
        _shutdown(conn)  # accepted just as the server stopped: refuse it too

    def close_connections(self) -> None:
        """Shut down every open connection (wakes handler threads blocked on keep-alive)."""
        with self._connections_lock:
            self._closed = True
            connections = list(self._connections)
        for conn in connections:
            _shutdown(conn)

    def handle_error(self, request: object, client_address: object) -> None:
        """Log instead of printing a traceback to stderr (a dropped browser socket is normal)."""
        log.debug("demo server: error while handling %s", client_address, exc_info=True)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        conn.shutdown(socket.SHUT_RDWR)


class DemoHandler(BaseHTTPRequestHandler):
    """Parses a request, asks the app, writes the answer; logs to ``lockdown.demo``."""

    server: DemoHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, each keep-alive
    # response then waits for the browser's delayed ACK (~40 ms), making every page crawl.
    disable_nagle_algorithm = True
    server_version = "DemoMoodle/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, is_open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, is_open=False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.server.netloc, format % args)

    def _dispatch(self) -> None:
        app, observer = self.server.app, self.server.observer
        if app is None:
            self.close_connection = True
            self._write(error_page(503, "Starting", "The demo server is not ready yet."))
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        observer.record_request(
            RequestRecord(self.command, self.server.netloc, self.path, dict(headers), time.time())
        )
        try:
            body, refusal = self._read_body(headers, app.max_body(urlsplit(self.path).path))
            response = refusal if refusal is not None else self._call_app(app, headers, body)
        finally:
            observer.notify()
        self._write(response)

    def _call_app(self, app: App, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            target=self.path,
            path=parts.path,
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            cookies=parse_cookies(headers.get("cookie")),
            body=body,
        )
        try:
            return app.handle(request)
        except Exception:
            log.exception("demo server: unexpected error for %s %s", self.command, self.path)
            return error_page(500, "Server error", "The demo site hit an unexpected error.")

    def _read_body(self, headers: dict[str, str], limit: int) -> tuple[bytes, Response | None]:
        if "transfer-encoding" in headers:
            self.close_connection = True
            return b"", error_page(
                411, "Length required", "Chunked request bodies are not supported."
            )
        length_text = headers.get("content-length", "0")
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", error_page(400, "Bad request", "The Content-Length header is invalid.")
        if length > limit:
            self.close_connection = True
            return b"", error_page(413, "Too large", f"The request body exceeds {limit} bytes.")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return b"", Response(400, drop=True)
        return body, None

    def _write(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if not any(name.lower() == "cache-control" for name, _ in response.headers):
            self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def error_page(status: int, title: str, message: str) -> Response:
    """A minimal HTML error page; the site and IdP use their own styled versions where possible."""
    phrase = HTTPStatus(status).phrase
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{status} {phrase}</h1>"
        f"<p id='reason'>{html.escape(message)}</p></body></html>"
    )
    return html_response(status, page)
