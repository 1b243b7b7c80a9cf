"""Strict, canonical URL parsing for policy decisions.

Every request and navigation of the embedded Chromium is decided by looking at its URL, so the
parser here must see the *same* host, port and path that Chromium will use: it follows the WHATWG
URL Standard (https://url.spec.whatwg.org/) for an absolute URL with no base, including its host
parser (IPv4 number forms, IPv6, UTS-46 domain-to-ASCII) and path dot-segment removal.
``urllib.parse`` is not used: it is lenient exactly where attackers probe (backslashes, userinfo,
``@`` in paths, integer hosts).

Where the Standard and Chromium differ, or where a difference cannot change who is contacted, the
parser picks the form that makes policy matching unambiguous, and refuses rather than guesses:

* a trailing dot on a domain is dropped (``moodle.ac.uk.`` → ``moodle.ac.uk``), so rules written
  for a host also cover its fully-qualified spelling;
* percent-encoded unreserved characters in the path are decoded (``/%71uiz`` → ``/quiz``), as
  Chromium's canonicaliser does before the request goes on the wire;
* domains with empty labels (``a..b``), labels that IDNA2008 forbids, and hosts that are not valid
  ASCII after UTS-46 processing raise :class:`UrlError` instead of being passed through.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SPECIAL_SCHEMES",
    "Url",
    "UrlError",
    "blob_inner",
    "canonical_origin",
    "decode_unreserved",
    "domain_to_ascii",
    "encode_component",
    "parse_host",
    "parse_url",
]


class UrlError(ValueError):
    """A URL the parser refuses; the message says why in words a person can act on."""


#: Schemes with the WHATWG "special" parsing rules, and their default ports.
SPECIAL_SCHEMES: Final[dict[str, int]] = {
    "ftp": 21, "file": -1, "http": 80, "https": 443, "ws": 80, "wss": 443,
}

_C0_SET: Final = frozenset(range(0x20))  # plus every code point above U+007E, see _encode
_FRAGMENT_SET: Final = _C0_SET | frozenset(map(ord, ' "<>`'))
_QUERY_SET: Final = _C0_SET | frozenset(map(ord, ' "#<>'))
_SPECIAL_QUERY_SET: Final = _QUERY_SET | {ord("'")}
_PATH_SET: Final = _QUERY_SET | frozenset(map(ord, "?^`{}"))
_USERINFO_SET: Final = _PATH_SET | frozenset(map(ord, "/:;=@[\\]|"))

_FORBIDDEN_HOST: Final = frozenset("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN: Final = _FORBIDDEN_HOST | frozenset(map(chr, range(0x20))) | {"%", "\x7f"}

_C0_AND_SPACE: Final = "".join(map(chr, range(0x21)))
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_TAB_NEWLINE_RE: Final = re.compile("[\t\n\r]")
_UNRESERVED_ESCAPE_RE: Final = re.compile(
    r"%(2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aA]|5[fF]|6[1-9a-fA-F]|7[0-9aA]|7[eE])"
)
_PERCENT_BYTE_RE: Final = re.compile(rb"%([0-9A-Fa-f]{2})")
_DRIVE_RE: Final = re.compile(r"[A-Za-z][:|]")
_AUTHORITY_END: Final = re.compile(r"[/?#]")
_SPECIAL_AUTHORITY_END: Final = re.compile(r"[/?#\\]")
_IPV4_RE: Final = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
_IPV6_V4_PART_RE: Final = re.compile(r"0|[1-9][0-9]{0,2}")


@dataclass(frozen=True)
class Url:
    """A parsed, canonical absolute URL (see :func:`parse_url`).

    ``host`` is "" for URLs without one (``data:``, ``javascript:``, ``file:///``). ``port`` is the
    explicit port or the scheme's default, -1 if neither. ``path`` is the opaque text of
    non-hierarchical URLs (``opaque_path``); ``has_authority`` tells ``foo://`` from ``foo:``.
    """

    scheme: str
    username: str
    password: str
    host: str
    port: int
    path: str
    query: str | None
    fragment: str | None
    has_authority: bool = True
    opaque_path: bool = False

    @property
    def is_special(self) -> bool:
        return self.scheme in SPECIAL_SCHEMES

    @property
    def is_ip(self) -> bool:
        """True for IPv4 (canonical dotted decimal) and IPv6 hosts."""
        return ":" in self.host or (self.is_special and _IPV4_RE.fullmatch(self.host) is not None)

    @property
    def _host_text(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def netloc(self) -> str:
        """``host:port`` (IPv6 in brackets); the port is always present when known."""
        return f"{self._host_text}:{self.port}" if self.port >= 0 else self._host_text

    @property
    def origin(self) -> str:
        """The serialised origin ``scheme://host[:port]``; ``"null"`` for opaque origins."""
        if self.scheme == "blob":
            inner = blob_inner(self)
            return inner.origin if inner is not None else "null"
        if not self.is_special or self.scheme == "file":
            return "null"
        return f"{self.scheme}://{self._host_text}{self._port_suffix}"

    @property
    def _port_suffix(self) -> str:
        if self.port < 0 or self.port == SPECIAL_SCHEMES.get(self.scheme):
            return ""
        return f":{self.port}"

    def without_fragment(self) -> str:
        """The URL as it goes on the wire (HTTP requests never carry the fragment)."""
        out = [self.scheme, ":"]
        if self.has_authority:
            out.append("//")
            if self.username or self.password:
                out.append(self.username)
                if self.password:
                    out.append(f":{self.password}")
                out.append("@")
            out.append(self._host_text + self._port_suffix)
        elif not self.opaque_path and self.path.startswith("//"):
            out.append("/.")  # keep "web+x:/.//a" from reading back as host "a"
        out.append(self.path)
        if self.query is not None:
            out.append(f"?{self.query}")
        return "".join(out)

    def __str__(self) -> str:
        text = self.without_fragment()
        return text if self.fragment is None else f"{text}#{self.fragment}"


def _clip(text: str) -> str:
    """``repr`` of a piece of input for an error message, cut short: URLs can be megabytes."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _percent_encode_match(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


_ENCODERS: dict[frozenset[int], re.Pattern[str]] = {}


def _encode(text: str, encode_set: frozenset[int]) -> str:
    """UTF-8 percent-encode the code points of ``text`` in ``encode_set`` or above U+007E.

    Done with one compiled character class per set: ``data:`` URLs can be megabytes long and
    the interceptor parses every request, so no per-character Python loop.
    """
    if text.isascii() and text.isprintable() and not any(
            chr(c) in text for c in encode_set if c >= 0x20):
        return text  # nothing to encode: str methods scan megabytes far faster than re
    pattern = _ENCODERS.get(encode_set)
    if pattern is None:
        listed = "".join(re.escape(chr(c)) for c in sorted(encode_set))
        pattern = _ENCODERS[encode_set] = re.compile(f"[{listed}\x7f-\U0010ffff]+")
    return pattern.sub(_percent_encode_match, text)


_COMPONENT_SETS: Final[dict[str, frozenset[int]]] = {
    "userinfo": _USERINFO_SET, "path": _PATH_SET, "query": _QUERY_SET,
    "special-query": _SPECIAL_QUERY_SET, "fragment": _FRAGMENT_SET,
}


def encode_component(text: str, component: str) -> str:
    """Percent-encode ``text`` as the parser encodes that URL component (e.g. ``"path"``)."""
    return _encode(text, _COMPONENT_SETS[component])


def decode_unreserved(text: str) -> str:
    """Decode ``%XX`` escapes of RFC 3986 unreserved characters, as Chromium does in paths."""
    return _UNRESERVED_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _percent_decode(text: str) -> str:
    """Percent-decode to bytes, then UTF-8 decode with replacement (WHATWG host parser step)."""
    raw = _PERCENT_BYTE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------- hosts


def _ipv4_number(part: str) -> int | None:
    """The WHATWG IPv4 number parser (decimal, ``0x`` hex, leading-zero octal); None if not."""
    if not part:
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[radix]
    if any(c not in digits for c in part):
        return None
    part = part.lstrip("0") or "0"
    if len(part) > 12:  # past 2**32 in any radix: out of range, and no huge int to build
        return 1 << 40
    return int(part, radix)


def _ends_in_number(domain: str) -> bool:
    parts = domain.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    if last and all("0" <= c <= "9" for c in last):
        return True
    return _ipv4_number(last) is not None


def _parse_ipv4(domain: str) -> str:
    def fail(why: str) -> UrlError:
        return UrlError(f"host {_clip(domain)} ends in a number but is not an IPv4 address: {why}")

    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise fail("more than four parts")
    numbers: list[int] = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise fail(f"{_clip(part)} is not a decimal, octal or hex number")
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]):
        raise fail("a part is greater than 255")
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        raise fail("out of range")
    address = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        address += n * 256 ** (3 - i)
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _ipv6_dotted_tail(text: str, pieces: list[int], index: int) -> int:
    """The dotted IPv4 tail of an IPv6 address (``::ffff:1.2.3.4``) fills two pieces."""
    parts = text.split(".")
    if index > 6 or len(parts) != 4 or not all(_IPV6_V4_PART_RE.fullmatch(p) for p in parts):
        raise UrlError(f"invalid IPv4 part {_clip(text)} in an IPv6 address")
    a, b, c, d = (int(p) for p in parts)
    if max(a, b, c, d) > 255:
        raise UrlError(f"invalid IPv4 part {_clip(text)} in an IPv6 address")
    pieces[index], pieces[index + 1] = a * 256 + b, c * 256 + d
    return index + 2


def _parse_ipv6(text: str) -> str:
    """The WHATWG IPv6 parser followed by its serializer (compressed, lowercase hex)."""
    bad = UrlError(f"invalid IPv6 address [{_clip(text)[1:-1]}]")
    pieces = [0] * 8
    index, compress, i, n = 0, -1, 0, len(text)
    if text.startswith(":"):
        if not text.startswith("::"):
            raise bad
        i, index, compress = 2, 1, 1
    while i < n:
        if index == 8:
            raise bad
        if text[i] == ":":
            if compress != -1:
                raise bad
            i, index = i + 1, index + 1
            compress = index
            continue
        value = length = 0
        while length < 4 and i < n and text[i] in "0123456789abcdefABCDEF":
            value, i, length = value * 16 + int(text[i], 16), i + 1, length + 1
        if i < n and text[i] == ".":
            if length == 0:
                raise bad
            index = _ipv6_dotted_tail(text[i - length:], pieces, index)
            break
        if i < n and text[i] == ":":
            i += 1
            if i >= n:
                raise bad
        elif i < n:
            raise bad
        pieces[index] = value
        index += 1
    if compress != -1:
        swaps, index = index - compress, 7
        while index != 0 and swaps > 0:
            other = compress + swaps - 1
            pieces[index], pieces[other] = pieces[other], pieces[index]
            index, swaps = index - 1, swaps - 1
    elif index != 8:
        raise bad
    return _serialise_ipv6(pieces)


def _serialise_ipv6(pieces: list[int]) -> str:
    best_start, best_len, run_start = -1, 1, -1
    for idx, piece in enumerate([*pieces, 1]):
        if piece == 0 and run_start < 0:
            run_start = idx
        elif piece != 0 and run_start >= 0:
            if idx - run_start > best_len:
                best_start, best_len = run_start, idx - run_start
            run_start = -1
    if best_start < 0:
        return ":".join(f"{p:x}" for p in pieces)
    head = ":".join(f"{p:x}" for p in pieces[:best_start])
    tail = ":".join(f"{p:x}" for p in pieces[best_start + best_len:])
    return f"{head}::{tail}"


def _label_to_ascii(label: str) -> str:
    """One UTS-46-mapped label to its A-label, strictly (IDNA2008 via the ``idna`` package,
    imported only for hosts that need it: its tables cost ~1 MiB in every process)."""
    import idna

    try:
        if label.isascii():
            if label.startswith("xn--"):
                idna.ulabel(label)  # validates Punycode and that this is the canonical A-label
            return label
        return idna.alabel(label).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise UrlError(f"host label {_clip(label)} is not a valid internationalised name: "
                       f"{exc}") from None


def _domain_to_ascii(domain: str) -> str:
    """WHATWG "domain to ASCII" (UTS-46, non-transitional), refusing what IDNA2008 refuses."""
    if domain.isascii() and not any(lab.lower().startswith("xn--") for lab in domain.split(".")):
        ascii_domain = domain.lower()
    else:
        import idna

        try:
            mapped = idna.uts46_remap(domain, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError) as exc:
            raise UrlError(f"host {_clip(domain)} contains a character not allowed in names: "
                           f"{exc}") from None
        ascii_domain = ".".join(_label_to_ascii(lab) if lab else "" for lab in mapped.split("."))
    bad = sorted({c for c in ascii_domain if c in _FORBIDDEN_DOMAIN})
    if bad:
        raise UrlError(f"host contains forbidden characters {''.join(bad)!r}")
    return ascii_domain


def domain_to_ascii(text: str) -> str:
    """Percent-decode and UTS-46-process a domain (or one label), as the host parser does.

    Unlike :func:`parse_host` it does not interpret IPv4 numbers or drop a trailing dot, so
    callers that hold pieces of a host pattern (``*.example.com``) can canonicalise each piece.
    """
    return _domain_to_ascii(_percent_decode(text))


@functools.lru_cache(maxsize=512)
def parse_host(text: str) -> str:
    """Canonical host of a special-scheme URL, from its raw (possibly percent-encoded) text.

    IPv4 in any WHATWG form → dotted decimal; ``[v6]`` → compressed form without brackets;
    domains → lowercase ASCII with Punycode labels and no trailing dot. Raises UrlError.
    """
    if text.startswith("["):
        if not text.endswith("]"):
            raise UrlError("IPv6 address is missing its closing ']'")
        return _parse_ipv6(text[1:-1])
    ascii_domain = domain_to_ascii(text)
    if not ascii_domain:
        raise UrlError("URL has an empty host")
    labels = ascii_domain.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()  # trailing dot: same host for policy purposes
    if "" in labels:
        raise UrlError(f"host {_clip(ascii_domain)} has an empty label")
    if _ends_in_number(ascii_domain):
        return _parse_ipv4(ascii_domain)
    return ".".join(labels)


def _parse_opaque_host(text: str) -> str:
    if text.startswith("["):
        if not text.endswith("]"):
            raise UrlError("IPv6 address is missing its closing ']'")
        return _parse_ipv6(text[1:-1])
    bad = sorted({c for c in text if c in _FORBIDDEN_HOST})
    if bad:
        raise UrlError(f"host contains forbidden characters {''.join(bad)!r}")
    return _encode(text, _C0_SET)


# --------------------------------------------------------------------------------- paths


def _is_single_dot(seg: str) -> bool:
    return seg == "." or seg.lower() == "%2e"


def _is_double_dot(seg: str) -> bool:
    return seg.lower() in ("..", ".%2e", "%2e.", "%2e%2e")


def _parse_path(text: str, scheme: str) -> list[str]:
    """Path state of the WHATWG parser over ``text`` (no query/fragment; ``\\`` already ``/``)."""
    parts = text[1:].split("/") if text.startswith("/") else text.split("/")
    path: list[str] = []
    is_file = scheme == "file"
    for i, raw in enumerate(parts):
        last = i == len(parts) - 1
        seg = _encode(raw, _PATH_SET)
        if _is_double_dot(seg):
            if path and not (is_file and len(path) == 1 and _DRIVE_RE.fullmatch(path[0])
                             and path[0][1] == ":"):
                path.pop()
            if last:
                path.append("")
        elif _is_single_dot(seg):
            if last:
                path.append("")
        else:
            if is_file and not path and _DRIVE_RE.fullmatch(seg):
                seg = seg[0] + ":"
            path.append(seg)
    # Chromium's canonicaliser decodes %XX of unreserved characters (RFC 3986 2.3) in paths.
    return [decode_unreserved(s) for s in path]


def _split_tail(text: str, special: bool) -> tuple[str, str | None, str | None]:
    """Split ``path?query#fragment``, percent-encoding query and fragment."""
    fragment: str | None = None
    query: str | None = None
    hash_at = text.find("#")
    if hash_at >= 0:
        text, fragment = text[:hash_at], _encode(text[hash_at + 1:], _FRAGMENT_SET)
    q_at = text.find("?")
    if q_at >= 0:
        text, raw_query = text[:q_at], text[q_at + 1:]
        query = _encode(raw_query, _SPECIAL_QUERY_SET if special else _QUERY_SET)
    return text, query, fragment


# --------------------------------------------------------------------------------- parser


def _clean(raw: str) -> str:
    text = raw if raw.isascii() else _SURROGATE_RE.sub("\ufffd", raw)  # scalar values only
    text = text.strip(_C0_AND_SPACE)
    if "\t" in text or "\n" in text or "\r" in text:
        text = _TAB_NEWLINE_RE.sub("", text)
    return text


def _split_authority(rest: str, special: bool) -> tuple[str, str]:
    found = (_SPECIAL_AUTHORITY_END if special else _AUTHORITY_END).search(rest)
    end = found.start() if found else len(rest)
    return rest[:end], rest[end:]


def _parse_port(text: str, scheme: str) -> int:
    if not text:
        return SPECIAL_SCHEMES.get(scheme, -1)
    if not text.isascii() or not text.isdigit():
        raise UrlError(f"port {_clip(text)} is not a number")
    digits = text.lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > 65535:
        raise UrlError(f"port {_clip(text)[1:-1]} is out of range (0-65535)")
    return int(digits)


def _parse_hierarchical(scheme: str, rest: str) -> Url:
    """Authority and path of a special URL, or a non-special one that starts with ``//``."""
    special = scheme in SPECIAL_SCHEMES
    authority, tail = _split_authority(rest, special)
    username = password = ""
    at = authority.rfind("@")
    if at >= 0:
        userinfo, authority = authority[:at], authority[at + 1:]
        user, _, pw = userinfo.partition(":")
        username, password = _encode(user, _USERINFO_SET), _encode(pw, _USERINFO_SET)
        if not authority:
            raise UrlError("URL has user info but no host")
    host_text, port_text, depth = authority, "", 0
    for i, c in enumerate(authority):
        depth = 1 if c == "[" else 0 if c == "]" else depth
        if c == ":" and depth == 0:
            host_text, port_text = authority[:i], authority[i + 1:]
            if not host_text:
                raise UrlError("URL has a port but no host")
            break
    if special and not host_text:
        raise UrlError("URL has an empty host")
    host = parse_host(host_text) if special else _parse_opaque_host(host_text)
    port = _parse_port(port_text, scheme)
    path_text, query, fragment = _split_tail(tail, special)
    if special:
        path_text = path_text.replace("\\", "/")
    path = "/" + "/".join(_parse_path(path_text, scheme)) if special or path_text else ""
    return Url(scheme, username, password, host, port, path, query, fragment)


def _parse_file(rest: str) -> Url:
    host = ""
    text, query, fragment = _split_tail(rest, True)
    text = text.replace("\\", "/")
    if text.startswith("//"):
        host_text, text = _split_authority(text[2:], True)
        if _DRIVE_RE.fullmatch(host_text):
            text = f"/{host_text}{text}"  # file://C:/x is a drive letter, not a host
        elif host_text:
            host = parse_host(host_text)
            host = "" if host == "localhost" else host
    path = "/" + "/".join(_parse_path(text, "file"))
    return Url("file", "", "", host, -1, path, query, fragment)


def _printable_except(excluded: frozenset[int], extra: str) -> str:
    """A regex character class body: printable ASCII minus an encode set and ``extra``."""
    return "".join(re.escape(chr(c)) for c in range(0x21, 0x7F)
                   if c not in excluded and chr(c) not in extra)


#: A URL already in the canonical form Chromium hands to the request interceptor: a lowercase
#: special scheme, a plain host, and a path, query and fragment that the parser would leave
#: exactly as they are (nothing to percent-encode, no ``%`` escapes, no dot segments, no
#: ``\``). :func:`parse_url` takes these apart with one regex instead of the full state
#: machine (it decides every request of every page, hundreds per exam page); anything else, and
#: every host, still goes through the full parser's code. ``tests/unit/test_url_properties.py``
#: checks both give the same result.
_CANONICAL_PATH: Final = _printable_except(_PATH_SET, "%/?#\\")
_CANONICAL_QUERY: Final = _printable_except(_SPECIAL_QUERY_SET, "#")
_CANONICAL_FRAGMENT: Final = _printable_except(_FRAGMENT_SET, "")
_CANONICAL_RE: Final = re.compile(
    r"(https?|wss?)://([a-z0-9.\-]+)(?::([0-9]{1,5}))?"
    rf"((?:/(?!\.\.?(?:[/?#]|$))[{_CANONICAL_PATH}]*)*)"
    rf"(?:\?([{_CANONICAL_QUERY}]*))?"
    rf"(?:#([{_CANONICAL_FRAGMENT}]*))?"
)


def parse_url(raw: str) -> Url:
    """Parse an absolute URL as the WHATWG URL parser (and so Chromium) does; see module doc.

    Raises :class:`UrlError` for anything the Standard rejects, for relative references, and for
    hosts that are ambiguous (empty labels) or invalid under IDNA2008. Never raises anything else.
    """
    if not isinstance(raw, str):
        raise UrlError(f"URL must be text, not {type(raw).__name__}")
    canonical = _CANONICAL_RE.fullmatch(raw)
    if canonical is not None:
        scheme, host_text, port_text, path, query, fragment = canonical.groups()
        return Url(scheme, "", "", parse_host(host_text), _parse_port(port_text or "", scheme),
                   path or "/", query, fragment)
    return _parse_full(raw)


def canonical_origin(raw: str) -> str | None:
    """``scheme://host[:port]`` as written in a URL in Chromium's canonical form (see
    ``_CANONICAL_RE``), or None for any other URL. No host parsing: a cache key, not a verdict."""
    canonical = _CANONICAL_RE.fullmatch(raw)
    if canonical is None:
        return None
    return raw[:canonical.end(3) if canonical.group(3) is not None else canonical.end(2)]


def _parse_full(raw: str) -> Url:
    """The WHATWG state machine for any input (see :func:`parse_url`)."""
    text = _clean(raw)
    match = _SCHEME_RE.match(text)
    if match is None:
        raise UrlError("not an absolute URL (no scheme)" if text else "URL is empty")
    scheme = match.group()[:-1].lower()
    rest = text[match.end():]
    if scheme == "file":
        return _parse_file(rest)
    if scheme in SPECIAL_SCHEMES:
        return _parse_hierarchical(scheme, rest.lstrip("/\\"))
    if rest.startswith("//"):
        return _parse_hierarchical(scheme, rest[2:])
    if rest.startswith("/"):
        path_text, query, fragment = _split_tail(rest, False)
        path = "/" + "/".join(_parse_path(path_text, scheme))
        return Url(scheme, "", "", "", -1, path, query, fragment, has_authority=False)
    path_text, query, fragment = _split_tail(rest, False)
    opaque = _encode(path_text, _C0_SET)
    if opaque.endswith(" ") and (query is not None or fragment is not None):
        opaque = opaque[:-1] + "%20"  # so that stripping "?q"/"#f" cannot change the path
    return Url(scheme, "", "", "", -1, opaque, query, fragment,
               has_authority=False, opaque_path=True)


def blob_inner(url: Url) -> Url | None:
    """The http(s) URL a ``blob:`` URL was created under (its origin), or None."""
    if url.scheme != "blob" or not url.opaque_path:
        return None
    try:
        inner = parse_url(url.path)
    except UrlError:
        return None
    return inner if inner.scheme in ("http", "https") else None
