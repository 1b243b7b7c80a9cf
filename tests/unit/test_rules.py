"""SEB URL filter rules: wildcard semantics, block-before-allow, regex rules, bad rules.

The wildcard tables follow what SEB for Windows' ``SimplifiedRule`` does (its unit tests were
the guide), restated for exam hosts, plus the cases where we deliberately canonicalise.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lockdown.policy.rules import RuleError, RuleMatch, UrlRule, match_rules, rule_for_url
from lockdown.policy.urls import parse_url

H = "example.ac.uk"


def fullwidth(text: str) -> str:
    """The fullwidth form of ASCII text, which UTS-46 maps back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# expression, URLs it must match, URLs it must not match
WILDCARD: list[tuple[str, list[str], list[str]]] = [
    # host: itself and every subdomain, never a look-alike
    (H, [f"https://{H}/", f"https://moodle.{H}/x", f"http://a.b.{H}:8080/p?q#f",
         "HTTPS://EXAMPLE.AC.UK./", f"wss://{H}/ws", f"https://user@{H}/"],
     [f"https://{H}.evil.test/", "https://evilexample.ac.uk/", f"https://evil.test/{H}",
      f"https://evil.test/?u={H}", f"https://{H}@evil.test/", "https://ac.uk/",
      f"https://evil.test\\@{H}/"]),
    # leading dot: exactly that host
    (f".{H}", [f"https://{H}/", f"https://{H}:8443/x", f"http://{H.upper()}./"],
     [f"https://moodle.{H}/", f"https://{H}.evil.test/"]),
    # a single alphanumeric label matches only itself (SEB)
    ("localhost", ["http://localhost/", "http://LOCALHOST:8080/x"],
     ["http://a.localhost/", "http://localhost.evil.test/", "http://localhost1/"]),
    # '*' inside the host
    ("moodle*", ["https://moodle.org/", "https://moodle-test.org/", f"https://www.moodle.{H}/",
                 "https://moodlexyz.org/"],
     ["https://moodl.org/", "https://evil.test/moodle", "https://moodle@evil.test/"]),
    (f"*.{H}", [f"https://moodle.{H}/", f"https://a.b.{H}/"],
     [f"https://{H}/", f"https://{H}.evil.test/", "https://evil.test/"]),
    (f"moodle.*.{H}", [f"https://moodle.a.{H}/", f"https://moodle.a.b.{H}/",
                       f"https://x.moodle.a.{H}/"],
     [f"https://moodle.{H}/", f"https://a.{H}/"]),
    ("moodle.example.*", [f"https://moodle.{H}/", "https://moodle.example.com/",
                          "https://x.moodle.example.org/"],
     ["https://moodle.example/", "https://example.com/moodle.example.x"]),
    ("*", [f"https://{H}/", "http://127.0.0.1:9/", "ftp://a/", "https://user:pw@[::1]/x?y#z"], []),
    # scheme
    (f"https://{H}", [f"https://{H}/x", f"HTTPS://moodle.{H}/"],
     [f"http://{H}/", f"wss://{H}/", "https://evil.test/"]),
    (f"*s://{H}", [f"https://{H}/", f"wss://{H}/", f"ws://{H}/"], [f"http://{H}/", f"ftp://{H}/"]),
    (f"ws*://{H}", [f"ws://{H}/", f"wss://{H}/"], [f"https://{H}/"]),
    # port: only that one; the scheme default counts
    (f"{H}:8443", [f"https://{H}:8443/", f"https://a.{H}:8443/x"],
     [f"https://{H}/", f"https://{H}:843/", f"https://{H}:18443/", f"http://{H}/"]),
    (f"{H}:443", [f"https://{H}/", f"https://{H}:443/", f"wss://{H}/"],
     [f"http://{H}/", f"https://{H}:8443/"]),
    (f"http://{H}:80", [f"http://{H}/", f"http://{H}:80/x"], [f"http://{H}:8080/"]),
    (f"{H}:*", [f"https://{H}/", f"http://{H}:1/", f"https://{H}:65535/"], ["https://evil.test/"]),
    ("*:8080", [f"http://{H}:8080/", "http://10.0.0.1:8080/"], [f"http://{H}/", "http://a:8081/"]),
    # path: exact, trailing slash optional, '*' for more
    (f"{H}/mod/quiz", [f"https://{H}/mod/quiz", f"https://{H}/mod/quiz/",
                       f"https://a.{H}/mod/quiz?x=1#f", f"https://{H}/MOD/Quiz",
                       f"https://{H}/mod/%71uiz", f"https://{H}/mod/x/../quiz",
                       f"https://{H}\\mod\\quiz"],
     [f"https://{H}/", f"https://{H}/mod", f"https://{H}/mod/quiz/attempt.php",
      f"https://{H}/mod/quizzes", f"https://{H}/other/mod/quiz",
      f"https://{H}/mod/quiz%2fattempt.php", f"https://{H}/mod/quiz//"]),
    (f"{H}/mod/quiz/", [f"https://{H}/mod/quiz", f"https://{H}/mod/quiz/"],
     [f"https://{H}/mod/quiz/x"]),
    (f"{H}/mod/quiz/*", [f"https://{H}/mod/quiz/", f"https://{H}/mod/quiz/attempt.php",
                         f"https://{H}/mod/quiz/a/b/"],
     [f"https://{H}/mod/quizzes", f"https://{H}/mod/", f"https://{H}/mod/quiz"]),
    (f"{H}/", [f"https://{H}/", f"https://{H}/any/path?q"], ["https://evil.test/"]),
    (f"{H}/*/view.php", [f"https://{H}/mod/view.php", f"https://{H}/a/b/view.php",
                         f"https://{H}//view.php"],
     [f"https://{H}/view.php", f"https://{H}/mod/view.php.evil"]),
    ("*/mod/quiz", [f"https://{H}/mod/quiz", "https://evil.test/mod/quiz"],
     [f"https://{H}/mod/quiz/x"]),
    (f"{H}/a b/é", [f"https://{H}/a%20b/%C3%A9", f"https://{H}/a b/é"], [f"https://{H}/a/b"]),
    (f"{H}/%7Euser", [f"https://{H}/~user", f"https://{H}/%7euser"], [f"https://{H}/user"]),
    # query: in full; '*' inside; '.' means none
    (f"{H}?id=5", [f"https://{H}/?id=5", f"https://{H}/x/y?id=5#f", f"https://{H}?ID=5"],
     [f"https://{H}/?id=55", f"https://{H}/?id=5&x=1", f"https://{H}/", f"https://{H}/?",
      f"https://{H}/?x=1&id=5"]),
    (f"{H}?id=5*", [f"https://{H}/?id=5", f"https://{H}/?id=5&x=1", f"https://{H}/?id=55"],
     [f"https://{H}/?x=1&id=5"]),
    (f"{H}?*id=5", [f"https://{H}/?id=5", f"https://{H}/?x=1&id=5"],
     [f"https://{H}/?id=5&x=1", f"https://{H}/"]),
    (f"{H}?.", [f"https://{H}/x", f"https://{H}/x?", f"https://{H}/x#f"],
     [f"https://{H}/x?a", f"https://{H}/x?%20"]),
    (f"{H}/mod/quiz/view.php?id=5",
     [f"https://{H}/mod/quiz/view.php?id=5", f"http://{H}/mod/quiz/view.php/?id=5"],
     [f"https://{H}/mod/quiz/view.php?id=6", f"https://{H}/mod/quiz/view.php"]),
    (f"{H}?q=a b'", [f"https://{H}/?q=a%20b%27", f"https://{H}/?q=a b'"], [f"https://{H}/?q=ab"]),
    # fragment
    (f"{H}#top", [f"https://{H}/#top", f"https://{H}/x?y#TOP"],
     [f"https://{H}/", f"https://{H}/#", f"https://{H}/#topx"]),
    (f"{H}#top*", [f"https://{H}/#top", f"https://{H}/#top-2"], [f"https://{H}/#x-top"]),
    # user info (policy refuses such URLs anyway, but the rule must mean what SEB means)
    (f"student@{H}", [f"https://student@{H}/", f"https://student:pw@{H}/"],
     [f"https://{H}/", f"https://other@{H}/", f"https://students@{H}/"]),
    (f"student:pw@{H}", [f"https://student:pw@{H}/"],
     [f"https://student@{H}/", f"https://student:pw2@{H}/", f"https://{H}/"]),
    (f"*@{H}", [f"https://{H}/", f"https://a@{H}/", f"https://a:b@{H}/"], ["https://a@evil.test/"]),
    # hosts in expressions are canonicalised like URL hosts
    ("MOODLE.Example.AC.uk.", [f"https://moodle.{H}/", f"https://x.moodle.{H}/"],
     [f"https://{H}/"]),
    (f"{fullwidth('moodle')}.example.ac.uk", [f"https://moodle.{H}/"], [f"https://{H}/"]),
    ("mood%6ce.example.ac.uk", [f"https://moodle.{H}/"], [f"https://{H}/"]),
    ("münchen.example", ["https://xn--mnchen-3ya.example/", "https://MÜNCHEN.example/",
                         "https://a.münchen.example/"],
     ["https://munchen.example/"]),
    ("*.münchen.example", ["https://a.xn--mnchen-3ya.example/"], ["https://xn--mnchen-3ya.example/"]),
    ("2130706433", ["http://127.0.0.1/", "http://0x7f.1/", "http://127.1:8080/"],
     ["http://127.0.0.2/"]),
    ("0x7f.1:8080", ["http://127.0.0.1:8080/"], ["http://127.0.0.1/"]),
    ("[::1]", ["http://[::1]/", "http://[0:0::1]:8080/"], ["http://[::2]/", "http://127.0.0.1/"]),
    ("[0::1]:8080", ["http://[::1]:8080/"], ["http://[::1]/"]),
    ("http://[::ffff:127.0.0.1]", ["http://[::ffff:7f00:1]/"], ["http://127.0.0.1/"]),
    ("192.168.*", ["http://192.168.1.20/", "http://0xc0a80114/"],
     ["http://10.192.168.1/", "http://192.169.0.1/"]),
    # surrounding whitespace in a hand-written rule is not part of it
    (f"  {H}/mod/quiz \n", [f"https://{H}/mod/quiz"], [f"https://{H}/mod/quiz%20"]),
]

WILDCARD_CASES = [(expr, url, True) for expr, pos, _ in WILDCARD for url in pos] + [
    (expr, url, False) for expr, _, neg in WILDCARD for url in neg]


@pytest.mark.parametrize(("expression", "url", "expected"), WILDCARD_CASES,
                         ids=[f"{e!r}-{u!r}" for e, u, _ in WILDCARD_CASES])
def test_wildcard_expression(expression: str, url: str, expected: bool) -> None:
    for action in ("allow", "block"):
        rule = UrlRule(action, expression)
        assert rule.matches(parse_url(url)) is expected


def test_non_special_schemes_follow_the_same_rules() -> None:
    rule = UrlRule("allow", "scheme://host.org/path")
    assert rule.matches(parse_url("scheme://WWW.Host.Org/path/"))
    assert not rule.matches(parse_url("scheme://host.org"))
    assert not rule.matches(parse_url("other://host.org/path"))
    assert UrlRule("allow", "*").matches(parse_url("data:,x"))
    assert not UrlRule("allow", H).matches(parse_url(f"view-source:https://{H}/"))


REGEX: list[tuple[str, str, bool]] = [
    (r"^https://moodle\.example\.ac\.uk/", "https://MOODLE.example.ac.uk./quiz", True),
    (r"^https://moodle\.example\.ac\.uk/", "https://moodle.example.ac.uk@evil.test/", False),
    (r"^https://moodle\.example\.ac\.uk/", "https://moodle.example.ac.uk.evil.test/", False),
    (r"^https://moodle\.example\.ac\.uk/", "https://moodle.example.ac.uk:443/", True),
    (r"^https://moodle\.example\.ac\.uk/", "https://moodle.example.ac.uk:8443/", False),
    (r"^http://127\.0\.0\.1/", "http://0x7f.1/", True),
    (r"/mod/quiz/attempt\.php", "https://m/mod/%71uiz/./attempt.php?x", True),
    (r"\.pdf$", "https://m/file.PDF", True),
    (r"\.pdf$", "https://m/file.pdf?x=1", False),
    # SEB searches (Regex.IsMatch): an unanchored rule matches anywhere in the URL
    (r"moodle\.example\.ac\.uk", "https://evil.test/?moodle.example.ac.uk", True),
    (r"#frag$", "https://m/p#frag", True),
]


@pytest.mark.parametrize(("pattern", "url", "expected"), REGEX,
                         ids=[f"{p!r}-{u!r}" for p, u, _ in REGEX])
def test_regex_rule_searches_the_canonical_url_ignoring_case(
        pattern: str, url: str, expected: bool) -> None:
    assert UrlRule("block", pattern, regex=True).matches(parse_url(url)) is expected


# ------------------------------------------------------------------------------ rule lists

def allow(expr: str, **kw: bool) -> UrlRule:
    return UrlRule("allow", expr, **kw)


def block(expr: str, **kw: bool) -> UrlRule:
    return UrlRule("block", expr, **kw)


def test_block_rules_win_over_earlier_allow_rules() -> None:
    rules = [allow(H), allow(f"{H}/admin/*"), block(f"{H}/admin/*"), block("evil.test")]
    got = match_rules(rules, parse_url(f"https://{H}/admin/settings.php"))
    assert got == RuleMatch(rules[2], 2)
    got = match_rules(rules, parse_url(f"https://{H}/mod/quiz/"))
    assert got == RuleMatch(rules[0], 0)


def test_first_matching_rule_of_a_kind_is_reported() -> None:
    rules = [block("evil.test"), allow(f"moodle.{H}"), allow(H)]
    assert match_rules(rules, parse_url(f"https://moodle.{H}/")) == RuleMatch(rules[1], 1)
    assert match_rules(rules, parse_url("https://a.evil.test/")) == RuleMatch(rules[0], 0)


def test_nothing_matched_is_none() -> None:
    assert match_rules([allow(H), block("evil.test")], parse_url("https://other.test/")) is None
    assert match_rules([], parse_url(f"https://{H}/")) is None


def test_inactive_rules_are_ignored() -> None:
    rules = [block(H, active=False), allow(H), allow("other.test", active=False)]
    assert match_rules(rules, parse_url(f"https://{H}/")) == RuleMatch(rules[1], 1)
    assert match_rules(rules, parse_url("https://other.test/")) is None


def test_inactive_rule_with_a_broken_expression_is_kept_but_never_matches() -> None:
    rule = UrlRule.from_seb({"action": 0, "active": False, "expression": "(", "regex": True})
    assert not rule.active
    assert not rule.matches(parse_url(f"https://{H}/"))


def test_regex_block_rule_beats_wildcard_allow() -> None:
    rules = [allow(H), block(r"/login/.*\.php", regex=True)]
    got = match_rules(rules, parse_url(f"https://{H}/login/index.php"))
    assert got is not None
    assert got.rule.action == "block"
    assert got.index == 1


# ------------------------------------------------------------------------------ SEB form

@pytest.mark.parametrize(("seb", "expected"), [
    ({"action": 1, "active": True, "expression": H, "regex": False}, allow(H)),
    ({"action": 0, "active": True, "expression": "x", "regex": True}, block("x", regex=True)),
    ({"action": 1, "expression": H}, allow(H)),
    ({"action": 0, "active": False, "expression": H}, block(H, active=False)),
])
def test_from_seb(seb: Mapping[str, object], expected: UrlRule) -> None:
    rule = UrlRule.from_seb(seb)
    assert rule == expected
    assert UrlRule.from_seb(rule.to_seb()) == rule


@pytest.mark.parametrize(("seb", "message"), [
    ({"action": 2, "active": True, "expression": H},
     f"URL rule '{H}': 'action' must be 1 (allow) or 0 (block), got 2"),
    ({"action": True, "expression": H},
     f"URL rule '{H}': 'action' must be 1 (allow) or 0 (block), got True"),
    ({"action": "1", "expression": H},
     f"URL rule '{H}': 'action' must be 1 (allow) or 0 (block), got '1'"),
    ({"expression": H}, f"URL rule '{H}': 'action' must be 1 (allow) or 0 (block), got None"),
    ({"action": 1}, "URL rule needs an 'expression' string, got None"),
    ({"action": 1, "expression": 5}, "URL rule needs an 'expression' string, got 5"),
    ({"action": 1, "expression": H, "active": "yes"},
     f"URL rule '{H}': 'active' and 'regex' must be true or false"),
    ({"action": 1, "expression": H, "regex": 1},
     f"URL rule '{H}': 'active' and 'regex' must be true or false"),
    ({"action": 1, "expression": H, "regx": True},
     "URL rule has unknown keys ['regx'] (expected action, active, expression, regex)"),
    ({"action": 1, "expression": "host:8*"},
     "URL rule 'host:8*' is not a valid expression: the port must be a number (0-65535) or '*'"),
])
def test_from_seb_refuses_bad_input(seb: Mapping[str, object], message: str) -> None:
    with pytest.raises(RuleError) as info:
        UrlRule.from_seb(seb)
    assert str(info.value) == message


def test_from_seb_refuses_non_mappings() -> None:
    with pytest.raises(RuleError, match=r"^a URL rule must be a dictionary, not list$"):
        UrlRule.from_seb([("action", 1)])  # type: ignore[arg-type]


def test_constructor_validates_its_fields() -> None:
    with pytest.raises(RuleError, match="action must be 'allow' or 'block', not 'permit'"):
        UrlRule("permit", H)  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="expression must be text, not None"):
        UrlRule("allow", None)  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="'regex' and 'active' must be true or false"):
        UrlRule("allow", H, regex="no")  # type: ignore[arg-type]


BAD_EXPRESSIONS: list[tuple[str, str]] = [
    ("", "it needs at least one letter, digit or '*'"),
    (".", "it needs at least one letter, digit or '*'"),
    ("/", "it needs at least one letter, digit or '*'"),
    ("?#@", "it needs at least one letter, digit or '*'"),
    ("host\x00.org", "it contains control characters"),
    ("host:8*", "the port must be a number (0-65535) or '*'"),
    ("host:abc", "the port must be a number (0-65535) or '*'"),
    ("host:70000", "the port must be a number (0-65535) or '*'"),
    ("host:80:90", "host contains forbidden characters ':'"),
    ("a..b.org", "host 'a..b.org' has an empty label"),
    ("*..org", "host has an empty label"),
    ("ex ample.org", "host contains forbidden characters ' '"),
    ("exa<mple.org", "host contains forbidden characters '<'"),
    ("[::1", "IPv6 address is missing its closing ']'"),
    ("[1::2::3]", "invalid IPv6 address [1::2::3]"),
    ("1.2.3.456", "host '1.2.3.456' ends in a number but is not an IPv4 address: out of range"),
    ("münch*en.org", "host label 'münch*en' with '*' may only contain ASCII letters, digits, "
                     "'-' and '_'"),
    ("host.org/a/../b", "'.' and '..' path segments can never match a canonical URL"),
    ("host.org/./b", "'.' and '..' path segments can never match a canonical URL"),
    ("host.org/a/%2e%2E/b", "'.' and '..' path segments can never match a canonical URL"),
]


@pytest.mark.parametrize(("expression", "why"), BAD_EXPRESSIONS,
                         ids=[repr(e) for e, _ in BAD_EXPRESSIONS])
def test_bad_wildcard_expressions_name_the_rule_and_the_reason(expression: str, why: str) -> None:
    with pytest.raises(RuleError) as info:
        UrlRule("allow", expression)
    assert str(info.value) == f"URL rule {expression!r} is not a valid expression: {why}"


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "(?P<x>a)(?P<x>b)", "*a"])
def test_bad_regular_expressions(pattern: str) -> None:
    with pytest.raises(RuleError) as info:
        UrlRule("block", pattern, regex=True)
    assert str(info.value).startswith(f"URL rule {pattern!r} is not a valid regular expression: ")


def test_rule_error_is_a_value_error() -> None:
    assert issubclass(RuleError, ValueError)


# ------------------------------------------------------------------------------ start URL

def test_rule_for_url_allows_exactly_the_start_page() -> None:
    start = parse_url(f"https://moodle.{H}/mod/quiz/view.php?id=5#top")
    rule = rule_for_url(start)
    assert rule == UrlRule("allow", f"https://.moodle.{H}:443/mod/quiz/view.php?id=5")
    assert rule.matches(start)
    for same in (f"HTTPS://MOODLE.{H}.:443/mod/quiz/view.php?id=5",
                 f"https://moodle.{H}/mod/quiz/view.php/?id=5",
                 f"https://moodle.{H}/mod/x/../%71uiz/view.php?id=5#other"):
        assert rule.matches(parse_url(same)), same
    for other in (f"http://moodle.{H}/mod/quiz/view.php?id=5",
                  f"https://x.moodle.{H}/mod/quiz/view.php?id=5",
                  f"https://moodle.{H}:8443/mod/quiz/view.php?id=5",
                  f"https://moodle.{H}/mod/quiz/view.php?id=6",
                  f"https://moodle.{H}/mod/quiz/view.php?id=5&x=1",
                  f"https://moodle.{H}/mod/quiz/attempt.php?id=5",
                  f"https://moodle.{H}.evil.test/mod/quiz/view.php?id=5"):
        assert not rule.matches(parse_url(other)), other


def test_rule_for_url_of_a_site_root_allows_the_site() -> None:
    rule = rule_for_url(parse_url("http://[::1]:8080/"))
    assert rule.matches(parse_url("http://[0::1]:8080/any/page?x"))
    assert not rule.matches(parse_url("http://[::1]:8081/"))
    assert not rule.matches(parse_url("http://127.0.0.1:8080/"))


def test_rule_for_url_with_at_sign_in_path_and_query() -> None:
    url = parse_url(f"https://{H}/user/@me?mail=a@b.test")
    rule = rule_for_url(url)
    assert rule.matches(url)
    assert not rule.matches(parse_url("https://b.test/"))


@pytest.mark.parametrize("raw", ["data:,x", "javascript:alert(1)", "file:///etc/passwd",
                                 "qrc:/x"])
def test_rule_for_url_needs_a_host(raw: str) -> None:
    with pytest.raises(RuleError, match="it has no host"):
        rule_for_url(parse_url(raw))


def test_port_with_leading_zeros_and_huge_ports() -> None:
    assert UrlRule("allow", f"{H}:{'0' * 6000}8443").matches(parse_url(f"https://{H}:8443/"))
    with pytest.raises(RuleError, match="the port must be a number"):
        UrlRule("allow", f"{H}:{'9' * 6000}")
