"""A local HTTP server that checks requests the way the real exam servers do.

Written from the servers' sources, independently of ``lockdown.policy`` (it must not share
code with what it checks):

* ``/numbas/...`` -- the Numbas LTI provider's lockdown-app check
  (``numbas_lti/lockdown_app.py``): ``Authorization`` must match ``^Basic (?P<token>.*)$``
  with the expected token, and the user agent's ``(Name: value)`` pairs, read with the
  provider's lazy pattern ``\\((.*?): (.*?)\\)``, must give a ``Version`` at least the
  minimum configured for the ``Platform``. Old versions get a refusal page.
* ``/numbas-seb/...`` -- the provider's SEB check (``is_seb``):
  ``sha256(request.build_absolute_uri() + config_key)``, with Django's URI rebuilding
  (the path is percent-decoded, then re-escaped by ``escape_uri_path``; the query goes
  through ``iri_to_uri``), which is NOT byte-for-byte the URL on the wire.
* ``/moodle/...`` -- Moodle's ``quizaccess_seb`` check (``seb_access_manager::check_key``):
  ``sha256($FULLME . $key)`` for the Config Key and every allowed Browser Exam Key, where
  ``$FULLME`` is built as ``initialise_fullme``/``setup_get_remote_url`` build it: request
  scheme + ``://`` + wwwroot host (+ ``:port`` if wwwroot has one) + ``REQUEST_URI`` as
  received, with ``"`` and ``'`` replaced by ``%22`` and ``%27`` -- nothing else normalised.
* ``/moodle/mod/quiz/accessrule/seb/config.php`` serves the configured ``.seb`` XML (Moodle
  serves it behind login; an optional session cookie is required when configured).

Every request is recorded (method, raw target, headers, verdict) for assertions. Verdicts:
200 with ``OK <check>`` in the body, 403 with ``DENIED <check>: <reason>``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import pytest

PROVIDER_UA_PATTERN = re.compile(r"\((.*?): (.*?)\)")
PROVIDER_AUTH_PATTERN = re.compile(r"^Basic (?P<token>.*)$")
MIN_VERSION_PAGE = "Your version of the Numbas lockdown app is too old"
CONFIG_PATH = "/moodle/mod/quiz/accessrule/seb/config.php"

# Django's escape_uri_path() safe set and iri_to_uri() safe set (django/utils/encoding.py).
_DJANGO_PATH_SAFE = "/:@&+$,-_.!~*'()"
_DJANGO_IRI_SAFE = "/#%[]=:;$&()+,!?*@'~"


def moodle_fullme(scheme: str, wwwroot: str, request_uri: str) -> str:
    """``$FULLME`` as Moodle computes it for a request (see module docstring)."""
    root = urllib.parse.urlsplit(wwwroot)
    host_and_port = f"{scheme}://{root.hostname}"
    if root.port:
        host_and_port += f":{root.port}"
    fullpath = request_uri.replace('"', "%22").replace("'", "%27")
    return host_and_port + fullpath


def django_absolute_uri(scheme: str, host: str, request_target: str) -> str:
    """``request.build_absolute_uri()`` as Django rebuilds it from a raw request target.

    The server hands Django the percent-decoded path (UTF-8); ``get_full_path`` re-escapes it
    with ``escape_uri_path`` and appends ``?`` + ``iri_to_uri(QUERY_STRING)`` if non-empty.
    """
    raw_path, _sep, query = request_target.partition("?")
    rebuilt = urllib.parse.quote(urllib.parse.unquote(raw_path), safe=_DJANGO_PATH_SAFE)
    if query:
        rebuilt += "?" + urllib.parse.quote(query, safe=_DJANGO_IRI_SAFE)
    return f"{scheme}://{host}{rebuilt}"


def _version_tuple(text: str) -> tuple[int, ...] | None:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):
        return None
    return tuple(int(part) for part in text.split("."))


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    target: str
    headers: dict[str, str]
    check: str
    allowed: bool
    reason: str


@dataclass
class ServerConfig:
    """What the emulated servers expect. ``moodle_wwwroot`` defaults to the server's URL."""

    numbas_token: str = "numbas-test-token:1a2b3c"
    numbas_min_versions: dict[str, str] = field(
        default_factory=lambda: {"linux": "1.0.0", "win32": "1.0.0", "darwin": "1.0.0"}
    )
    seb_config_key: str = ""
    seb_browser_exam_keys: list[str] = field(default_factory=list)
    moodle_wwwroot: str | None = None
    seb_config_xml: bytes = b""
    session_cookie: str | None = None


class ProtocolServer:
    """The emulated Numbas provider + Moodle on 127.0.0.1 and a random port.

    Use as a context manager; ``url(path)`` builds absolute URLs, ``requests`` holds the log.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def wwwroot(self) -> str:
        return self.config.moodle_wwwroot or self.base_url

    def __enter__(self) -> ProtocolServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ checks

    def check_numbas(self, headers: dict[str, str]) -> tuple[bool, str]:
        match = PROVIDER_AUTH_PATTERN.match(headers.get("authorization", ""))
        if not match:
            return False, "no lockdown-app Authorization header"
        if match.group("token") != self.config.numbas_token:
            return False, "bad signature on the lockdown-app token"
        pairs = dict(PROVIDER_UA_PATTERN.findall(headers.get("user-agent", "")))
        platform, version = pairs.get("Platform"), pairs.get("Version")
        if platform is None or version is None:
            return False, f"{MIN_VERSION_PAGE} (no Version/Platform in the user agent)"
        minimum = self.config.numbas_min_versions.get(platform)
        have, need = _version_tuple(version), _version_tuple(minimum or "")
        if minimum is None or have is None or need is None or have < need:
            return False, f"{MIN_VERSION_PAGE} (version {version!r} on {platform!r})"
        return True, f"numbas app {version} on {platform}"

    def check_moodle(self, target: str, headers: dict[str, str]) -> tuple[bool, str]:
        fullme = moodle_fullme("http", self.wwwroot, target)
        config_key = self.config.seb_config_key
        if config_key:
            sent = headers.get("x-safeexambrowser-configkeyhash")
            if sent is None:
                return False, "no X-SafeExamBrowser-ConfigKeyHash header"
            if _sha256_hex(fullme + config_key) != sent.strip():
                return False, f"config key hash does not match for {fullme}"
        if self.config.seb_browser_exam_keys:
            sent = headers.get("x-safeexambrowser-requesthash")
            if sent is None:
                return False, "no X-SafeExamBrowser-RequestHash header"
            if not any(
                _sha256_hex(fullme + key) == sent.strip()
                for key in self.config.seb_browser_exam_keys
            ):
                return False, f"request hash does not match for {fullme}"
        return True, f"moodle {fullme}"

    def check_numbas_seb(self, target: str, headers: dict[str, str]) -> tuple[bool, str]:
        uri = django_absolute_uri("http", headers.get("host", ""), target)
        expected = _sha256_hex(uri + self.config.seb_config_key)
        if headers.get("x-safeexambrowser-configkeyhash") != expected:
            return False, f"config key hash does not match for {uri}"
        return True, f"numbas seb {uri}"

    # ------------------------------------------------------------------ plumbing

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                target = self.path
                path = target.partition("?")[0]
                if path == CONFIG_PATH:
                    check = "moodle-config"
                    cookie = server.config.session_cookie
                    allowed = cookie is None or cookie in headers.get("cookie", "")
                    reason = "served" if allowed else "not logged in"
                elif path.startswith("/numbas-seb/"):
                    check = "numbas-seb"
                    allowed, reason = server.check_numbas_seb(target, headers)
                elif path.startswith("/numbas/"):
                    check = "numbas"
                    allowed, reason = server.check_numbas(headers)
                elif path.startswith("/moodle/"):
                    check = "moodle"
                    allowed, reason = server.check_moodle(target, headers)
                else:
                    check, allowed, reason = "none", False, "unknown path"
                server._record(
                    RecordedRequest(self.command, target, headers, check, allowed, reason)
                )
                if check == "moodle-config" and allowed:
                    self._reply(200, server.config.seb_config_xml, "text/xml")
                elif allowed:
                    self._reply(200, f"OK {check}: {reason}".encode(), "text/plain")
                else:
                    page = f"<h1>DENIED {check}: {reason}</h1>".encode()
                    self._reply(403, page, "text/html; charset=utf-8")

            do_GET = do_POST = do_HEAD = _handle

        return Handler


@pytest.fixture
def protocol_server() -> Iterator[ProtocolServer]:
    """A started :class:`ProtocolServer` with the default :class:`ServerConfig`.

    Enable with ``pytest_plugins = ["tests.support.protocol_server"]`` in a conftest;
    tests may change ``protocol_server.config`` before sending requests.
    """
    with ProtocolServer() as server:
        yield server
