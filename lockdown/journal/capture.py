"""Turns messages from the page-side hook (``resources/js/journal_hook.js``) into journal writes.

The UI's QWebChannel bridge calls :meth:`Capture.handle` with each entry object the hook passes to
``window.__lockdownRecord`` (shapes documented at the top of the hook) and the URL of the frame the
bridge belongs to. Everything from the page is untrusted: a malformed message raises
:class:`CaptureError` and nothing is written; a save endpoint on another origin than the page is
never used -- cookies are only ever replayed to the page's own origin -- and such values are kept
as ``local`` (export only).

Which attempt a value belongs to and how it is replayed:

* Moodle (and the demo site): the player window defines ``datamodelurl``/``datamodelurlparams``;
  the hook sends them as ``ctx`` with every SCORM call, and observes the ``datamodel.php`` POSTs.
  A successful POST (``true\\n0``) acknowledges the posted values; a failed one marks the attempt
  urgent for the sender and journals any posted value the journal did not have yet (Moodle's 1.2
  player marks elements committed even when the POST failed, so nobody else would resend them).
* Numbas LTI provider: the attempt page ``/run_attempt/<pk>``; its localStorage key
  ``numbas-lti-attempt-<pk>-scorm-data`` holds the unconfirmed batches with the provider's own
  ``time``/``counter``, which the journal adopts (so a replay is an exact duplicate the server
  ignores). A batch that disappears from a later snapshot of the same page was confirmed by the
  server, which acknowledges its values.
* Anything else is kept as ``local`` (for the support export) until a save endpoint is seen.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from lockdown.journal.errors import CaptureError
from lockdown.journal.replay import (
    MOODLE_CONTEXT_PARAMS,
    NUMBAS_FALLBACK_RE,
    NUMBAS_RUN_RE,
    NUMBAS_STORAGE_RE,
    ReplayAdapter,
    adapter_for,
    adapters_by_name,
    moodle_api_of,
    moodle_attempt_id,
    numbas_attempt_id,
    numbas_fallback_url,
    parse_moodle_body,
    same_origin,
)
from lockdown.journal.store import Journal, SaveContext, origin_of, value_digest

log = logging.getLogger("lockdown.journal")

MESSAGE_TYPES = frozenset(
    {"set", "commit", "rejected", "get", "storage", "save-request", "save-result", "save-context"}
)
APIS = frozenset({"scorm2004", "scorm12"})
MAX_KEY = 4096
MAX_VALUE = 16 * 1024 * 1024
MAX_URL = 16384
MAX_PAGES = 256


@dataclass(frozen=True)
class CaptureOutcome:
    """What one message did; ``urgent`` means the page's own save failed (wake the sender)."""

    kind: str
    recorded: int = 0
    acked: int = 0
    urgent: bool = False
    attempt: str = ""


@dataclass
class _Page:
    """What we know about one document (the hook's ``page`` id): its attempt and batches seen."""

    attempt: str = ""
    context: SaveContext | None = None
    api: str = ""
    batches: dict[str, dict[str, str]] = field(default_factory=dict)


class Capture:
    """Validates hook messages and records them. Call from one thread (the UI thread)."""

    def __init__(
        self,
        journal: Journal,
        adapters: Sequence[ReplayAdapter] | None = None,
        *,
        on_urgent: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.journal = journal
        self.adapters = tuple(adapters) if adapters is not None else adapters_by_name()
        self._on_urgent = on_urgent
        self._clock = clock
        self._pages: OrderedDict[str, _Page] = OrderedDict()

    # -- entry point ----------------------------------------------------------------------------
    def handle(self, message: object, *, source_url: str | None = None) -> CaptureOutcome:
        """Record one hook message. ``source_url``: the URL of the frame the bridge serves."""
        if not isinstance(message, Mapping):
            raise CaptureError("A journal hook message must be an object.")
        kind = _text(message, "type", 32)
        if kind not in MESSAGE_TYPES:
            raise CaptureError(f"Unknown journal hook message type {kind!r}.")
        url = _text(message, "url", MAX_URL)
        origin = origin_of(url)
        if not origin or urlsplit(url).scheme not in ("http", "https"):
            raise CaptureError(
                f"The journal hook message comes from a non-web page: {url[:200]!r}."
            )
        if source_url is not None and origin_of(source_url) != origin:
            raise CaptureError("The journal hook message names another origin than its frame.")
        page_id = _text(message, "page", 64)
        if not page_id:
            raise CaptureError("The journal hook message has no page id.")
        handler = getattr(self, "_on_" + kind.replace("-", "_"))
        outcome: CaptureOutcome = handler(message, url, origin, self._page(page_id), page_id)
        if outcome.urgent and self._on_urgent is not None:
            self._on_urgent(origin, outcome.attempt)
        return outcome

    def _page(self, page_id: str) -> _Page:
        page = self._pages.pop(page_id, None) or _Page()
        self._pages[page_id] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    # -- attempt resolution -------------------------------------------------------------------
    def _resolve(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> tuple[str, SaveContext | None]:
        """(attempt id, save context or None) for a SCORM call made in the window at ``url``."""
        api = page.api or "scorm2004"
        ctx = message.get("ctx")
        if isinstance(ctx, Mapping) and ctx.get("endpoint"):
            endpoint = _text(ctx, "endpoint", MAX_URL)
            context = self._moodle_context(
                origin, url, endpoint, _text(ctx, "params", MAX_URL), api
            ) or self._numbas_context(origin, url, urljoin(url, endpoint))
            if context is not None:
                self._bind(page, page_id, origin, context)
                return context.attempt, context
        if page.context is not None:
            return page.context.attempt, page.context
        numbas = self._numbas_context(origin, url)
        if numbas is not None:
            self._bind(page, page_id, origin, numbas)
            return numbas.attempt, numbas
        return page.attempt or f"page:{page_id}", None

    def _moodle_context(
        self, origin: str, page_url: str, endpoint: str, params_text: str, api: str
    ) -> SaveContext | None:
        endpoint = urljoin(page_url, endpoint)
        adapter = adapter_for(endpoint, self.adapters)
        if adapter is None or adapter.name != "moodle-scorm":
            return None
        if not same_origin(endpoint, origin):
            _foreign_endpoint(endpoint, origin)
            return None
        params = {k: v for k, v in parse_qsl(params_text) if k in MOODLE_CONTEXT_PARAMS}
        attempt = moodle_attempt_id(params)
        if attempt is None:
            return None
        return SaveContext(
            origin, attempt, adapter.name, endpoint, params, page_url, api, self._clock()
        )

    def _numbas_context(self, origin: str, page_url: str, endpoint: str = "") -> SaveContext | None:
        path = urlsplit(endpoint or page_url).path
        match = (NUMBAS_FALLBACK_RE if endpoint else NUMBAS_RUN_RE).match(path)
        adapter = next((a for a in self.adapters if a.name == "numbas-lti"), None)
        if match is None or adapter is None:
            return None
        attempt = numbas_attempt_id(match["pk"])
        if not endpoint:
            known = self.journal.context(origin, attempt)
            if known is not None:  # an exact fallback URL seen earlier beats the derived one
                return known
            endpoint = numbas_fallback_url(page_url) or ""
        if not same_origin(endpoint, origin):
            _foreign_endpoint(endpoint, origin)
            return None
        return SaveContext(
            origin, attempt, adapter.name, endpoint, {}, page_url, "scorm2004", self._clock()
        )

    def _bind(self, page: _Page, page_id: str, origin: str, context: SaveContext) -> None:
        """Attach the page to its attempt; values recorded before that move to the attempt.

        A reopened attempt brings a fresh save context (a new ``sesskey`` after a crash and a new
        login): values still waiting for that attempt are retried with it at once.
        """
        first = page.context is None
        page.attempt, page.context = context.attempt, context
        if first:
            self.journal.set_context(context)
            self.journal.rebind(origin, f"page:{page_id}", context.attempt)
            waiting = any(
                e.origin == origin and e.attempt == context.attempt for e in self.journal.pending()
            )
            if waiting and self._on_urgent is not None:
                self._on_urgent(origin, context.attempt)

    # -- message handlers ---------------------------------------------------------------------
    def _on_set(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        page.api = _api(message)
        key = _text(message, "key", MAX_KEY)
        value = _text(message, "value", MAX_VALUE)
        attempt, context = self._resolve(message, url, origin, page, page_id)
        if not key.startswith("cmi."):  # adl.nav.request and friends are navigation, not answers
            return CaptureOutcome("set", attempt=attempt)
        with self.journal.transaction():
            self.journal.record(
                origin,
                attempt,
                key,
                value,
                client_time=_time(message),
                counter=_int(message, "seq"),
                source=page.api,
                extra={"page": page_id},
                state="pending" if context is not None else "local",
                context=context,
            )
        return CaptureOutcome("set", recorded=1, attempt=attempt)

    def _on_commit(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        page.api = _api(message)
        attempt, _ = self._resolve(message, url, origin, page, page_id)
        return CaptureOutcome("commit", attempt=attempt)

    def _on_rejected(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        count = self.journal.reject(origin, page_id, _int(message, "ref"))
        return CaptureOutcome("rejected", recorded=count, attempt=page.attempt)

    def _on_get(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        """First read of a key on a fresh page: spot a server that acknowledged, then lost, data.

        Only when the page shows the *previous* value we had (or nothing) is the newer
        acknowledged value sent again; any other value may come from staff or another device.
        """
        page.api = _api(message)
        key = _text(message, "key", MAX_KEY)
        value = _text(message, "value", MAX_VALUE)
        attempt, context = self._resolve(message, url, origin, page, page_id)
        latest = self.journal.latest(origin, attempt, key) if context is not None else None
        if latest is None or latest.state != "acked" or latest.value == value:
            return CaptureOutcome("get", attempt=attempt)
        if value != "" and value_digest(value) != latest.extras().get("prev"):
            return CaptureOutcome("get", attempt=attempt)
        repended = self.journal.repend(latest.id)
        return CaptureOutcome("get", recorded=int(repended), urgent=repended, attempt=attempt)

    def _on_storage(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        match = NUMBAS_STORAGE_RE.match(_text(message, "key", MAX_KEY))
        if match is None:
            raise CaptureError("The journal only mirrors numbas-lti-attempt-*-scorm-data keys.")
        snapshot = _storage_batches(_text(message, "value", MAX_VALUE))
        attempt = numbas_attempt_id(match["pk"])
        context = self.journal.context(origin, attempt) or self._numbas_context(origin, url)
        if context is not None and context.attempt != attempt:
            context = None
        state = "pending" if context is not None else "local"
        recorded = acked = 0
        with self.journal.transaction():
            if context is not None:
                self.journal.set_context(context)
            for batch_id, items in snapshot.items():
                for item in items:
                    recorded += self._adopt_item(
                        origin, attempt, item, state=state, batch_id=batch_id, page_id=page_id
                    )
            gone = [b for b in page.batches if b not in snapshot]
            for batch_id in gone:  # removed by the provider's batch_received(): confirmed
                acked += self.journal.ack_values(origin, attempt, page.batches.pop(batch_id))
            for batch_id, items in snapshot.items():
                page.batches[batch_id] = {str(i["key"]): str(i["value"]) for i in items}
        return CaptureOutcome("storage", recorded=recorded, acked=acked, attempt=attempt)

    def _adopt_item(
        self,
        origin: str,
        attempt: str,
        item: Mapping[str, Any],
        *,
        state: str,
        batch_id: str,
        page_id: str,
    ) -> int:
        key, value = str(item["key"]), str(item["value"])
        seconds, counter = float(item["time"]), int(item["counter"])
        extra = {"batch": batch_id, "page": page_id, "time_iso": str(item.get("time_iso") or "")}
        latest = self.journal.latest(origin, attempt, key)
        if latest is not None and latest.value == value:
            if latest.state == "pending" and (latest.client_time, latest.counter) != (
                seconds,
                counter,
            ):
                self.journal.update_source_fields(
                    latest, client_time=seconds, counter=counter, extra=extra
                )
            return 0
        if latest is not None and latest.client_time > seconds:
            return 0  # we already hold a newer value for this key: newer value wins
        self.journal.record(
            origin,
            attempt,
            key,
            value,
            client_time=seconds,
            counter=counter,
            source="numbas-storage",
            extra=extra,
            state=state,
        )
        return 1

    def _on_save_context(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        endpoint = urljoin(url, _text(message, "endpoint", MAX_URL))
        context = self._numbas_context(origin, url, endpoint)
        if context is None:
            return CaptureOutcome("save-context")
        page.attempt, page.context = context.attempt, context
        self.journal.set_context(context)
        return CaptureOutcome("save-context", attempt=context.attempt)

    def _on_save_request(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        context, _ = self._save_post(message, url, origin, page, page_id)
        return CaptureOutcome("save-request", attempt=context.attempt if context else "")

    def _on_save_result(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> CaptureOutcome:
        context, values = self._save_post(message, url, origin, page, page_id)
        if context is None:
            return CaptureOutcome("save-result")
        status = _int(message, "status")
        answer = _text(message, "response", 65536, required=False)
        if status == 200 and answer.replace("\r\n", "\n").split("\n")[0].strip() == "true":
            acked = self.journal.ack_values(origin, context.attempt, values)
            return CaptureOutcome("save-result", acked=acked, attempt=context.attempt)
        recorded = 0
        with self.journal.transaction():
            for key, value in values.items():
                latest = self.journal.latest(origin, context.attempt, key)
                if latest is None or latest.value != value:
                    self.journal.record(
                        origin,
                        context.attempt,
                        key,
                        value,
                        client_time=_time(message),
                        counter=_int(message, "seq"),
                        source=context.api,
                        context=context,
                        extra={"page": page_id, "from": "failed-post"},
                    )
                    recorded += 1
        return CaptureOutcome(
            "save-result", recorded=recorded, urgent=True, attempt=context.attempt
        )

    def _save_post(
        self, message: Mapping[str, Any], url: str, origin: str, page: _Page, page_id: str
    ) -> tuple[SaveContext | None, dict[str, str]]:
        endpoint = urljoin(url, _text(message, "endpoint", MAX_URL))
        body = _text(message, "body", MAX_VALUE)
        params, values = parse_moodle_body(body)
        api = moodle_api_of(body) or page.api
        params_text = "&".join(f"{k}={v}" for k, v in params.items())
        context = self._moodle_context(origin, url, endpoint, params_text, api or "scorm2004")
        if context is not None:
            if page.context is not None and not context.same_target(page.context):
                self.journal.set_context(context)  # e.g. a new sesskey: the latest one wins
            self._bind(page, page_id, origin, context)
        return context, {k: v for k, v in values.items() if k.startswith("cmi.")}


def _foreign_endpoint(endpoint: str, origin: str) -> None:
    """A save endpoint on another origin is never used (cookies stay on the page's origin); the
    values are still journalled, as ``local``, for the support export."""
    log.warning(
        "journal: the page at %s names a save endpoint on another origin (%s); its values are"
        " kept on this device but not resent",
        origin,
        origin_of(endpoint),
        extra={"event": "journal.foreign_endpoint", "fields": {"origin": origin}},
    )


# -- validation helpers ------------------------------------------------------------------------
def _text(message: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = message.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CaptureError(f"The journal hook message field {name!r} must be a string.")
    if len(value) > limit:
        raise CaptureError(f"The journal hook message field {name!r} is too long ({len(value)}).")
    # JavaScript strings may hold lone surrogates, which no server can receive as UTF-8.
    return value.encode("utf-8", "replace").decode("utf-8")


def _int(message: Mapping[str, Any], name: str) -> int:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaptureError(f"The journal hook message field {name!r} must be a number.")
    if value != int(value) or not 0 <= value < 2**53:
        raise CaptureError(f"The journal hook message field {name!r} must be a whole number.")
    return int(value)


def _time(message: Mapping[str, Any]) -> float:
    value = message.get("time")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaptureError("The journal hook message field 'time' must be a number.")
    return float(value) / 1000.0


def _api(message: Mapping[str, Any]) -> str:
    api = _text(message, "api", 16)
    if api not in APIS:
        raise CaptureError(f"Unknown SCORM API {api!r} in a journal hook message.")
    return api


def _storage_batches(text: str) -> dict[str, list[dict[str, Any]]]:
    """Validate the provider's localStorage snapshot: ``{"sent": {id: [items]}, ...}``."""
    try:
        data = json.loads(text)
    except ValueError:
        raise CaptureError("The Numbas localStorage value is not JSON.") from None
    sent = data.get("sent", {}) if isinstance(data, dict) else None
    if not isinstance(sent, dict):
        raise CaptureError("The Numbas localStorage value has no 'sent' batches object.")
    batches: dict[str, list[dict[str, Any]]] = {}
    for batch_id, items in sent.items():
        if not isinstance(items, list):
            raise CaptureError("A Numbas localStorage batch is not a list.")
        checked = []
        for item in items:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("key"), str)
                and isinstance(item.get("value"), str | int | float)
                and isinstance(item.get("time"), int | float)
                and not isinstance(item.get("time"), bool)
                and math.isfinite(item["time"])
                and isinstance(item.get("counter", 0), int)
            ):
                raise CaptureError("A Numbas localStorage item lacks key/value/time/counter.")
            checked.append({**item, "counter": item.get("counter", 0)})
        batches[str(batch_id)] = checked
    return batches
