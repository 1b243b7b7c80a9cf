"""``DemoSite``: the embedded Moodle-like exam site and its identity provider, on loopback.

The app opens it when no institution is configured, and the integration, e2e and benchmark
suites use it as their fixture, so everything it receives is observable
(:meth:`DemoSite.deliveries`, :meth:`DemoSite.requests`, ...) and waitable
(:meth:`DemoSite.wait_for` is woken by every request; no polling sleeps).

Two servers, two hosts: the site on ``127.0.0.1`` and the identity provider on ``127.0.0.2``
(Linux and Windows route all of 127/8 to loopback; macOS needs
``sudo ifconfig lo0 alias 127.0.0.2 up``), so the login really crosses sites, like SAML.

``stop()`` closes the listening sockets *and* the browser's keep-alive connections, so a
stopped site looks gone; ``start()`` after ``stop()`` listens again on the same ports with the
same state (sessions, answers, signing key): a network outage and recovery, for the journal
tests. :meth:`set_offline`/:meth:`set_fault` make only ``datamodel.php`` fail.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from types import TracebackType

from lockdown.demo import pages
from lockdown.demo.assertion import ASSERTION_LIFETIME, Assertion, new_message_id, sign_assertion
from lockdown.demo.errors import DemoSiteError
from lockdown.demo.httpbase import POLL_INTERVAL, DemoHTTPServer
from lockdown.demo.idp import IdpApp
from lockdown.demo.moodle import Endpoints, SiteApp
from lockdown.demo.state import (
    CURRENT_ATTEMPT,
    Delivery,
    Fault,
    RequestRecord,
    SaveAttempt,
    SiteState,
    Upload,
)

__all__ = ["Delivery", "DemoSite", "DemoSiteError", "Fault", "RequestRecord", "SaveAttempt",
           "Upload"]

STOP_JOIN_TIMEOUT = 5.0


class DemoSite:
    """Both demo servers; see the module docstring. Usable as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        idp_host: str = "127.0.0.2",
        port: int = 0,
        idp_port: int = 0,
        test_routes: bool = False,
    ) -> None:
        for name, value in (("host", host), ("idp_host", idp_host)):
            if not value or ":" in value or "/" in value:
                raise DemoSiteError(f"{name} must be an IPv4 address or host name, not {value!r}")
        for name, number in (("port", port), ("idp_port", idp_port)):
            if not 0 <= number <= 65535:
                raise DemoSiteError(f"{name} must be 0 (any free port) to 65535, not {number}")
        if host == idp_host and (port == idp_port != 0):
            raise DemoSiteError("the site and the identity provider cannot share one address")
        self._host, self._idp_host = host, idp_host
        self._port, self._idp_port = port, idp_port
        self.test_routes = test_routes
        self._state = SiteState()
        self._lifecycle = threading.Lock()
        self._servers: list[DemoHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._endpoints: Endpoints | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start both servers in daemon threads; return once both are listening."""
        with self._lifecycle:
            if self._servers:
                raise DemoSiteError("the demo site is already running")
            self._state.stopping.clear()
            site = self._bind(self._host, self._port, "demo site")
            try:
                idp = self._bind(self._idp_host, self._idp_port, "identity provider")
            except DemoSiteError:
                site.server_close()
                raise
            self._port, self._idp_port = site.server_address[1], idp.server_address[1]
            self._endpoints = Endpoints(f"http://{site.netloc}/", f"http://{idp.netloc}/")
            site.app = SiteApp(self._state, self._endpoints, site.netloc, self.test_routes)
            idp.app = IdpApp(self._state, self._endpoints, idp.netloc, self.test_routes)
            self._servers = [site, idp]
            self._threads = [
                threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": POLL_INTERVAL},
                    name=f"demo-{role}",
                    daemon=True,
                )
                for server, role in ((site, "site"), (idp, "idp"))
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Stop both servers and cut open connections; safe to call twice."""
        with self._lifecycle:
            servers, threads = self._servers, self._threads
            self._servers, self._threads = [], []
            self._state.stopping.set()
            for server in servers:
                server.shutdown()
            for server in servers:
                server.server_close()
                server.close_connections()
            for thread in threads:
                thread.join(STOP_JOIN_TIMEOUT)
        self._state.notify()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> DemoSite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self, host: str, port: int, role: str) -> DemoHTTPServer:
        try:
            return DemoHTTPServer((host, port), self._state)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = f"port {port} is already in use"
            elif exc.errno == errno.EADDRNOTAVAIL:
                reason = (
                    f"{host} is not a local address here (on macOS: "
                    f"'sudo ifconfig lo0 alias {host} up')"
                )
            else:
                reason = exc.strerror or str(exc)
            raise DemoSiteError(f"cannot start the {role} on {host}:{port}: {reason}") from exc

    # -- addresses -----------------------------------------------------------------------------
    def _require_endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise DemoSiteError("the demo site has not been started yet (call start())")
        return self._endpoints

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``"""
        return self._require_endpoints().site

    @property
    def idp_base_url(self) -> str:
        """``http://127.0.0.2:PORT/``"""
        return self._require_endpoints().idp

    @property
    def start_url(self) -> str:
        """The front page, where the app starts."""
        return self.base_url

    @property
    def login_path(self) -> str:
        """Prefix of the site's login paths: IdP hosts are allowed only in flows started here."""
        return "/login/"

    @property
    def site_netloc(self) -> str:
        return self.base_url.split("/")[2]

    @property
    def idp_netloc(self) -> str:
        return self.idp_base_url.split("/")[2]

    @property
    def exam_url(self) -> str:
        """The SCORM player page of the demo exam."""
        return self.base_url + pages.EXAM_PATH.lstrip("/")

    # -- observation ---------------------------------------------------------------------------
    def deliveries(self) -> list[Delivery]:
        """Every element ``datamodel.php`` stored, in arrival order, duplicates included."""
        return self._state.deliveries()

    def save_attempts(self) -> list[SaveAttempt]:
        """Every ``datamodel.php`` request with the fault it met, in the order handled."""
        return self._state.save_attempts()

    def answers(self, user: str = "student", attempt: int = CURRENT_ATTEMPT) -> dict[str, str]:
        """The stored element -> value map of ``user``'s attempt (dotted SCORM names)."""
        return self._state.answers(user, attempt)

    def uploads(self) -> list[Upload]:
        return self._state.uploads()

    def requests(self) -> list[RequestRecord]:
        """Every request either server received, in arrival order."""
        return self._state.requests()

    def wait_for(self, predicate: Callable[[DemoSite], bool], timeout: float) -> bool:
        """Wait until ``predicate(site)`` is true; re-checked after every request handled.

        Returns False if ``timeout`` seconds pass first. The predicate runs under the state lock,
        so it must only read the site (``deliveries()``, ``requests()``, ...).
        """
        with self._state.cond:
            return bool(self._state.cond.wait_for(lambda: predicate(self), timeout))

    # -- fault injection -----------------------------------------------------------------------
    def set_offline(self, flag: bool) -> None:
        """While True, ``datamodel.php`` answers HTTP 503 and stores nothing (a save outage)."""
        self.set_fault(Fault.OFFLINE if flag else None)

    def set_fault(self, fault: Fault | None, delay: float = 0.0) -> None:
        """Make ``datamodel.php`` misbehave (see :class:`Fault`); None restores normal saving."""
        if delay < 0:
            raise DemoSiteError(f"delay must be >= 0 seconds, not {delay}")
        self._state.set_fault(fault, delay)

    def set_exclusive_attempts(self, flag: bool) -> None:
        """While True, opening the exam player in a newer session makes every later save from an
        older session's player answer HTTP 409 (nothing stored): the Numbas LTI provider's "this
        attempt has been opened in another window" rule, over HTTP."""
        self._state.set_exclusive(flag)

    # -- test helpers --------------------------------------------------------------------------
    def make_assertion(
        self,
        user: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        recipient: str | None = None,
        issued_at: float | None = None,
        lifetime: float = ASSERTION_LIFETIME,
        key: bytes | None = None,
        register: bool = True,
    ) -> str:
        """A ``SAMLResponse`` as the identity provider would post it (for tests).

        By default it answers a freshly registered login request, so the site accepts it once;
        override a field (or pass another ``key``, or ``register=False``) to forge a bad one.
        """
        endpoints = self._require_endpoints()
        request_id = new_message_id()
        if register:
            self._state.add_login_request(request_id)
        now = time.time() if issued_at is None else issued_at
        assertion = Assertion(
            id=new_message_id(),
            issuer=endpoints.idp if issuer is None else issuer,
            user=user,
            audience=endpoints.site if audience is None else audience,
            recipient=endpoints.acs if recipient is None else recipient,
            in_response_to=request_id,
            issued_at=now,
            not_on_or_after=now + lifetime,
        )
        return sign_assertion(assertion, self._state.key if key is None else key)
