"""``seb://`` and ``sebs://`` configuration links.

A SEB link names a configuration file on a web server: ``seb://`` means fetch it over
``http://``, ``sebs://`` over ``https://`` (SEB for Windows ``NetworkResourceLoader``
swaps the scheme and keeps the rest). Moodle links to
``sebs://host/mod/quiz/accessrule/seb/config.php?cmid=N`` (``link_generator``).

The Numbas LTI provider appends launch parameters after a double question mark:
``sebs://host/media/seb/file.seb??session_key=...&lti1p3-session-id=...``
(``lockdown_app.make_seb_link``). SEB treats the text after ``??`` as the "start URL query":
when the configuration sets ``startURLAppendQueryParameter``, it is appended to the start URL
(SEB for Windows ``GenerateStartUrl``: after ``&`` if the start URL already has a query,
otherwise after ``?``). SEB for macOS strips the ``??`` part before downloading the file,
and so do we: the file is a static download, the parameters are for the exam page.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

MAX_LINK_LENGTH = 8192
_SCHEMES = {"seb": "http", "sebs": "https"}
#: The link schemes, as the app claims them in pages.
SEB_SCHEMES = tuple(_SCHEMES)
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOSTNAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
_IPV6 = re.compile(r"[0-9a-f:.]+")


class SebLinkError(ValueError):
    """The string is not a usable ``seb://``/``sebs://`` link."""


@dataclass(frozen=True)
class SebLink:
    """A parsed SEB link: where to fetch the configuration, and the start URL query."""

    config_url: str
    start_url_query: str | None


def parse_seb_link(link: str) -> SebLink:
    """Split a ``seb(s)://`` link into the http(s) URL of its file and its ``??`` query."""
    if not isinstance(link, str):
        raise SebLinkError("a SEB link must be a string")
    link = link.strip()
    if len(link) > MAX_LINK_LENGTH:
        raise SebLinkError(f"the SEB link is longer than {MAX_LINK_LENGTH} characters")
    scheme, sep, rest = link.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise SebLinkError("not a SEB link: it must start with seb:// or sebs://")
    rest, _hash, _fragment = rest.partition("#")
    rest, double, query = rest.partition("??")
    if _FORBIDDEN.search(rest):
        raise SebLinkError("the SEB link contains spaces, control characters or backslashes")
    split = urllib.parse.urlsplit(f"{_SCHEMES[scheme.lower()]}://{rest}")
    if "@" in split.netloc:
        raise SebLinkError("the SEB link must not contain a user name or password")
    try:
        _ = split.port
    except ValueError:
        raise SebLinkError("the SEB link has an invalid port") from None
    host = split.hostname or ""
    bracketed = split.netloc.startswith("[")
    if not host or not (_IPV6.fullmatch(host) if bracketed else _HOSTNAME.fullmatch(host)):
        raise SebLinkError("the SEB link has no valid host name")
    config_url = urllib.parse.urlunsplit(
        (split.scheme, split.netloc, split.path or "/", split.query, "")
    )
    return SebLink(config_url=config_url, start_url_query=query if double else None)


def seb_link_to_http(link: str) -> str:
    """The ``http://``/``https://`` URL from which a SEB link's configuration is fetched."""
    return parse_seb_link(link).config_url


def append_start_url_query(start_url: str, query: str | None) -> str:
    """Append a SEB link's ``??`` query to the start URL, as SEB for Windows does."""
    if not query:
        return start_url
    base, _hash, fragment = start_url.partition("#")
    joined = f"{base}&{query}" if "?" in base else f"{base}?{query}"
    return f"{joined}#{fragment}" if _hash else joined
