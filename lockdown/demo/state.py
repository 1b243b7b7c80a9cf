"""Everything the demo site remembers, shared by both servers' handler threads.

One re-entrant lock guards it all and doubles as the condition variable behind
:meth:`lockdown.demo.site.DemoSite.wait_for`: every handled request notifies it, so tests wait
for an observable effect instead of sleeping.
"""

from __future__ import annotations

import enum
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Lifetime of an outstanding login request (SAML AuthnRequest) at the site, seconds.
LOGIN_REQUEST_LIFETIME = 600.0
#: At most this many outstanding login requests are remembered (oldest dropped first).
MAX_LOGIN_REQUESTS = 10_000
#: The SCORM attempt every demo user is on (Moodle starts counting at 1).
CURRENT_ATTEMPT = 1


@dataclass(frozen=True)
class User:
    """A demo account; the passwords are public on purpose (they are shown on the login form)."""

    username: str
    password: str
    fullname: str
    role: str  # "student" or "staff"


# The demo passwords are public on purpose: the IdP login form displays them.
USERS: dict[str, User] = {
    "student": User("student", "student", "Sam Student", "student"),
    "staff": User("staff", "staff", "Alex Staff", "staff"),
}


@dataclass(frozen=True)
class Delivery:
    """One element received by ``datamodel.php``, kept even when it repeats an earlier one."""

    user: str
    attempt: int
    element: str
    value: str
    received_at: float


@dataclass(frozen=True)
class SaveAttempt:
    """One request to ``datamodel.php`` and the fault it met, logged when the fault was read.

    Tests wait on these rather than on :class:`RequestRecord`: a request is recorded on arrival,
    so a fault changed between arrival and handling would apply to it unseen.
    """

    by_page: bool  #: sent by Chromium (it has ``Sec-Fetch-*`` headers), not by the app's resend
    fault: Fault | None
    values: dict[str, str]  #: the ``cmi`` elements of the body (dotted names), last one wins


@dataclass(frozen=True)
class Upload:
    """A file received by the staff upload page."""

    filename: str
    size: int
    sha256: str
    user: str


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request received by either server (``host`` is that server's netloc)."""

    method: str
    host: str
    path: str
    headers: dict[str, str]
    received_at: float


class Fault(enum.Enum):
    """How ``datamodel.php`` misbehaves, to exercise the app's store-and-forward journal."""

    OFFLINE = "offline"  #: HTTP 503, nothing stored (a save outage)
    ERROR = "error"  #: HTTP 500, nothing stored
    DROP = "drop"  #: the connection is closed without any answer, nothing stored
    LOSE = "lose"  #: answers "true\n0" but stores and records nothing (acknowledged, then lost)
    SLOW = "slow"  #: waits ``delay`` seconds, then stores and answers normally
    #: stores, then closes the connection without an answer (the client must resend: a duplicate)
    APPLY_THEN_DROP = "apply-then-drop"


@dataclass
class Session:
    """A Moodle-like session: a guest session until login, then bound to a user."""

    sid: str
    user: str | None
    sesskey: str
    wantsurl: str | None = None
    created: float = field(default_factory=time.time)


def new_sesskey() -> str:
    """Moodle's sesskey is 10 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


class SiteState:
    """Sessions, attempt data, uploads and the request log of one :class:`DemoSite`."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.key = secrets.token_bytes(32)
        self.stopping = threading.Event()
        self._sessions: dict[str, Session] = {}
        self._login_requests: OrderedDict[str, float] = OrderedDict()
        self._deliveries: list[Delivery] = []
        self._save_attempts: list[SaveAttempt] = []
        self._answers: dict[tuple[str, int], dict[str, str]] = {}
        self._uploads: list[Upload] = []
        self._requests: list[RequestRecord] = []
        self._fault: Fault | None = None
        self._fault_delay = 0.0
        self._exclusive = False
        self._players: dict[tuple[str, int], list[str]] = {}

    # -- observation ---------------------------------------------------------------------------
    def notify(self) -> None:
        """Wake every :meth:`DemoSite.wait_for` so it re-evaluates its predicate."""
        with self.cond:
            self.cond.notify_all()

    def record_request(self, record: RequestRecord) -> None:
        with self.cond:
            self._requests.append(record)

    def requests(self, host: str | None = None) -> list[RequestRecord]:
        with self.cond:
            return [r for r in self._requests if host is None or r.host == host]

    # -- sessions ------------------------------------------------------------------------------
    def new_session(self, user: str | None, wantsurl: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(24), user, new_sesskey(), wantsurl)
        with self.cond:
            self._sessions[session.sid] = session
        return session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self.cond:
            return self._sessions.get(sid)

    def drop_session(self, sid: str | None) -> None:
        if sid:
            with self.cond:
                self._sessions.pop(sid, None)

    def set_wantsurl(self, sid: str, wantsurl: str) -> None:
        with self.cond:
            session = self._sessions.get(sid)
            if session is not None:
                session.wantsurl = wantsurl

    # -- login requests (SAML InResponseTo bookkeeping) ---------------------------------------
    def add_login_request(self, request_id: str) -> None:
        with self.cond:
            self._login_requests[request_id] = time.time() + LOGIN_REQUEST_LIFETIME
            while len(self._login_requests) > MAX_LOGIN_REQUESTS:
                self._login_requests.popitem(last=False)

    def consume_login_request(self, request_id: str) -> bool:
        """True once for a request the site issued and that has not expired; then forgotten."""
        with self.cond:
            expires = self._login_requests.pop(request_id, None)
        return expires is not None and time.time() < expires

    # -- attempt data --------------------------------------------------------------------------
    def deliver(self, user: str, attempt: int, items: Iterable[tuple[str, str]]) -> None:
        """Store elements in arrival order and log each one as a :class:`Delivery`."""
        now = time.time()
        with self.cond:
            store = self._answers.setdefault((user, attempt), {})
            for element, value in items:
                store[element] = value
                self._deliveries.append(Delivery(user, attempt, element, value, now))

    def deliveries(self) -> list[Delivery]:
        with self.cond:
            return list(self._deliveries)

    def answers(self, user: str, attempt: int = CURRENT_ATTEMPT) -> dict[str, str]:
        with self.cond:
            return dict(self._answers.get((user, attempt), {}))

    def all_answers(self) -> list[tuple[str, int, dict[str, str]]]:
        with self.cond:
            return [(u, a, dict(v)) for (u, a), v in sorted(self._answers.items())]

    # -- uploads -------------------------------------------------------------------------------
    def add_upload(self, upload: Upload) -> None:
        with self.cond:
            self._uploads.append(upload)

    def uploads(self) -> list[Upload]:
        with self.cond:
            return list(self._uploads)

    # -- faults --------------------------------------------------------------------------------
    def set_fault(self, fault: Fault | None, delay: float = 0.0) -> None:
        with self.cond:
            self._fault = fault
            self._fault_delay = delay

    def fault(self, attempt: tuple[bool, dict[str, str]] | None = None) -> tuple[Fault | None,
                                                                                   float]:
        """The current fault; with ``(by_page, values)``, also logged as a :class:`SaveAttempt`."""
        with self.cond:
            if attempt is not None:
                self._save_attempts.append(SaveAttempt(attempt[0], self._fault, attempt[1]))
            return self._fault, self._fault_delay

    def save_attempts(self) -> list[SaveAttempt]:
        with self.cond:
            return list(self._save_attempts)

    # -- one window per attempt (like the Numbas LTI provider) -------------------------------------
    def set_exclusive(self, flag: bool) -> None:
        with self.cond:
            self._exclusive = flag

    def open_player(self, user: str, attempt: int, sid: str) -> None:
        """Session ``sid`` opened the attempt's player: it becomes the current one."""
        with self.cond:
            opened = self._players.setdefault((user, attempt), [])
            if sid in opened:
                opened.remove(sid)
            opened.append(sid)

    def superseded(self, user: str, attempt: int, sid: str) -> bool:
        """True when exclusive attempts are on and a newer session has opened this attempt."""
        with self.cond:
            opened = self._players.get((user, attempt), [])
            return self._exclusive and sid in opened and opened[-1] != sid
