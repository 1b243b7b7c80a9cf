"""The decision choke point: default deny, block before allow, IdP only during a login."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockdown.policy.decide import Decider, Kind
from lockdown.policy.rules import UrlRule
from lockdown.policy.settings import Policy
from lockdown.policy.urls import UrlError, parse_url

MOODLE = "https://moodle.example.ac.uk"
IDP = "https://login.idp.example.net"

BASE = Policy(
    start_url=f"{MOODLE}/my/",
    idp_hosts=("login.idp.example.net",),
    downloads_allowed_on=(f"{MOODLE}/staff/*",),
    uploads_allowed_on=(f"{MOODLE}/staff/*",),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def active(d: Decider) -> bool:
    return d.login_active


def decider(policy: Policy = BASE, clock: Clock | None = None) -> Decider:
    return Decider(policy, clock or Clock())


@pytest.mark.parametrize(
    "url",
    [
        f"{MOODLE}/course/view.php?id=2",
        f"{MOODLE}/mod/scorm/player.php?a=1&scoid=1",
        "HTTPS://MOODLE.EXAMPLE.AC.UK./my/",
        "https://moodle.example.ac.uk:443/",
    ],
)
def test_exam_host_allowed(url: str) -> None:
    assert decider().navigation(url, main_frame=True).allowed


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://moodle.example.ac.uk@evil.test/", "userinfo"),
        ("https://moodle.example.ac.uk.evil.test/", "default-deny"),
        ("https://evilmoodle.example.ac.uk/", "default-deny"),
        ("https://user:pw@moodle.example.ac.uk/", "userinfo"),
        ("http://moodle.example.ac.uk/", "default-deny"),
        ("https://moodle.example.ac.uk:8443/", "default-deny"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,<h1>x</h1>", "scheme"),
        ("view-source:https://moodle.example.ac.uk/", "scheme"),
        ("chrome://gpu", "scheme"),
        ("devtools://devtools/bundled/inspector.html", "scheme"),
        ("ftp://moodle.example.ac.uk/", "scheme"),
        (f"{IDP}/oauth2/authorize", "idp_hosts"),
        ("not a url", "malformed-url"),
    ],
)
def test_hostile_navigations_blocked(url: str, rule: str) -> None:
    decision = decider().navigation(url, main_frame=True)
    assert not decision.allowed
    assert decision.rule == rule
    assert decision.reason


def test_idp_only_during_login_flow() -> None:
    clock = Clock()
    d = decider(clock=clock)
    assert not d.request(f"{IDP}/authorize", kind=Kind.MAIN_FRAME).allowed
    assert d.navigation(f"{MOODLE}/login/index.php", main_frame=True).allowed
    assert active(d)
    assert d.navigation(f"{IDP}/authorize?x=1", main_frame=True).allowed
    assert d.request(f"{IDP}/static/login.css").allowed
    assert d.navigation(f"{MOODLE}/login/acs.php", main_frame=True).allowed
    assert active(d)  # still on the login path: the ACS
    assert d.navigation(f"{MOODLE}/my/", main_frame=True).allowed
    assert not active(d)  # returned to the exam host: flow over
    assert not d.navigation(f"{IDP}/authorize", main_frame=True).allowed


def test_login_flow_times_out() -> None:
    clock = Clock()
    d = decider(clock=clock)
    d.navigation(f"{MOODLE}/login/index.php", main_frame=True)
    clock.now += BASE.login_timeout_s + 1
    decision = d.navigation(f"{IDP}/authorize", main_frame=True)
    assert not decision.allowed
    assert "only reachable while logging in" in decision.reason


def test_frame_navigation_does_not_start_login() -> None:
    d = decider()
    d.navigation(f"{MOODLE}/login/index.php", main_frame=False)
    assert not active(d)


def test_block_rules_win_over_allowed_host() -> None:
    policy = dataclasses.replace(BASE, url_rules=(
        UrlRule(action="block", expression="moodle.example.ac.uk/admin/*"),
    ))
    d = decider(policy)
    blocked = d.navigation(f"{MOODLE}/admin/settings.php", main_frame=True)
    assert not blocked.allowed
    assert blocked.rule == "url_rules[0]"
    assert d.navigation(f"{MOODLE}/course/", main_frame=True).allowed


def test_allow_rule_adds_a_host() -> None:
    policy = dataclasses.replace(BASE, url_rules=(
        UrlRule(action="allow", expression="cdn.example.ac.uk"),
    ))
    assert decider(policy).request("https://static.cdn.example.ac.uk/x.js").allowed
    assert not decider(BASE).request("https://static.cdn.example.ac.uk/x.js").allowed


def test_disabled_filter_ignores_rules() -> None:
    policy = dataclasses.replace(BASE, url_filter_enabled=False, url_rules=(
        UrlRule(action="allow", expression="cdn.example.ac.uk"),
    ))
    assert not decider(policy).request("https://cdn.example.ac.uk/x.js").allowed


def test_host_port_entries() -> None:
    policy = Policy(start_url="http://127.0.0.1:8000/", allowed_hosts=("127.0.0.1:9000",))
    d = decider(policy)
    assert d.request("http://127.0.0.1:8000/a").allowed
    assert d.request("http://127.0.0.1:9000/a").allowed
    assert not d.request("http://127.0.0.1:9001/a").allowed
    assert not d.request("http://localhost:8000/a").allowed
    assert not d.request("http://127.0.0.2:8000/a").allowed


def test_subresources_data_yes_navigation_no() -> None:
    d = decider()
    assert d.request("data:image/png;base64,iVBORw0KGgo=").allowed
    assert not d.navigation("data:text/html,hi", main_frame=False).allowed
    assert d.navigation("about:blank", main_frame=False).allowed
    assert not d.navigation("about:blank", main_frame=True).allowed


def test_blob_follows_its_origin() -> None:
    d = decider()
    assert d.request(f"blob:{MOODLE}/3b7c-11").allowed
    assert not d.request("blob:https://evil.test/3b7c-11").allowed
    assert not d.navigation(f"blob:{MOODLE}/3b7c-11", main_frame=True).allowed


def test_websockets_only_to_allowed_hosts() -> None:
    d = decider()
    assert d.request("wss://moodle.example.ac.uk/ws", kind=Kind.WEBSOCKET).allowed
    assert not d.request("wss://evil.test/ws", kind=Kind.WEBSOCKET).allowed


def test_downloads_and_uploads_only_on_staff_pages() -> None:
    d = decider()
    assert d.download(f"{MOODLE}/staff/index.php", f"{MOODLE}/staff/scores.csv").allowed
    assert not d.download(f"{MOODLE}/mod/scorm/player.php", f"{MOODLE}/staff/scores.csv").allowed
    assert not d.download(f"{MOODLE}/staff/index.php", "https://evil.test/x.csv").allowed
    assert d.upload(f"{MOODLE}/staff/index.php").allowed
    assert not d.upload(f"{MOODLE}/mod/quiz/attempt.php").allowed


def test_popups_policy() -> None:
    assert not decider(dataclasses.replace(BASE, popups="block")).popup(f"{MOODLE}/x").allowed
    assert decider().popup(f"{MOODLE}/x").allowed
    assert not decider().popup("https://evil.test/").allowed


def test_permissions_always_denied_and_print_per_policy() -> None:
    d = decider()
    assert not d.permission(MOODLE, "MediaAudioCapture").allowed
    assert not d.print_page(f"{MOODLE}/x").allowed
    assert decider(dataclasses.replace(BASE, allow_print=True)).print_page(f"{MOODLE}/x").allowed


def test_quit_url() -> None:
    d = decider(dataclasses.replace(BASE, quit_url=f"{MOODLE}/quit.php"))
    assert d.is_quit_url(f"{MOODLE}/quit.php#done")
    assert not d.is_quit_url(f"{MOODLE}/quit.php?x=1")
    assert not decider().is_quit_url(f"{MOODLE}/quit.php")


def test_internal_pages_only_main_frame() -> None:
    d = decider()
    assert d.navigation("lockdown:blocked?url=x", main_frame=True).allowed
    assert not d.navigation("lockdown:blocked?url=x", main_frame=False).allowed


# ----------------------------------------------------------------------- the per-origin memo

MEMO_POLICIES = [
    BASE,
    dataclasses.replace(BASE, allowed_hosts=("cdn.example.ac.uk", "127.0.0.1:8080")),
    dataclasses.replace(BASE, url_rules=(UrlRule("block", "moodle.example.ac.uk/admin/*"),)),
]
MEMO_URLS = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https", "ws", "wss"]),
    st.sampled_from(["moodle.example.ac.uk", "cdn.example.ac.uk", "127.0.0.1", "evil.test",
                     "login.idp.example.net", "moodle.example.ac.uk.evil.test", "0x7f.1"]),
    st.sampled_from(["", ":443", ":8080", ":80"]),
    st.sampled_from(["/", "/my/", "/admin/x", "/mod/quiz/a.php?id=3", "/login/index.php", ""]),
)


def allowed_for_every_kind(d: Decider, url: str) -> bool:
    """The interceptor's fast test (ui/profile.py), on the decider's remembered prefixes."""
    return url.startswith(d.any_kind_prefixes)


@settings(derandomize=True, database=None, deadline=None, max_examples=300)
@given(st.sampled_from(MEMO_POLICIES),
       st.lists(st.tuples(MEMO_URLS, st.sampled_from(list(Kind)[:4])), min_size=1, max_size=12),
       st.booleans())
def test_remembered_origins_give_the_verdict_a_fresh_decision_gives(
        policy: Policy, requests: list[tuple[str, Kind]], login: bool) -> None:
    """The memo must never change a verdict: same allow/block (and rule family) as a decider
    that has seen nothing, whatever came before, in and out of a login."""
    remembering = decider(policy)
    if login:
        remembering.navigation(f"{MOODLE}/login/index.php", main_frame=True)
    for url, kind in requests:
        fresh = decider(policy)
        if login:
            fresh.navigation(f"{MOODLE}/login/index.php", main_frame=True)
        got, want = remembering.request(url, kind=kind), fresh.request(url, kind=kind)
        assert got.allowed == want.allowed, (url, kind, got, want)
        assert got.kind is want.kind
        if not want.allowed:
            assert got == want  # blocks are decided in full, with their own URL and reason
        if allowed_for_every_kind(remembering, url):  # then the interceptor asks nothing more
            assert all(fresh.request(url, kind=k).allowed for k in list(Kind)[:4]), url


@settings(derandomize=True, database=None, deadline=None, max_examples=500)
@given(st.text(max_size=40), st.sampled_from(["", "/", "/x", ":443/", "@evil.test/"]))
def test_only_an_allowed_origin_followed_by_a_path_is_allowed_for_every_kind(
        text: str, prefix: str) -> None:
    """Whatever follows a remembered origin, the fast check says yes only when the URL's host is
    that origin's: user info, ports, longer host names and missing paths all fall through to
    the full decision."""
    remembering = decider()
    assert remembering.request(f"{MOODLE}/", kind=Kind.SUBRESOURCE).allowed
    url = MOODLE + prefix + text
    if not allowed_for_every_kind(remembering, url):
        return
    assert (prefix + text).startswith("/")
    try:
        parsed = parse_url(url)
    except UrlError:
        return  # not a URL Chromium would hand the interceptor (it only sends canonical ones)
    allowed = parse_url(f"{MOODLE}/")
    assert (parsed.scheme, parsed.host, parsed.port) == (allowed.scheme, allowed.host,
                                                         allowed.port)
    assert all(decider().request(url, kind=k).allowed for k in list(Kind)[:4]), url


def test_websocket_origins_and_blocks_are_never_allowed_for_every_kind() -> None:
    d = decider()
    assert d.request("wss://moodle.example.ac.uk/socket", kind=Kind.WEBSOCKET).allowed
    assert not allowed_for_every_kind(d, "wss://moodle.example.ac.uk/socket")  # not http(s)
    assert not d.request("https://evil.test/x").allowed
    assert not allowed_for_every_kind(d, "https://evil.test/x")
    assert d.request(f"{MOODLE}/a.css").allowed
    for near in (f"{MOODLE}t/", f"{MOODLE}", f"{MOODLE}.evil.test/", f"{MOODLE}@evil.test/",
                 f"{MOODLE}:443/", "http://moodle.example.ac.uk/", f"{MOODLE.upper()}/"):
        assert not allowed_for_every_kind(d, near), near
    assert allowed_for_every_kind(d, f"{MOODLE}/mod/quiz/attempt.php?id=3")


def test_hosts_are_remembered_only_without_url_rules() -> None:
    plain = decider()
    for n in range(3):
        assert plain.request(f"{MOODLE}/theme/{n}.css").allowed
    assert list(plain._allowed_origins or {}) == [(MOODLE, Kind.SUBRESOURCE)]
    assert plain.request(f"{MOODLE}/a.js", kind=Kind.SUB_FRAME).allowed
    assert plain.any_kind_prefixes == (f"{MOODLE}/",)  # once, whatever the kinds seen
    assert plain.request(f"{MOODLE}/theme/x.css").url == MOODLE  # a remembered verdict
    ruled = decider(MEMO_POLICIES[2])
    assert ruled.request(f"{MOODLE}/theme/a.css").allowed
    assert not ruled.request(f"{MOODLE}/admin/x").allowed  # a path rule: nothing remembered
    assert ruled._allowed_origins is None


def test_remembered_prefixes_are_bounded_like_the_memo() -> None:
    """Every port of an allowed host is its own origin: a page that walks through ports must
    not grow the interceptor's per-request test without bound."""
    d = decider(dataclasses.replace(BASE, allowed_hosts=("moodle.example.ac.uk",)))
    for port in range(1000, 1300):
        assert d.request(f"https://moodle.example.ac.uk:{port}/x").allowed
        assert f"https://moodle.example.ac.uk:{port}/" in d.any_kind_prefixes
    assert len(d.any_kind_prefixes) <= len(d._allowed_origins or {}) <= 256
