"""The one choke point: every navigation, request, popup, download, upload, permission and print.

The UI asks, this module answers with a :class:`Decision` saying allow or block, why, and which rule
fired. Anything not explicitly allowed is blocked (default deny). The only state is the login flow:
identity-provider hosts are reachable only between a navigation to the exam host's login path and
the flow's return to the exam host (or a time limit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from lockdown.policy.rules import RuleError, UrlRule, match_rules, rule_for_url
from lockdown.policy.settings import Policy
from lockdown.policy.urls import Url, UrlError, blob_inner, canonical_origin, parse_url

NETWORK_SCHEMES = frozenset({"http", "https"})
SOCKET_SCHEMES = frozenset({"ws", "wss"})
#: Schemes a frame may show without touching the network (empty frames, srcdoc iframes).
LOCAL_FRAME_URLS = frozenset({"about:blank", "about:srcdoc"})
#: The app's own pages (blocked page, environment check) are served under this scheme.
INTERNAL_SCHEME = "lockdown"


class Kind(Enum):
    """What the engine wants to do; decisions differ (e.g. data: images yes, data: pages no)."""

    MAIN_FRAME = "main-frame navigation"
    SUB_FRAME = "frame navigation"
    SUBRESOURCE = "sub-resource"
    WEBSOCKET = "websocket"
    POPUP = "popup"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    PERMISSION = "permission"
    PRINT = "print"


@dataclass(frozen=True)
class Decision:
    """A verdict with its reason and the rule that fired, for the blocked page and the log."""

    allowed: bool
    kind: Kind
    url: str
    reason: str
    rule: str

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "block"


@dataclass(frozen=True)
class HostEntry:
    """An ``allowed_hosts``/``idp_hosts`` entry, parsed once: 'host' allows the host on any
    port, 'host:port' only that port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> HostEntry | None:
        try:
            probe = parse_url(f"http://{entry}/")
        except UrlError:
            return None
        has_port = entry.rsplit("]", 1)[-1].count(":") == 1
        return cls(probe.host, probe.port if has_port else None)

    def matches(self, url: Url) -> bool:
        return self.host == url.host and (self.port is None or self.port == url.port)


#: Allow verdicts that hold for every path of the origin when there are no URL rules.
_ORIGIN_WIDE_RULES = frozenset({"allowed_hosts", "start-url"})
_MAX_ALLOWED_ORIGINS = 256


def _entries(raw: tuple[str, ...]) -> tuple[HostEntry, ...]:
    return tuple(e for e in map(HostEntry.parse, raw) if e is not None)


class Decider:
    """Answers policy questions for one session; thread-safe (the interceptor may call from IO)."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._login_started: float | None = None
        self._start: Url | None = parse_url(policy.start_url) if policy.start_url else None
        self._start_rule: UrlRule | None = rule_for_url(self._start) if self._start else None
        self._rules = policy.url_rules if policy.url_filter_enabled else ()
        start_entry = (HostEntry(self._start.host, self._start.port),) if self._start else ()
        self._exam_hosts = start_entry + _entries(policy.allowed_hosts)
        self._idp_hosts = _entries(policy.idp_hosts)
        self._downloads = self._patterns(policy.downloads_allowed_on)
        self._uploads = self._patterns(policy.uploads_allowed_on)
        #: (origin, kind) -> the allow verdict of a request there, when it cannot depend on the
        #: path: without URL rules, an exam host (or the start URL's site, itself an exam host)
        #: is allowed whatever the path. Never for IdP hosts (login state) or blocks (logged
        #: with their own URL). The interceptor asks for hundreds of sub-resources per page, so
        #: the remembered Decision itself is returned (its ``url`` is the origin).
        self._allowed_origins: dict[tuple[str, Kind], Decision] | None = (
            {} if not self._rules else None)
        #: ``origin + "/"`` for the http(s) origins among those. A URL that starts with one is
        #: allowed by :meth:`request` whatever its kind (a network scheme passes every kind's
        #: scheme check, and nothing else in the verdict depends on the kind), so for most
        #: requests the interceptor tests ``url.startswith(any_kind_prefixes)`` and asks neither
        #: the engine for the resource type nor this object anything (inside a page load, a
        #: method doing the same test cost ~9 us a request, this string method ~2 us).
        #: Comparing text is enough: the origins are canonical, and a URL that starts with one
        #: has that host (no user info, port or odd character fits before the ``/``). The
        #: path is not checked: Chromium hands the interceptor canonical URLs only, and without
        #: URL rules no path changes an exam host's verdict. Replaced, never changed in place,
        #: so another thread reading it sees a whole tuple.
        self.any_kind_prefixes: tuple[str, ...] = ()

    @staticmethod
    def _patterns(expressions: tuple[str, ...]) -> tuple[UrlRule, ...]:
        return tuple(UrlRule(action="allow", expression=e) for e in expressions)

    # -- login flow -------------------------------------------------------------------------
    @property
    def login_active(self) -> bool:
        with self._lock:
            return self._login_active_locked()

    def _login_active_locked(self) -> bool:
        if self._login_started is None:
            return False
        if self._clock() - self._login_started > self.policy.login_timeout_s:
            self._login_started = None
            return False
        return True

    def _is_exam_host(self, url: Url) -> bool:
        return any(entry.matches(url) for entry in self._exam_hosts)

    def _is_idp_host(self, url: Url) -> bool:
        return any(entry.matches(url) for entry in self._idp_hosts)

    def _is_login_path(self, url: Url) -> bool:
        paths = self.policy.login_paths
        return self._is_exam_host(url) and any(url.path.startswith(p) for p in paths)

    def _track_login(self, url: Url) -> None:
        """Main-frame navigations drive the login flow: login path starts, return to exam ends."""
        with self._lock:
            if self._is_login_path(url):
                self._login_started = self._clock()
            elif self._is_exam_host(url) and self._login_started is not None:
                self._login_started = None

    # -- decisions --------------------------------------------------------------------------
    def navigation(self, raw_url: str, *, main_frame: bool) -> Decision:
        """A frame navigation (link, redirect hop, form post, script, meta refresh)."""
        kind = Kind.MAIN_FRAME if main_frame else Kind.SUB_FRAME
        if not main_frame and raw_url in LOCAL_FRAME_URLS:
            return Decision(True, kind, raw_url, "an empty or inline frame", "local-frame")
        decision = self._network(raw_url, kind)
        if decision.allowed and main_frame:
            self._track_login(parse_url(raw_url))
        return decision

    def request(self, raw_url: str, *, kind: Kind = Kind.SUBRESOURCE) -> Decision:
        """A network request seen by the profile interceptor (every request and redirect hop)."""
        memo = self._allowed_origins
        origin = canonical_origin(raw_url) if memo is not None else None
        if memo is None or origin is None:
            return self._network(raw_url, kind)
        known = memo.get((origin, kind))
        if known is not None:
            return known
        decision = self._network(raw_url, kind)
        if decision.allowed and decision.rule in _ORIGIN_WIDE_RULES:
            if len(memo) >= _MAX_ALLOWED_ORIGINS:
                memo.clear()
                self.any_kind_prefixes = ()
            memo[(origin, kind)] = Decision(True, kind, origin, "an allowed host", "allowed_hosts")
            prefix = origin + "/"
            if origin.startswith(("http://", "https://")) and prefix not in self.any_kind_prefixes:
                self.any_kind_prefixes += (prefix,)
        return decision

    def popup(self, raw_url: str) -> Decision:
        if self.policy.popups == "block":
            return Decision(False, Kind.POPUP, raw_url, "new windows are blocked by policy",
                            "popups=block")
        return self._network(raw_url, Kind.POPUP)

    def download(self, page_url: str, download_url: str) -> Decision:
        return self._page_permission(page_url, download_url, Kind.DOWNLOAD, self._downloads,
                                     "downloads_allowed_on")

    def upload(self, page_url: str) -> Decision:
        return self._page_permission(page_url, page_url, Kind.UPLOAD, self._uploads,
                                     "uploads_allowed_on")

    def permission(self, origin: str, feature: str) -> Decision:
        return Decision(False, Kind.PERMISSION, origin,
                        f"pages may not use {feature} during an exam", "permissions-denied")

    def print_page(self, page_url: str) -> Decision:
        if self.policy.for_url(page_url).allow_print:
            return Decision(True, Kind.PRINT, page_url, "printing allowed by policy", "allow_print")
        return Decision(False, Kind.PRINT, page_url, "printing is not allowed", "allow_print")

    def is_quit_url(self, raw_url: str) -> bool:
        if not self.policy.quit_url:
            return False
        try:
            return parse_url(raw_url).without_fragment() == parse_url(
                self.policy.quit_url).without_fragment()
        except UrlError:
            return False

    def _page_permission(self, page_url: str, target: str, kind: Kind,
                         patterns: tuple[UrlRule, ...], setting: str) -> Decision:
        try:
            page = parse_url(page_url)
        except UrlError as exc:
            return Decision(False, kind, target, f"page URL is malformed: {exc}", "malformed-url")
        if not any(p.matches(page) for p in patterns):
            return Decision(False, kind, target, f"{kind.value}s are not allowed on this page",
                            setting)
        if target != page_url:
            network = self._network(target, kind)
            if not network.allowed:
                return network
        return Decision(True, kind, target, f"{kind.value} allowed on this page", setting)

    def _network(self, raw_url: str, kind: Kind) -> Decision:
        try:
            url = parse_url(raw_url)
        except UrlError as exc:
            return Decision(False, kind, raw_url, f"malformed URL: {exc}", "malformed-url")
        shown = str(url)
        if url.scheme == INTERNAL_SCHEME and kind is Kind.MAIN_FRAME:
            return Decision(True, kind, shown, "the app's own page", "internal-page")
        if url.scheme in ("data", "blob") and kind is Kind.SUBRESOURCE:
            return self._inline_resource(url, shown)
        allowed_schemes = NETWORK_SCHEMES | (SOCKET_SCHEMES if kind is Kind.WEBSOCKET else set())
        if kind is Kind.SUBRESOURCE:
            allowed_schemes = NETWORK_SCHEMES | SOCKET_SCHEMES
        if url.scheme not in allowed_schemes:
            return Decision(False, kind, shown, f"the {url.scheme}: scheme is not allowed",
                            "scheme")
        if url.username or url.password:
            return Decision(False, kind, shown, "URLs with user info (user@host) are not allowed",
                            "userinfo")
        try:
            match = match_rules(self._rules, url)
        except RuleError as exc:  # pragma: no cover - rules are validated at load
            return Decision(False, kind, shown, f"URL rule error: {exc}", "rule-error")
        if match is not None and match.rule.action == "block":
            return Decision(False, kind, shown, f"blocked by URL rule '{match.rule.expression}'",
                            f"url_rules[{match.index}]")
        if self._start_rule is not None and self._start_rule.matches(url):
            return Decision(True, kind, shown, "the start URL's site", "start-url")
        if self._is_exam_host(url):
            return Decision(True, kind, shown, "an allowed host", "allowed_hosts")
        if match is not None:
            return Decision(True, kind, shown, f"allowed by URL rule '{match.rule.expression}'",
                            f"url_rules[{match.index}]")
        if self._is_idp_host(url):
            if self.login_active:
                return Decision(True, kind, shown, "identity provider during a login", "idp_hosts")
            return Decision(False, kind, shown,
                            "the identity provider is only reachable while logging in", "idp_hosts")
        return Decision(False, kind, shown, f"{url.host} is not an allowed host", "default-deny")

    def _inline_resource(self, url: Url, shown: str) -> Decision:
        """data: sub-resources stay inside the page; blob: must come from an allowed origin."""
        if url.scheme == "data":
            return Decision(True, Kind.SUBRESOURCE, shown[:80], "inline data", "data-subresource")
        inner = blob_inner(url)
        if inner is None:
            return Decision(False, Kind.SUBRESOURCE, shown, "blob URL without an origin", "scheme")
        decision = self._network(str(inner), Kind.SUBRESOURCE)
        return Decision(decision.allowed, Kind.SUBRESOURCE, shown, decision.reason, decision.rule)
