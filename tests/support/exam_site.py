"""The protocol server plus what a browser test needs: HTML pages, cookies, WebSockets.

:class:`ExamSite` keeps every check of :class:`~tests.support.protocol_server.ProtocolServer`
(the Numbas provider's and Moodle's, written independently of ``lockdown``) and adds:

* ``pages[path] = (content_type, body)``: what an *accepted* request to ``path`` returns
  instead of the plain ``OK ...`` text (a refused one still gets the server's DENIED page);
* ``/site/...`` pages served with no check at all (a neutral start page);
* ``set_cookie[path] = "name=value; Path=/"``: a ``Set-Cookie`` header on that page;
* request bodies recorded (``bodies``), to check a POST survived a redirect;
* WebSocket handshakes on the checked paths: the check runs on the handshake request, an
  accepted one is answered ``101`` (then the connection is held until the client closes).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler

from tests.support.protocol_server import ProtocolServer, RecordedRequest, ServerConfig

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ExamSite(ProtocolServer):
    """See module docstring. Use as a context manager, like ProtocolServer."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.set_cookie: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        self.changed = threading.Condition()
        super().__init__(config)

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        with self.changed:
            self.changed.notify_all()

    def page(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path`` (when its check passes); returns the absolute URL."""
        self.pages[path] = ("text/html; charset=utf-8", html.encode("utf-8"))
        return self.url(path)

    def wait_for(self, predicate: object, timeout: float = 20) -> RecordedRequest:
        """The first recorded request matching ``predicate`` (waits for it)."""
        assert callable(predicate)

        def find() -> RecordedRequest | None:
            return next((r for r in list(self.requests) if predicate(r)), None)

        with self.changed:
            self.changed.wait_for(lambda: find() is not None, timeout=timeout)
        found = find()
        if found is None:
            seen = "\n".join(f"{r.method} {r.target} {r.check} {r.allowed} {r.reason}"
                             for r in self.requests[-20:])
            raise AssertionError(f"no matching request; last requests:\n{seen}")
        return found

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        site = self

        class Handler(base):  # type: ignore[valid-type,misc]
            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                path = self.path.partition("?")[0]
                page = site.pages.get(path)
                if status == 200 and page is not None:
                    content_type, body = page
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if path in site.set_cookie:
                    self.send_header("Set-Cookie", site.set_cookie[path])
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle_site(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                site._record(RecordedRequest(self.command, self.path, headers, "site", True,
                                             "unchecked"))
                path = self.path.partition("?")[0]
                content_type, body = site.pages.get(path, ("text/plain", b"site"))
                self.send_response(200 if path in site.pages else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if path in site.set_cookie:
                    self.send_header("Set-Cookie", site.set_cookie[path])
                self.end_headers()
                self.wfile.write(body)

            def _websocket(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                path = self.path.partition("?")[0]
                if path.startswith("/numbas/"):
                    check, (allowed, reason) = "numbas", site.check_numbas(headers)
                else:
                    check, (allowed, reason) = "moodle", site.check_moodle(self.path, headers)
                site._record(RecordedRequest("WEBSOCKET", self.path, headers, check, allowed,
                                             reason))
                if not allowed:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                accept = base64.b64encode(hashlib.sha1(
                    (headers.get("sec-websocket-key", "") + _WS_GUID).encode()).digest())
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept.decode())
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                while self.rfile.read(1):  # hold the socket until the client goes
                    pass

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    site.bodies[self.path] = self.rfile.read(length)
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    self._websocket()
                elif self.path.startswith("/site/"):
                    self._handle_site()
                else:
                    self._handle()

            do_GET = do_POST = do_HEAD = _dispatch

        return Handler
