"""The WebEngine profile: persistent per OS user, one request interceptor, our user agent.

Qt 6's default profile is off-the-record (nothing survives a restart), so the app uses a named
persistent profile. The profile does not own the interceptor or scheme handler: we keep Python
references on the :class:`ExamProfile` so they live exactly as long as the profile. Where it is
built, the C++ fast path (:mod:`lockdown.ui.fastpath`) stands in front of the interceptor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtWebEngineCore import (
    QWebEngineProfile,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)

from lockdown import __version__, log
from lockdown.policy.decide import Decider, Decision, Kind
from lockdown.ui.fastpath import native
from lockdown.ui.internal_pages import SCHEME, InternalPages

#: Extra headers for a request URL (SEB config-key hashes, Numbas Authorization), by feature.
HeaderProvider = Callable[[str], dict[str, str]]
#: Acts on an allowed request (url as given to header providers) before headers are added;
#: returns True when it redirected the request, which then needs no headers.
RequestHook = Callable[[QWebEngineUrlRequestInfo, str, Kind], bool]

_RT = QWebEngineUrlRequestInfo.ResourceType
#: Looked up once: the interceptor runs for every request, and enum attribute lookups add up.
_KINDS = {
    _RT.ResourceTypeMainFrame: Kind.MAIN_FRAME,
    _RT.ResourceTypeNavigationPreloadMainFrame: Kind.MAIN_FRAME,
    _RT.ResourceTypeSubFrame: Kind.SUB_FRAME,
    _RT.ResourceTypeNavigationPreloadSubFrame: Kind.SUB_FRAME,
    _RT.ResourceTypeWebSocket: Kind.WEBSOCKET,
}
#: Unbound, looked up once: every request of every page comes through the interceptor, and
#: inside a page load its cost is mostly the calls into the binding (a method lookup on a Qt
#: wrapper, an enum argument), each several times slower than outside one (cold caches). The
#: body averaged ~50 us a request with ``requestUrl().toString(FullyEncoded)`` and a decider
#: method, ~34 us as written here; reading the URL alone takes ~29 us.
_request_url = QWebEngineUrlRequestInfo.requestUrl
#: ``toEncoded()`` is Qt's ``toString(FullyEncoded)`` as Latin-1 bytes (the form Chromium sends,
#: ASCII only); read through the buffer protocol it needs no second call into the binding.
_to_encoded = QUrl.toEncoded


def request_kind(resource_type: QWebEngineUrlRequestInfo.ResourceType) -> Kind:
    return _KINDS.get(resource_type, Kind.SUBRESOURCE)


class PolicyInterceptor(QWebEngineUrlRequestInterceptor):
    """Sees every network request and redirect hop of every page of the profile.

    Qt 6 calls ``interceptRequest`` on the UI thread, so emitting signals from here is safe.
    """

    def __init__(self, decider: Decider, notifier: InterceptorSignals) -> None:
        super().__init__()
        self._decider = decider
        self._signals = notifier
        self.header_providers: list[HeaderProvider] = []
        self.request_hooks: list[RequestHook] = []
        #: The C++ interceptor in front of this one, when it is built (lockdown.ui.fastpath).
        self.fast_path: native.FastPath | None = None
        self._published: tuple[str, ...] | None = None

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        # QByteArray has the buffer protocol; PySide's stubs do not say so.
        url = str(_to_encoded(_request_url(info)), "latin-1")  # type: ignore[call-overload]
        # Most requests of an exam page go to an origin already allowed for every kind of
        # request: then nothing more is asked, of the engine or the decider (see Decider).
        handled = (not url.startswith(self._decider.any_kind_prefixes) or self.request_hooks) and (
            self._decide(info, url))
        if self.fast_path is not None:
            self.publish_prefixes()
        if handled:
            return
        for provider in self.header_providers:
            for name, value in provider(url).items():
                info.setHttpHeader(name.encode("latin-1"), value.encode("latin-1"))

    def _decide(self, info: QWebEngineUrlRequestInfo, url: str) -> bool:
        """The full decision; True when the request is dealt with (blocked, or by a hook)."""
        kind = request_kind(info.resourceType())
        decision = self._decider.request(url, kind=kind)
        if not decision.allowed:
            info.block(True)
            log.event("request.blocked", f"blocked {kind.value}", level=30, url=decision.url,
                      reason=decision.reason, rule=decision.rule,
                      first_party=info.firstPartyUrl().toString())
            self._signals.blocked.emit(decision)
            return True
        return any(hook(info, url, kind) for hook in self.request_hooks)

    def publish_prefixes(self) -> None:
        """Hands the fast path the origins it may let through alone: the decider's (it learns
        them from the requests that come here first), and none while a hook or header provider
        must see every request."""
        if self.fast_path is None:
            return
        prefixes = (() if self.request_hooks or self.header_providers
                    else self._decider.any_kind_prefixes)
        if prefixes is not self._published:
            self.fast_path.set_prefixes(prefixes)
            self._published = prefixes


class InterceptorSignals(QObject):
    """Qt signals need a QObject; the interceptor itself is not one we can add signals to."""

    blocked = Signal(Decision)


def default_user_agent(profile: QWebEngineProfile, *, override: str, suffix: str) -> str:
    if override:
        return override
    agent = f"{profile.httpUserAgent()} lockdown/{__version__}"
    return f"{agent} {suffix}".rstrip()


class ExamProfile:
    """Owns the QWebEngineProfile and everything it references."""

    def __init__(self, name: str, storage: Path, decider: Decider, *, home: str,
                 fast_path: bool = True) -> None:
        policy = decider.policy
        self.profile = QWebEngineProfile(name)
        self.profile.setPersistentStoragePath(str(storage))
        # Exam pages are never written to a disk cache: on a shared cluster PC nothing of an exam
        # should outlive the session but cookies and storage (and it starts ~10 ms sooner).
        self.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.MemoryHttpCache)
        self.profile.setPersistentCookiesPolicy(
            QWebEngineProfile.PersistentCookiesPolicy.ForcePersistentCookies
        )
        #: Chromium's own agent, before ours replaced it (SEB mode builds on it).
        self.engine_user_agent = self.profile.httpUserAgent()
        self.profile.setHttpUserAgent(
            default_user_agent(self.profile, override=policy.user_agent,
                               suffix=policy.user_agent_suffix)
        )
        self.profile.setSpellCheckEnabled(policy.spell_check)
        self.signals = InterceptorSignals()
        self.interceptor = PolicyInterceptor(decider, self.signals)
        self.interceptor.fast_path = native.attach(self.interceptor) if fast_path else None
        self.profile.setUrlRequestInterceptor(
            self.interceptor.fast_path.interceptor if self.interceptor.fast_path
            else self.interceptor)
        self.internal_pages = InternalPages(home)
        self.profile.installUrlSchemeHandler(SCHEME, self.internal_pages)

    def add_header_provider(self, provider: HeaderProvider) -> None:
        self.interceptor.header_providers.append(provider)
        self.interceptor.publish_prefixes()

    def add_request_hook(self, hook: RequestHook) -> None:
        self.interceptor.request_hooks.append(hook)
        self.interceptor.publish_prefixes()
