"""Safe Exam Browser URL filter rules: ``{action, active, expression, regex}``.

Semantics follow SEB for Windows (``SafeExamBrowser.Browser/Filters``: ``SimplifiedRule``,
``RegexRule``, ``RequestFilter``), so a ``.seb`` file means the same here as there:

* **Block before allow**: every active block rule is tried first, then the allow rules; nothing
  matched is for the caller to treat as blocked (default deny).
* **Simplified ("wildcard") expressions** are split into scheme, user, password, host, port, path,
  query and fragment. ``*`` is a wildcard within a component, matching is case-insensitive and a
  component the expression leaves out matches anything. The host ``example.com`` matches itself
  and every subdomain; ``.example.com`` only itself; so does a single alphanumeric label
  (``localhost``). The path matches exactly, with an optional trailing ``/`` (``/a/b`` matches
  ``/a/b`` and ``/a/b/``, not ``/a/b/c``: write ``/a/b/*`` for that); a path of ``/`` or nothing
  matches any path. A port matches only that port (the scheme's default counts), ``*`` any.
  Query ``?.`` means "no query"; query and fragment otherwise match in full.
* **Regex expressions** are searched (not anchored, as .NET ``Regex.IsMatch``) in the whole
  serialised URL, ignoring case.

Differences from SEB, all in the direction of "the rule means what it says": each component of
an expression is canonicalised with the URL parser (so ``MOODLE.Example.ac.uk.``, fullwidth
letters and ``2130706433`` work as hosts and a path is compared in the form Chromium sends); an
IP address or pattern (``192.168.*``) never matches "subdomains" (in SEB ``10.192.168.1`` would
match that one); the authority ends at the first ``/``, ``?`` or ``#`` (SEB's regex would take
``host/p?mail=a@b`` as user ``host/p?mail=a`` at host ``b``); and an expression SEB would quietly
turn into a rule that can never match (port ``8*``, dot segments in the path, a bad host) is a
:class:`RuleError` instead.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, cast

from lockdown.policy.urls import (
    Url,
    UrlError,
    decode_unreserved,
    domain_to_ascii,
    encode_component,
    parse_host,
)

__all__ = ["RuleError", "RuleMatch", "UrlRule", "match_rules", "rule_for_url"]


class RuleError(ValueError):
    """A URL filter rule that cannot be used; the message names the rule and says why."""


_SCHEME_PART: Final = re.compile(r"([A-Za-z0-9+.\-*]*)://")
_WILD_LABEL: Final = re.compile(r"[a-z0-9\-_*]+")
_SEB_KEYS: Final = frozenset({"action", "active", "expression", "regex"})


def _wild(text: str) -> str:
    """Regex for ``text`` with ``*`` as "any characters" and everything else literal."""
    return ".*".join(re.escape(part) for part in text.split("*"))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class _Wildcard:
    """A compiled simplified expression; ``None`` components match anything."""

    scheme: re.Pattern[str] | None
    userinfo: re.Pattern[str] | None
    host: re.Pattern[str]
    port: int | None
    path: re.Pattern[str] | None
    query: re.Pattern[str] | None
    fragment: re.Pattern[str] | None

    def matches(self, url: Url) -> bool:
        userinfo = url.username + (f":{url.password}" if url.password else "")
        query = f"?{url.query}" if url.query else ""
        fragment = f"#{url.fragment}" if url.fragment else ""
        checks = (
            (self.scheme, url.scheme), (self.userinfo, userinfo), (self.host, url.host),
            (self.path, url.path), (self.query, query), (self.fragment, fragment),
        )
        if any(rx is not None and rx.fullmatch(text) is None for rx, text in checks):
            return False
        return self.port is None or self.port == url.port


def _host_pattern(text: str, fail: str) -> re.Pattern[str]:
    exact = text.startswith(".")
    text = text[1:] if exact else text
    if "*" not in text:
        if not text:
            return _compile("")  # SEB: an empty host matches only URLs without one
        try:
            host = parse_host(text)
        except UrlError as exc:
            raise RuleError(f"{fail}: {exc}") from None
        single_label = re.fullmatch(r"[a-z0-9]+", host) is not None
        is_ip = ":" in host or re.fullmatch(r"[0-9.]+", host) is not None
        if exact or single_label or is_ip:
            return _compile(re.escape(host))
        return _compile(r"(?:.+?\.)*" + re.escape(host))
    labels = text.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    canonical: list[str] = []
    for raw in labels:
        if "*" in raw:
            label = raw.lower()
            if _WILD_LABEL.fullmatch(label) is None:
                raise RuleError(f"{fail}: host label {raw!r} with '*' may only contain "
                                "ASCII letters, digits, '-' and '_'")
        else:
            try:
                label = domain_to_ascii(raw)
            except UrlError as exc:
                raise RuleError(f"{fail}: {exc}") from None
        if not label:
            raise RuleError(f"{fail}: host has an empty label")
        canonical.append(label)
    pattern = _wild(".".join(canonical))
    # An IPv4 pattern (192.168.*) has no subdomains: SEB would let 10.192.168.1 match it.
    numeric = all(re.fullmatch(r"[0-9*]+", label) for label in canonical)
    return _compile(pattern if exact or numeric else r"(?:.+?\.)*" + pattern)


def _path_pattern(text: str, fail: str) -> re.Pattern[str] | None:
    if not text.strip() or text == "/":
        return None
    segments = text.replace("\\", "/").split("/")
    if any(s in (".", "..") or s.lower() in ("%2e", ".%2e", "%2e.", "%2e%2e") for s in segments):
        raise RuleError(f"{fail}: '.' and '..' path segments can never match a canonical URL")
    path = decode_unreserved(encode_component("/".join(segments), "path"))
    regex = _wild(path)
    return _compile(regex + "?" if path.endswith("/") else regex + "/?")


def _parse_wildcard(expression: str) -> _Wildcard:
    fail = f"URL rule {expression!r} is not a valid expression"
    text = expression.strip()
    if re.search(r"[A-Za-z0-9*]", text) is None:
        raise RuleError(f"{fail}: it needs at least one letter, digit or '*'")
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise RuleError(f"{fail}: it contains control characters")
    scheme_re: re.Pattern[str] | None = None
    match = _SCHEME_PART.match(text)
    if match is not None:
        text = text[match.end():]
        if match.group(1):
            scheme_re = _compile(_wild(match.group(1).lower()))
    end = next((i for i, c in enumerate(text) if c in "/?#"), len(text))
    authority, tail = text[:end], text[end:]
    userinfo_re: re.Pattern[str] | None = None
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        user, password = encode_component(user, "userinfo"), encode_component(password, "userinfo")
        if user:
            regex = f"{_wild(user)}:{_wild(password)}" if password else f"{_wild(user)}(?::.*)?"
            userinfo_re = _compile(regex)
    host_text, port_text = authority, ""
    colon = authority.rfind(":")
    if colon > authority.rfind("]"):
        host_text, port_text = authority[:colon], authority[colon + 1:]
    port: int | None = None
    if port_text not in ("", "*"):
        digits = port_text.lstrip("0") or "0"
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 5 or int(digits) > 65535:
            raise RuleError(f"{fail}: the port must be a number (0-65535) or '*'")
        port = int(digits)
    fragment_re: re.Pattern[str] | None = None
    hash_at = tail.find("#")
    if hash_at >= 0:
        tail, fragment = tail[:hash_at], tail[hash_at + 1:]
        if fragment.strip():
            fragment_re = _compile("#?" + _wild(encode_component(fragment, "fragment")))
    query_re: re.Pattern[str] | None = None
    q_at = tail.find("?")
    if q_at >= 0:
        tail, query = tail[:q_at], tail[q_at + 1:]
        if query == ".":
            query_re = _compile(r"\??")
        elif query.strip():
            query_re = _compile(r"\??" + _wild(encode_component(query, "special-query")))
    return _Wildcard(scheme_re, userinfo_re, _host_pattern(host_text, fail), port,
                     _path_pattern(tail, fail), query_re, fragment_re)


@dataclass(frozen=True)
class UrlRule:
    """One URL filter rule. Construction validates (and compiles) it, raising RuleError.

    An inactive rule is kept (so a config round-trips) but never parsed or matched, as in SEB,
    where a broken rule that is switched off does not stop the exam.
    """

    action: Literal["allow", "block"]
    expression: str
    regex: bool = False
    active: bool = True
    _matcher: _Wildcard | re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        action, expression, flags = cast(object, self.action), cast(object, self.expression), (
            cast(object, self.regex), cast(object, self.active))
        if action not in ("allow", "block"):
            raise RuleError(f"URL rule action must be 'allow' or 'block', not {action!r}")
        if not isinstance(expression, str):
            raise RuleError(f"URL rule expression must be text, not {expression!r}")
        if not all(isinstance(flag, bool) for flag in flags):
            raise RuleError(f"URL rule {self.expression!r}: 'regex' and 'active' must be true "
                            "or false")
        if not self.active:
            return
        matcher: _Wildcard | re.Pattern[str]
        if self.regex:
            try:
                with warnings.catch_warnings():
                    # "Possible nested set" and friends: the pattern means what today's re says.
                    warnings.simplefilter("ignore")
                    matcher = _compile(self.expression)
            except (re.error, OverflowError, RecursionError) as exc:
                raise RuleError(f"URL rule {self.expression!r} is not a valid regular "
                                f"expression: {exc}") from None
        else:
            matcher = _parse_wildcard(self.expression)
        object.__setattr__(self, "_matcher", matcher)

    @classmethod
    def from_seb(cls, d: Mapping[str, object]) -> UrlRule:
        """A rule from an SEB ``URLFilterRules`` entry ``{action 0|1, active, expression,
        regex}``. ``active`` and ``regex`` default to true and false; other keys are refused."""
        if not isinstance(cast(object, d), Mapping):
            raise RuleError(f"a URL rule must be a dictionary, not {type(d).__name__}")
        unknown = sorted(str(k) for k in d if k not in _SEB_KEYS)
        if unknown:
            raise RuleError(f"URL rule has unknown keys {unknown} (expected action, active, "
                            "expression, regex)")
        expression = d.get("expression")
        if not isinstance(expression, str):
            raise RuleError(f"URL rule needs an 'expression' string, got {expression!r}")
        action = d.get("action")
        if isinstance(action, bool) or action not in (0, 1):
            raise RuleError(f"URL rule {expression!r}: 'action' must be 1 (allow) or 0 (block), "
                            f"got {action!r}")
        active, regex = d.get("active", True), d.get("regex", False)
        if not isinstance(active, bool) or not isinstance(regex, bool):
            raise RuleError(f"URL rule {expression!r}: 'active' and 'regex' must be true or "
                            "false")
        return cls("allow" if action == 1 else "block", expression, regex=regex, active=active)

    def to_seb(self) -> dict[str, object]:
        """The SEB dictionary form (inverse of :meth:`from_seb`)."""
        return {"action": 1 if self.action == "allow" else 0, "active": self.active,
                "expression": self.expression, "regex": self.regex}

    def matches(self, url: Url) -> bool:
        """Whether this (active) rule matches ``url``; inactive rules match nothing."""
        matcher = self._matcher
        if matcher is None:
            return False
        if isinstance(matcher, _Wildcard):
            return matcher.matches(url)
        return matcher.search(str(url)) is not None


@dataclass(frozen=True)
class RuleMatch:
    """The rule that decided, and its index in the rule list (for logs: ``url_rules[3]``)."""

    rule: UrlRule
    index: int


def match_rules(rules: Sequence[UrlRule], url: Url) -> RuleMatch | None:
    """Block rules are checked before allow rules (SEB semantics); returns the first matching
    active block rule, else the first matching active allow rule, else None (default deny)."""
    for action in ("block", "allow"):
        for index, rule in enumerate(rules):
            if rule.action == action and rule.matches(url):
                return RuleMatch(rule, index)
    return None


def rule_for_url(url: Url) -> UrlRule:
    """An allow rule for exactly this URL's scheme, host (no subdomains), port and path
    (trailing ``/`` optional; ``/`` means any path) and query if it has one, as SEB adds for the
    start URL. Userinfo and fragment are left out. RuleError for URLs without a host."""
    if not url.has_authority or not url.host:
        raise RuleError(f"cannot make a URL rule for {str(url)!r}: it has no host")
    host = f"[{url.host}]" if ":" in url.host else f".{url.host}"
    port = f":{url.port}" if url.port >= 0 else ""
    query = f"?{url.query}" if url.query else ""
    return UrlRule("allow", f"{url.scheme}://{host}{port}{url.path}{query}")
