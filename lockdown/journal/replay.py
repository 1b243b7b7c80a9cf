"""How a save is replayed, declared per LMS: one :class:`ReplayAdapter` per save protocol.

Built in (and on by default):

* ``moodle-scorm`` -- Moodle's SCORM player (``mod/scorm/datamodels/scorm_13.js`` and
  ``scorm_12.js``, ``request.js``): a synchronous form-encoded POST to ``/mod/scorm/datamodel.php``
  whose body is ``id=<cmid>&a=<scormid>&sesskey=..&attempt=..&scoid=..`` followed by one
  ``&<element>=<value>`` per changed element. Element names have every ``.`` replaced by ``__``;
  SCORM 1.2 first turns list indexes ``.N.`` into ``_N.`` (``cmi.interactions_0.id``), SCORM 2004
  keeps them (``cmi__interactions__0__id``). ``datamodel.php`` answers ``true\\n0`` when every
  element was stored and ``false\\n101`` otherwise; any other answer (an empty body after a failed
  ``confirm_sesskey()``, a login page, an error page) is not an acknowledgement. Storing an element
  is an upsert (``scorm_insert_track``), so a replay is idempotent. The demo site imitates this
  endpoint, so this adapter serves it too.
* ``numbas-lti`` -- the Numbas LTI provider's HTTP fallback (``numbas_lti/static/api.js``
  ``send_ajax``; view ``scorm_data_fallback``): a JSON POST to ``/attempt/<pk>/scorm_data_fallback``
  with ``X-CSRFToken`` (the ``csrftoken`` cookie), body ``{"batches": {<id>: [{key, value, time,
  time_iso, counter}]}, "complete": false}``; the answer ``{"received_batches": [<id>...],
  "unsaved_elements": [...]}``. The provider stores elements with ``get_or_create`` on (key, value,
  time, counter), so replaying an identical item is a no-op, and it takes the latest value by
  (time, counter), so an old item can never win over a newer one.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from lockdown.journal.store import Entry, SaveContext, origin_of

MOODLE_DATAMODEL_PATH = "/mod/scorm/datamodel.php"
MOODLE_CONTEXT_PARAMS = ("id", "a", "sesskey", "attempt", "scoid")
NUMBAS_RUN_RE = re.compile(r"^(?P<prefix>.*)/run_attempt/(?P<pk>\d+)/?$")
NUMBAS_FALLBACK_RE = re.compile(r"^(?P<prefix>.*)/attempt/(?P<pk>\d+)/scorm_data_fallback/?$")
NUMBAS_STORAGE_RE = re.compile(r"^numbas-lti-attempt-(?P<pk>\d+)-scorm-data$")


@dataclass(frozen=True)
class ReplayRequest:
    """Everything needed to send one save (the sender adds cookies and its own headers)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    batch_id: str = ""
    entry_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReplayResponse:
    """The parts of an HTTP answer an adapter may look at (kept free of ``requests`` types)."""

    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    """The verdict on one replayed batch. ``not_saved``: entry ids the server refused to keep."""

    ok: bool
    message: str = ""
    not_saved: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return self.ok


class ReplayAdapter(Protocol):
    """One LMS save protocol. Implementations are stateless and pure (no network here)."""

    name: str

    def matches(self, url: str) -> bool:
        """Whether ``url`` (a save endpoint) belongs to this protocol."""
        ...

    def build_request(
        self, entries: Sequence[Entry], context: SaveContext, cookies: Mapping[str, str]
    ) -> ReplayRequest:
        """The request that stores ``entries`` (latest values of one attempt) on the server."""
        ...

    def is_ack(self, response: ReplayResponse, request: ReplayRequest) -> Ack:
        """Whether the server confirmed storing everything in ``request``."""
        ...


# -- Moodle SCORM ------------------------------------------------------------------------------
def moodle_element_name(key: str, api: str) -> str:
    """The POST field name Moodle's player uses for a SetValue key (its ``underscore()``)."""
    if api == "scorm12":
        key = re.sub(r"\.(\d+)(?=\.)", r"_\1", key)
    return key.replace(".", "__")


def moodle_key(element: str) -> str:
    """The SetValue key for a posted element name (inverse of :func:`moodle_element_name`)."""
    dotted = element.replace("__", ".")
    return re.sub(r"_(\d+)(?=\.)", r".\1", dotted)


def moodle_attempt_id(params: Mapping[str, str]) -> str | None:
    """A stable attempt id from Moodle's datamodel parameters, or None if they are incomplete."""
    module = params.get("id") or (f"a{params['a']}" if params.get("a") else "")
    scoid, attempt = params.get("scoid", ""), params.get("attempt", "")
    if not (module and scoid and attempt):
        return None
    if not all(part.isdigit() for part in (module.lstrip("a"), scoid, attempt)):
        return None
    return f"moodle-scorm:{module}:{scoid}:{attempt}"


def moodle_api_of(body: str) -> str:
    """'scorm12' or 'scorm2004' judging by the element names in a datamodel.php body, or ''."""
    names = [name for name, _ in parse_qsl(body, keep_blank_values=True) if name.startswith("cmi")]
    if any(n.startswith("cmi__core__") or re.search(r"[A-Za-z]_\d+(?:__|$)", n) for n in names):
        return "scorm12"
    if any(re.search(r"__\d+__", n) or n.startswith(_SCORM2004_ONLY) for n in names):
        return "scorm2004"
    return ""


_SCORM2004_ONLY = (
    "cmi__location",
    "cmi__completion_status",
    "cmi__success_status",
    "cmi__score__scaled",
    "cmi__progress_measure",
    "cmi__session_time",
    "cmi__total_time",
    "cmi__exit",
)


def parse_moodle_body(body: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split a datamodel.php body into (context params, {SetValue key: value})."""
    params: dict[str, str] = {}
    values: dict[str, str] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        if name in MOODLE_CONTEXT_PARAMS:
            params[name] = value
        elif name.startswith("cmi"):
            values[moodle_key(name)] = value
    return params, values


class MoodleScormAdapter:
    """Replays SCORM elements to Moodle's ``/mod/scorm/datamodel.php`` (and the demo site)."""

    name = "moodle-scorm"

    def matches(self, url: str) -> bool:
        return urlsplit(url).path.endswith(MOODLE_DATAMODEL_PATH)

    def build_request(
        self, entries: Sequence[Entry], context: SaveContext, cookies: Mapping[str, str]
    ) -> ReplayRequest:
        params = [(name, context.params.get(name, "")) for name in MOODLE_CONTEXT_PARAMS]
        api = context.api or "scorm2004"
        fields = [(moodle_element_name(e.key, e.source or api), e.value) for e in entries]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": context.page_url,
            "Origin": context.origin,
        }
        body = urlencode(params + fields).encode("utf-8")
        return ReplayRequest(
            "POST", context.endpoint, headers, body, entry_ids=tuple(e.id for e in entries)
        )

    def is_ack(self, response: ReplayResponse, request: ReplayRequest) -> Ack:
        if response.status != 200:
            return Ack(False, f"the server answered HTTP {response.status}")
        lines = response.text.replace("\r\n", "\n").split("\n")
        if lines[0].strip() == "true":
            return Ack(True)
        if lines[0].strip() == "false":
            code = lines[1].strip() if len(lines) > 1 else "?"
            return Ack(False, f"Moodle refused the save (error {code})")
        return Ack(False, "Moodle did not confirm the save (session expired or not logged in?)")


# -- Numbas LTI provider ----------------------------------------------------------------------
def numbas_attempt_id(pk: str) -> str:
    return f"numbas-lti:{pk}"


def numbas_fallback_url(page_url: str) -> str | None:
    """The provider's HTTP fallback endpoint for an attempt page ``.../run_attempt/<pk>``."""
    parts = urlsplit(page_url)
    match = NUMBAS_RUN_RE.match(parts.path)
    if not match:
        return None
    return urljoin(page_url, f"{match['prefix']}/attempt/{match['pk']}/scorm_data_fallback")


def iso_time(seconds: float) -> str:
    """JavaScript ``Date.toISOString()`` form (millisecond precision, ``Z``)."""
    moment = datetime.datetime.fromtimestamp(round(seconds, 3), tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NumbasLtiAdapter:
    """Replays SCORM elements through the Numbas LTI provider's HTTP fallback."""

    name = "numbas-lti"

    def matches(self, url: str) -> bool:
        return bool(NUMBAS_FALLBACK_RE.match(urlsplit(url).path))

    def build_request(
        self, entries: Sequence[Entry], context: SaveContext, cookies: Mapping[str, str]
    ) -> ReplayRequest:
        batch_id = f"lockdown-{entries[0].id}-{entries[-1].id}" if entries else "lockdown-empty"
        items = []
        for entry in entries:
            extras = entry.extras()
            items.append(
                {
                    "key": entry.key,
                    "value": entry.value,
                    "time": entry.client_time,
                    "time_iso": str(extras.get("time_iso") or iso_time(entry.client_time)),
                    "counter": entry.counter,
                }
            )
        body = json.dumps({"batches": {batch_id: items}, "complete": False}).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": cookies.get("csrftoken", ""),
            "Referer": context.page_url,
            "Origin": context.origin,
        }
        return ReplayRequest(
            "POST", context.endpoint, headers, body, batch_id, tuple(e.id for e in entries)
        )

    def is_ack(self, response: ReplayResponse, request: ReplayRequest) -> Ack:
        if response.status != 200:
            return Ack(False, f"the server answered HTTP {response.status}")
        try:
            answer = json.loads(response.text)
        except ValueError:
            return Ack(False, "the Numbas server's answer was not JSON (logged out?)")
        received = answer.get("received_batches") if isinstance(answer, dict) else None
        if not isinstance(received, list) or request.batch_id not in [str(x) for x in received]:
            return Ack(False, "the Numbas server did not confirm the batch")
        unsaved = answer.get("unsaved_elements") or []
        if not unsaved:
            return Ack(True)
        sent = json.loads(request.body)["batches"][request.batch_id]
        bad = {
            entry_id
            for entry_id, item in zip(request.entry_ids, sent, strict=True)
            if any(_same_item(item, u) for u in unsaved if isinstance(u, dict))
        }
        return Ack(True, f"the Numbas server could not store {len(bad)} element(s)", frozenset(bad))


def _same_item(sent: Mapping[str, object], unsaved: Mapping[str, object]) -> bool:
    return all(sent.get(name) == unsaved.get(name) for name in ("key", "value", "counter"))


# -- registry ---------------------------------------------------------------------------------
BUILTIN_ADAPTERS: dict[str, ReplayAdapter] = {
    MoodleScormAdapter.name: MoodleScormAdapter(),
    NumbasLtiAdapter.name: NumbasLtiAdapter(),
}
#: Adapter names on by default (policy may narrow this list).
DEFAULT_ADAPTER_NAMES = ("moodle-scorm", "numbas-lti")


def adapters_by_name(names: Sequence[str] = DEFAULT_ADAPTER_NAMES) -> tuple[ReplayAdapter, ...]:
    """The adapters a policy enables; unknown names raise ``KeyError`` with the valid ones."""
    unknown = [n for n in names if n not in BUILTIN_ADAPTERS]
    if unknown:
        valid = ", ".join(sorted(BUILTIN_ADAPTERS))
        raise KeyError(f"unknown journal replay adapter(s) {', '.join(unknown)}; known: {valid}")
    return tuple(BUILTIN_ADAPTERS[n] for n in names)


def adapter_for(url: str, adapters: Sequence[ReplayAdapter]) -> ReplayAdapter | None:
    """The first adapter whose save endpoint pattern matches ``url``."""
    return next((a for a in adapters if a.matches(url)), None)


def same_origin(url: str, origin: str) -> bool:
    """Endpoints must be on the page's origin: cookies are never replayed anywhere else."""
    return bool(origin) and origin_of(url) == origin
