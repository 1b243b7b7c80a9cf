"""Exam launches: what the positional argument is, and which policy layer it becomes.

The app is started by the OS with one argument: a ``numbas://`` lockdown link, a ``seb://`` /
``sebs://`` configuration link, or a ``.seb`` file (also as a ``file://`` URL, which is what some
Linux desktops pass). This module classifies that argument and turns a decoded launch into a
:class:`~lockdown.policy.config.Layer` that is merged over the defaults, the machine policy and
``--config`` exactly like any other user layer, so machine pins still apply:

* a Numbas launch opens the launch URL, allows that host only, and sends the Numbas app's user
  agent (numbas-lti-provider reads ``(Version: ..)`` / ``(Platform: ..)`` from it);
* a SEB configuration brings its mapped settings, including ``seb_config_key``.

Also here, because none of it needs Qt: fetching a configuration over http(s) with the session's
cookies (``seb://`` links), the user agent in SEB mode, the "exam host" test used for the SEB
request headers, and the reconfiguration bundle handed to a restarted process.

Pure Python: Qt is never imported (the UI calls in; tests run without a display).
"""

from __future__ import annotations

import base64
import binascii
import http.cookiejar
import json
import os
import re
import secrets
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

from lockdown import __version__
from lockdown.policy.config import ConfigError, Layer, validate
from lockdown.policy.numbas import NumbasLaunch, current_platform_name, numbas_user_agent
from lockdown.policy.seb.errors import SebError
from lockdown.policy.seb.files import MAX_SEB_BYTES
from lockdown.policy.seb.links import append_start_url_query
from lockdown.policy.seb.mapping import SebMapping, seb_to_settings
from lockdown.policy.settings import Policy
from lockdown.policy.urls import UrlError, parse_url

#: The SEB version we claim in the user agent (``SEB/<version>``). Moodle's quiz access rule
#: only looks for "SEB" in the agent (``seb_access_manager::is_using_seb``); this is a released
#: SEB for Windows version, so servers that parse the number see a plausible one.
SEB_COMPAT_VERSION = "3.8.0"
#: ``SafeExamBrowser.version`` in the page's JavaScript API (SEB for Windows: ``SEB_Windows_x``).
SEB_API_VERSION = f"SEB_lockdown_{SEB_COMPAT_VERSION}"

FETCH_TIMEOUT_S = (10.0, 30.0)  # connect, read
MAX_FETCH_REDIRECTS = 5
_FETCH_CHUNK = 64 * 1024
#: Settings a launch narrows to the exam; left to the machine policy when it pins them.
_SCOPE_KEYS = ("allowed_hosts", "idp_hosts", "url_rules", "login_paths")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_HTML_START = re.compile(rb"\s*(<!doctype\s+html|<html|<head|<body)", re.IGNORECASE)
_WEB_SCHEMES = ("http", "https", "ws", "wss")
_SECURE = {"https": True, "wss": True, "http": False, "ws": False}


class LaunchError(Exception):
    """The launch argument or the exam configuration cannot start an exam.

    The message is shown to the student as is (dialog and one stderr line), so it says what is
    wrong and, where it helps, what to do.
    """


class LaunchKind(Enum):
    NUMBAS = "numbas link"
    SEB_LINK = "seb link"
    SEB_FILE = "seb file"


@dataclass(frozen=True)
class LaunchArgument:
    """A classified launch argument: a link (stripped) or a file path."""

    kind: LaunchKind
    value: str


def classify(argument: str) -> LaunchArgument:
    """Say what the positional argument is, or raise :class:`LaunchError`.

    Only the form is checked here; links are decoded and files read by the caller.
    """
    text = argument.strip() if isinstance(argument, str) else ""
    if not text:
        raise LaunchError("the launch argument is empty: give a numbas:// or seb:// link or"
                          " a .seb file")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise LaunchError("the launch argument contains control characters")
    match = _SCHEME.match(text)
    # A one-letter "scheme" is a Windows drive letter (C:\exam.seb), not a URL.
    scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else ""
    if scheme == "numbas":
        return LaunchArgument(LaunchKind.NUMBAS, text)
    if scheme in ("seb", "sebs"):
        return LaunchArgument(LaunchKind.SEB_LINK, text)
    if scheme == "file":
        text = _file_url_path(text)
    elif scheme:
        hint = " (to open a web page, use --start-url)" if scheme in ("http", "https") else ""
        raise LaunchError(f"'{_shown(text)}' is not a numbas://, seb:// or sebs:// link or a"
                          f" .seb file{hint}")
    if not text.lower().endswith(".seb"):
        raise LaunchError(f"'{_shown(text)}' is not a .seb file (the name must end in .seb)")
    return LaunchArgument(LaunchKind.SEB_FILE, text)


def _file_url_path(url: str) -> str:
    split = urllib.parse.urlsplit(url)
    if split.netloc not in ("", "localhost"):
        raise LaunchError(f"'{_shown(url)}' names a file on another computer")
    path = urllib.parse.unquote(split.path)
    if sys.platform.startswith("win") and re.match(r"/[A-Za-z]:", path):
        path = path[1:]
    return path


def _shown(text: str, limit: int = 120) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "…"


def read_seb_file(path: str) -> bytes:
    """The bytes of a ``.seb`` file, with the size limit and one-line errors."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SEB_BYTES + 1)
    except FileNotFoundError:
        raise LaunchError(f"{_shown(path)}: no such file") from None
    except IsADirectoryError:
        raise LaunchError(f"{_shown(path)}: is a folder, not a .seb file") from None
    except OSError as exc:
        raise LaunchError(f"{_shown(path)}: cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_SEB_BYTES:
        raise LaunchError(f"{_shown(path)}: the file is larger than {MAX_SEB_BYTES} bytes")
    return data


# --------------------------------------------------------------------------- layers


def numbas_layer(launch: NumbasLaunch, *, app_version: str = __version__,
                 platform: str | None = None) -> Layer:
    """The policy layer of a Numbas launch: its URL, its host only, the Numbas user agent."""
    source = f"numbas:// link for {launch.host}"
    raw = {
        "start_url": launch.url,
        "allowed_hosts": [launch.host],
        "idp_hosts": [],
        "url_rules": [],
        "user_agent": numbas_user_agent(app_version, platform or current_platform_name()),
        "user_agent_suffix": "",
    }
    return _layer(raw, source)


def seb_layer(settings: Mapping[str, object], *, source: str,
              start_url_query: str | None = None,
              platform: str | None = None) -> tuple[Layer, SebMapping]:
    """The policy layer of a SEB configuration (and the mapping, for logging what is ignored).

    SEB allows exactly the start URL and what its URL filter rules allow, so host lists from
    lower user layers are cleared. A ``seb://`` link's ``??`` query is appended to the start URL
    when the configuration asks for it (``startURLAppendQueryParameter``).
    """
    try:
        mapping = seb_to_settings(settings, platform=platform)
    except SebError as exc:
        raise LaunchError(f"{source}: {exc}") from None
    raw = dict(mapping.settings)
    start = raw.get("start_url")
    if not isinstance(start, str) or not start:
        raise LaunchError(f"{source}: the configuration has no start URL (startURL)")
    if mapping.start_url_append_query:
        raw["start_url"] = append_start_url_query(start, start_url_query)
    raw.setdefault("url_rules", [])
    raw.update({"allowed_hosts": [], "idp_hosts": []})
    return _layer(raw, source), mapping


def _layer(raw: Mapping[str, object], source: str) -> Layer:
    try:
        return Layer(source, validate(raw, source))
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None


def fit_to_machine(exam: Layer, machine: Layer | None) -> Layer:
    """The exam layer as it may apply under a machine policy.

    A machine-pinned start URL refuses every exam that starts elsewhere (ConfigError). Host lists
    and URL rules the machine pins stay the machine's: the exam cannot widen them, and its own
    narrowing is dropped rather than refusing the exam (the start URL must still be allowed by
    the machine's rules: ``cli.build_policy`` checks that).
    """
    if machine is None:
        return exam
    pinned_start = machine.values.get("start_url")
    start = exam.values.get("start_url")
    if pinned_start is not None and start is not None and start != pinned_start:
        raise ConfigError(
            exam.source,
            f"the machine policy {machine.source} pins the start URL ({pinned_start});"
            f" this exam starts at {start} and is refused",
        )
    values = {key: value for key, value in exam.values.items()
              if not (key in _SCOPE_KEYS and key in machine.values)}
    return Layer(exam.source, values)


# --------------------------------------------------------------------------- hosts and agents


def _normalised_host(url: str) -> tuple[str, str] | None:
    """(scheme, host[:port] with the default port dropped) of a web URL, else None."""
    try:
        parsed = parse_url(url)
    except UrlError:
        return None
    if parsed.scheme not in _WEB_SCHEMES or not parsed.host:
        return None
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    default = 443 if _SECURE[parsed.scheme] else 80
    if parsed.port not in (-1, default):
        host = f"{host}:{parsed.port}"
    return parsed.scheme, host


def numbas_authorization_applies(launch: NumbasLaunch, url: str) -> bool:
    """Whether a request to ``url`` carries the Numbas token.

    As the Numbas app does: every http/https/ws/wss request to the launch URL's host[:port].
    Unlike it, never over a weaker transport than the launch: an https launch sends the token
    only over https/wss.
    """
    target = _normalised_host(url)
    launch_scheme = launch.url.split(":", 1)[0].lower()
    if target is None or target[1] != launch.host:
        return False
    return _SECURE[target[0]] or not _SECURE.get(launch_scheme, True)


@dataclass(frozen=True)
class ExamHosts:
    """The exam's own hosts: the start URL's host:port and ``allowed_hosts`` entries.

    Same meaning as the decider's: ``host`` matches any port, ``host:port`` that port only.
    These hosts get the SEB request headers (identity providers and CDNs do not).
    """

    entries: tuple[tuple[str, int | None], ...] = field(default=())

    @classmethod
    def of(cls, policy: Policy) -> ExamHosts:
        entries: list[tuple[str, int | None]] = []
        if policy.start_url:
            start = parse_url(policy.start_url)
            entries.append((start.host, start.port))
        for entry in policy.allowed_hosts:
            try:
                probe = parse_url(f"http://{entry}/")
            except UrlError:
                continue
            has_port = entry.rsplit("]", 1)[-1].count(":") == 1
            entries.append((probe.host, probe.port if has_port else None))
        return cls(tuple(entries))

    def matches(self, url: str) -> bool:
        try:
            parsed = parse_url(url)
        except UrlError:
            return False
        if parsed.scheme not in _WEB_SCHEMES:
            return False
        return any(parsed.host == host and (port is None or parsed.port == port)
                   for host, port in self.entries)


def seb_user_agent(chromium_agent: str, policy: Policy) -> str:
    """The user agent in SEB mode: the browser's agent, ``SEB/<version>``, then the suffix.

    A configured full agent (``user_agent``) replaces the browser's, as in SEB; ``SEB/...`` is
    still added, since that is what servers look for.
    """
    base = policy.user_agent or f"{chromium_agent} lockdown/{__version__}"
    if "SEB/" not in base:
        base = f"{base} SEB/{SEB_COMPAT_VERSION}"
    return f"{base} {policy.user_agent_suffix}".rstrip()


# --------------------------------------------------------------------------- fetching


def make_cookie(*, name: str, value: str, domain: str, path: str = "/", secure: bool = False,
                http_only: bool = False, expires: int | None = None) -> http.cookiejar.Cookie:
    """An ``http.cookiejar`` cookie from a browser cookie's fields (domain '.x' = domain cookie)."""
    return http.cookiejar.Cookie(
        version=0, name=name, value=value, port=None, port_specified=False,
        domain=domain, domain_specified=domain.startswith("."),
        domain_initial_dot=domain.startswith("."), path=path or "/", path_specified=True,
        secure=secure, expires=expires, discard=expires is None, comment=None,
        comment_url=None, rest={"HttpOnly": ""} if http_only else {},
    )


def fetch_seb_config(url: str, *, cookies: Iterable[http.cookiejar.Cookie] = (),
                     allowed: Callable[[str], bool] = lambda _url: True,
                     session: requests.Session | None = None) -> bytes:
    """Download a configuration file the way SEB does for ``seb://``/``sebs://`` links.

    Sends ``cookies`` (the browser session's, so a login-protected Moodle ``config.php``
    answers), follows at most :data:`MAX_FETCH_REDIRECTS` redirects and only to URLs
    ``allowed`` accepts, verifies TLS, and stops at :data:`MAX_SEB_BYTES`. Every failure is a
    :class:`LaunchError` naming the server.
    """
    import requests  # only for seb:// downloads: keeps ~50 ms off every start-up

    http_session = session or requests.Session()
    for cookie in cookies:
        http_session.cookies.set_cookie(cookie)
    http_session.headers["User-Agent"] = f"lockdown/{__version__} SEB/{SEB_COMPAT_VERSION}"
    current = url
    try:
        for _hop in range(MAX_FETCH_REDIRECTS + 1):
            with http_session.get(current, allow_redirects=False, stream=True,
                                  timeout=FETCH_TIMEOUT_S) as response:
                if response.is_redirect:
                    current = _next_hop(current, response.headers.get("Location", ""), allowed)
                    continue
                return _body(current, response)
    except requests.Timeout:
        raise LaunchError(f"{_host_of(current)} did not answer in time while downloading the"
                          " exam configuration") from None
    except requests.exceptions.SSLError:
        raise LaunchError(f"the certificate of {_host_of(current)} was not accepted; the exam"
                          " configuration was not downloaded") from None
    except requests.ConnectionError:
        raise LaunchError(f"could not connect to {_host_of(current)} to download the exam"
                          " configuration (check the network connection)") from None
    except requests.RequestException as exc:
        raise LaunchError(f"downloading the exam configuration from {_host_of(current)} failed"
                          f" ({type(exc).__name__})") from None
    raise LaunchError(f"{_host_of(url)} redirected more than {MAX_FETCH_REDIRECTS} times")


def _next_hop(current: str, location: str, allowed: Callable[[str], bool]) -> str:
    target = urllib.parse.urljoin(current, location)
    if urllib.parse.urlsplit(target).scheme not in ("http", "https") or not allowed(target):
        raise LaunchError(f"{_host_of(current)} redirected the configuration download to"
                          f" {_shown(target, 80)}, which this exam does not allow")
    return target


def _body(url: str, response: requests.Response) -> bytes:
    if response.status_code != 200:
        raise LaunchError(f"{_host_of(url)} answered {response.status_code}"
                          f" {response.reason or ''} for the exam configuration".rstrip())
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_SEB_BYTES:
        raise LaunchError(f"the exam configuration from {_host_of(url)} is larger than"
                          f" {MAX_SEB_BYTES} bytes")
    data = bytearray()
    for chunk in response.iter_content(_FETCH_CHUNK):
        data += chunk
        if len(data) > MAX_SEB_BYTES:
            raise LaunchError(f"the exam configuration from {_host_of(url)} is larger than"
                              f" {MAX_SEB_BYTES} bytes")
    body = bytes(data)
    if _HTML_START.match(body[:512]):
        raise LaunchError(f"{_host_of(url)} sent a web page instead of an exam configuration"
                          " (log in to the site first, or ask your teacher for a new link)")
    return body


def _host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or _shown(url, 60)


# --------------------------------------------------------------------------- reconfiguration


@dataclass(frozen=True)
class CarriedCookie:
    """A browser cookie handed to the restarted process (fields of ``QNetworkCookie``)."""

    name: str
    value: str
    domain: str
    path: str = "/"
    secure: bool = False
    http_only: bool = False
    expires: int | None = None


@dataclass(frozen=True)
class ReconfigureBundle:
    """What a restarted process needs to continue with a new SEB configuration.

    The configuration as downloaded (and its settings password, if it has one), the link's
    ``??`` query, and the browser's cookies: Chromium writes cookies to disk lazily, so the new
    process gets them explicitly and the student stays logged in.
    """

    seb_data: bytes = field(repr=False)
    source: str
    password: str | None = field(default=None, repr=False)
    start_url_query: str | None = None
    cookies: tuple[CarriedCookie, ...] = field(default=(), repr=False)


def write_bundle(bundle: ReconfigureBundle, directory: Path) -> Path:
    """Write the bundle to a new private file (0600) in ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = {
        "seb": base64.b64encode(bundle.seb_data).decode("ascii"),
        "source": bundle.source,
        "password": bundle.password,
        "start_url_query": bundle.start_url_query,
        "cookies": [vars(cookie) for cookie in bundle.cookies],
    }
    path = directory / f"reconfigure-{secrets.token_hex(8)}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    return path


def take_bundle(path: Path) -> ReconfigureBundle:
    """Read and delete a bundle written by :func:`write_bundle` (it holds session cookies)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LaunchError(f"cannot read the reconfiguration file {path}"
                          f" ({exc.strerror or exc})") from None
    finally:
        path.unlink(missing_ok=True)
    try:
        raw = json.loads(text)
        cookies = tuple(CarriedCookie(**item) for item in raw.get("cookies") or ())
        password, query = raw.get("password"), raw.get("start_url_query")
        if not (password is None or isinstance(password, str)) or not (
                query is None or isinstance(query, str)):
            raise TypeError("password/start_url_query")
        return ReconfigureBundle(
            seb_data=base64.b64decode(str(raw["seb"]), validate=True),
            source=str(raw["source"]), password=password, start_url_query=query,
            cookies=cookies,
        )
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise LaunchError(f"the reconfiguration file {path} is damaged") from None


def restart_command(args: Sequence[str]) -> list[str]:
    """The command line that starts this app again with ``args`` (source run or frozen build)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "lockdown", *args]
