"""A hostile server on another loopback address: any request reaching it is an escape."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EvilServer:
    """Records every request; the escape tests assert it stays empty."""

    def __init__(self, host: str = "127.0.0.3") -> None:
        self.hits: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def _hit(self) -> None:
                with outer._lock:
                    outer.hits.append(f"{self.command} {self.headers.get('Host')}{self.path}")
                body = b"<title>ESCAPED</title><h1>escaped</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _hit

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self.netloc = f"{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> EvilServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
