"""Store-and-forward: a thread that delivers journalled values the server has not confirmed.

Contract:

* Sends only the latest value per key (:meth:`Journal.pending`), grouped per attempt in journal
  order, one batch at a time; a failure stops the pass (later batches wait, preserving order) and
  the next pass comes after exponential backoff with jitter.
* Waits ``grace_s`` before resending a value the page recorded in this session (the LMS's own save
  usually succeeds first), except for attempts marked urgent (the page saw its save fail) and
  values left over from an earlier session (a crash): those go at once.
* Replays are idempotent in effect (Moodle upserts elements; the Numbas provider ignores identical
  items); an acknowledgement is only what the adapter recognises (``true\\n0``, the batch id in
  ``received_batches``) -- a 200 with a login page is a failure.
* After its own resend succeeds, a newer value of the same key that was already acknowledged is
  sent again (:meth:`Journal.mark_acked`), so a resend racing the page's save never leaves an
  older value on the server.
* Cookies come from ``cookies(url)`` (the UI exports them from the WebEngine cookie store),
  extra headers (Numbas lockdown ``Authorization``, the user agent) from ``headers(url)``;
  requests go only to the attempt's own origin and, if given, only where ``allow_url(url)``
  agrees (the policy).
* State changes (``pending``, ``online``, ``last_error``) are reported through ``on_state``, called
  on the sender thread.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import requests

from lockdown.journal.replay import (
    ReplayAdapter,
    ReplayRequest,
    ReplayResponse,
    adapters_by_name,
    same_origin,
)
from lockdown.journal.store import Entry, Journal, SaveContext

log = logging.getLogger("lockdown.journal")

CookieSource = Callable[[str], Mapping[str, str]]
HeaderSource = Callable[[str], Mapping[str, str]]


@dataclass(frozen=True)
class SenderState:
    """What the banner needs: how many values wait, whether the server is reachable, why not.

    ``oldest_pending_at`` (wall clock) lets the UI show the banner only once a value has waited
    longer than ``unsaved_banner_delay_s``.
    """

    pending: int = 0
    online: bool = True
    last_error: str | None = None
    blocked: int = 0  # pending values with no usable save endpoint yet
    oldest_pending_at: float | None = None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``min(cap, base * factor**n)`` scaled into [0.5, 1]."""

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0

    def delay(self, failures: int, rng: random.Random) -> float:
        if failures <= 0:
            return 0.0
        ceiling = min(self.cap_s, self.base_s * self.factor ** (failures - 1))
        return ceiling * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class PassResult:
    """One delivery pass: what was sent and when the next pass should run (seconds from now)."""

    sent: int
    acked: int
    failed: bool
    next_delay_s: float


@dataclass(frozen=True)
class _SendOutcome:
    acked: int
    repended: bool
    error: str | None


class Sender(threading.Thread):
    """Delivers pending journal entries; start with ``start()``, end with ``stop()``."""

    def __init__(
        self,
        journal: Journal,
        cookies: CookieSource,
        *,
        adapters: Sequence[ReplayAdapter] | None = None,
        headers: HeaderSource | None = None,
        allow_url: Callable[[str], bool] | None = None,
        on_state: Callable[[SenderState], None] | None = None,
        session: requests.Session | None = None,
        timeout_s: float = 15.0,
        grace_s: float = 10.0,
        poll_s: float = 5.0,
        batch_size: int = 200,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name="lockdown-journal-sender", daemon=True)
        self.journal = journal
        self._cookies = cookies
        self._adapters = {a.name: a for a in (adapters or adapters_by_name())}
        self._headers = headers
        self._allow_url = allow_url
        self._on_state = on_state
        self._session = session or requests.Session()
        self._timeout_s = timeout_s
        self._grace_s = grace_s
        self._poll_s = poll_s
        self._batch_size = max(1, batch_size)
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._urgent: set[tuple[str, str]] = set()
        self._all_due = False
        self._urgent_lock = threading.Lock()
        self._failures = 0
        self._state = SenderState()
        self._state_lock = threading.Lock()

    # -- control ------------------------------------------------------------------------------
    def nudge(
        self, origin: str | None = None, attempt: str | None = None, *, everything: bool = False
    ) -> None:
        """Try now; thread-safe. With an attempt: its page's save failed (skip the grace time).
        Without: the network is back (drop the accumulated backoff). ``everything``: send all
        pending values at once, grace or not (the student wants to quit)."""
        with self._urgent_lock:
            if origin is not None and attempt is not None:
                self._urgent.add((origin, attempt))
            if everything:
                self._all_due = True
        if origin is None:
            self._failures = min(self._failures, 1)
        self._wake.set()

    def stop(self, timeout_s: float | None = 10.0) -> None:
        """Finish the current request (bounded by the HTTP timeout) and end the thread."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout_s)

    @property
    def state(self) -> SenderState:
        with self._state_lock:
            return self._state

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                result = self.deliver_once()
                delay = result.next_delay_s
            except Exception as exc:  # keep delivering whatever a single pass ran into
                log.exception(
                    "journal sender pass failed",
                    extra={"event": "journal.sender_error", "fields": {"error": str(exc)}},
                )
                self._failures += 1
                delay = self._backoff.delay(self._failures, self._rng)
            self._wake.wait(delay)
            self._wake.clear()

    # -- one pass -----------------------------------------------------------------------------
    def deliver_once(self) -> PassResult:
        """Send every eligible batch once, in order, stopping at the first failure."""
        now = self._clock()
        pending = self.journal.pending()
        groups = self._eligible_groups(pending, now)
        sent = acked = 0
        failed = False
        blocked = 0
        for (origin, attempt), entries in groups:
            context = self.journal.context(origin, attempt)
            adapter = self._adapters.get(context.adapter) if context else None
            if context is None or adapter is None or not self._may_send(context.endpoint, origin):
                blocked += len(entries)
                self._set_urgent(origin, attempt, False)  # nothing to retry until it changes
                continue
            again = False
            for start in range(0, len(entries), self._batch_size):
                batch = entries[start : start + self._batch_size]
                outcome = self._send(adapter, batch, context)
                sent += len(batch)
                acked += outcome.acked
                again = again or outcome.repended
                if outcome.error is not None:
                    failed = True
                    self._failed(outcome.error)
                    break
            if failed:
                break
            # values our resend may have overwritten on the server go again at once
            self._set_urgent(origin, attempt, again)
        if not failed and sent:
            self._failures = 0
            self._update(online=True, last_error=None)
        if acked:
            self.journal.compact()
        remaining = self.journal.pending()
        oldest = min((e.recorded_at for e in remaining), default=None)
        self._update(pending=len(remaining), blocked=blocked, oldest_pending_at=oldest)
        return PassResult(sent, acked, failed, self._next_delay(remaining, failed))

    def _eligible_groups(
        self, pending: Iterable[Entry], now: float
    ) -> list[tuple[tuple[str, str], list[Entry]]]:
        """Pending values per attempt (first-recorded attempt first) whose time has come."""
        groups: dict[tuple[str, str], list[Entry]] = {}
        for entry in pending:
            groups.setdefault((entry.origin, entry.attempt), []).append(entry)
        with self._urgent_lock:
            self._urgent &= set(groups)  # a flag for an attempt with nothing pending expires
            urgent, everything, self._all_due = set(self._urgent), self._all_due, False
        return [
            (key, entries)
            for key, entries in groups.items()
            if everything or key in urgent or any(self._due(e, now) for e in entries)
        ]

    def _due(self, entry: Entry, now: float) -> bool:
        return entry.session != self.journal.session or now - entry.recorded_at >= self._grace_s

    def _set_urgent(self, origin: str, attempt: str, urgent: bool) -> None:
        with self._urgent_lock:
            if urgent:
                self._urgent.add((origin, attempt))
            else:
                self._urgent.discard((origin, attempt))

    def _next_delay(self, remaining: Sequence[Entry], failed: bool) -> float:
        if failed:
            return self._backoff.delay(self._failures, self._rng)
        if not remaining:
            return self._poll_s
        with self._urgent_lock:
            urgent = set(self._urgent)
        if any((e.origin, e.attempt) in urgent for e in remaining):
            return 0.0
        now = self._clock()
        waits = [
            max(0.0, e.recorded_at + self._grace_s - now)
            for e in remaining
            if not self._due(e, now)
        ]
        return min([self._poll_s, *waits])

    def _may_send(self, url: str, origin: str) -> bool:
        if not same_origin(url, origin):
            return False
        return self._allow_url is None or self._allow_url(url)

    def _send(
        self, adapter: ReplayAdapter, batch: Sequence[Entry], context: SaveContext
    ) -> _SendOutcome:
        cookies = dict(self._cookies(context.endpoint))
        request = adapter.build_request(batch, context, cookies)
        try:
            response = self._post(request, cookies)
        except requests.RequestException as exc:
            return _SendOutcome(0, False, _describe(exc))
        ack = adapter.is_ack(response, request)
        if not ack:
            return _SendOutcome(0, False, ack.message or "the server did not confirm the save")
        done = [i for i in request.entry_ids if i not in ack.not_saved]
        outcome = self.journal.mark_acked(done)
        log.info(
            "journal resend delivered %d value(s) for %s",
            len(done),
            context.attempt,
            extra={
                "event": "journal.delivered",
                "fields": {"attempt": context.attempt, "count": len(done)},
            },
        )
        error = ack.message if ack.not_saved else None
        return _SendOutcome(len(done), bool(outcome.repended), error)

    def _post(self, request: ReplayRequest, cookies: Mapping[str, str]) -> ReplayResponse:
        headers = dict(self._headers(request.url)) if self._headers else {}
        headers.update(request.headers)
        answer = self._session.request(
            request.method,
            request.url,
            data=request.body,
            headers=headers,
            cookies=dict(cookies),
            timeout=self._timeout_s,
            allow_redirects=False,  # a redirect (to a login page) is not an acknowledgement
        )
        with answer:
            return ReplayResponse(answer.status_code, answer.text, dict(answer.headers))

    # -- state reporting ----------------------------------------------------------------------
    def _failed(self, error: str) -> None:
        self._failures += 1
        log.warning(
            "journal resend failed: %s",
            error,
            extra={"event": "journal.resend_failed", "fields": {"error": error}},
        )
        self._update(online=False, last_error=error)

    def _update(self, **changes: object) -> None:
        with self._state_lock:
            new = replace(self._state, **changes)  # type: ignore[arg-type]
            changed = new != self._state
            self._state = new
        if changed and self._on_state is not None:
            self._on_state(new)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "the server cannot be reached (network down?)"
    return f"the request failed: {type(exc).__name__}"
