"""``lockdown inspect`` and ``lockdown hash-url``: tools for IT staff, no Qt needed.

``inspect FILE.seb [--password P]`` prints the Config Key first (``config-key: <hex>``),
then the start URL, the effective URL rules and what lockdown will not do.
``inspect 'numbas://...' [--password P] [--salt S]`` prints the decoded launch URL and
host; the access token is shown only as a short SHA-256 fingerprint.
``inspect 'sebs://...'`` prints where the configuration would be fetched from.
``hash-url URL --config-key K [--browser-exam-key B]`` prints the SEB request headers.

Every error is one line on stderr and exit status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from lockdown.policy.numbas import (
    LaunchLinkError,
    NumbasLaunch,
    WrongPasswordError,
    decode_launch_link,
)
from lockdown.policy.seb.errors import SebError, SebPasswordRequired, SebWrongPassword
from lockdown.policy.seb.files import MAX_SEB_BYTES, SebFile, load_seb
from lockdown.policy.seb.hashes import (
    CONFIG_KEY_HASH_HEADER,
    REQUEST_HASH_HEADER,
    config_key_hash,
    request_hash,
    url_without_fragment,
)
from lockdown.policy.seb.links import SebLinkError, parse_seb_link
from lockdown.policy.seb.mapping import SebMapping, seb_to_settings

EXIT_OK = 0
EXIT_ERROR = 2
PASSWORD_ATTEMPTS = 3
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class CommandError(Exception):
    """A user-facing failure: its message is printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see {self.prog} --help)")


def _clean(text: str, limit: int = 2000) -> str:
    """Printable form of untrusted text: control characters escaped, length capped."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask_password(prompt: str) -> str:
    return getpass.getpass(prompt)


def _emit(line: str, stream: TextIO) -> None:
    """Print ``line``; characters the console cannot encode are shown as escapes."""
    try:
        print(line, file=stream)
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        print(line.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def _run(main: Callable[[list[str]], list[str]], argv: Sequence[str]) -> int:
    try:
        lines = main(list(argv))
    except CommandError as exc:
        _emit(f"error: {_clean(str(exc))}", sys.stderr)
        return EXIT_ERROR
    except SystemExit as exc:  # argparse --help
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except (KeyboardInterrupt, EOFError):
        _emit("error: cancelled", sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # last resort: a bug must still not print a traceback
        _emit(f"error: unexpected {type(exc).__name__}: {_clean(str(exc))}", sys.stderr)
        return EXIT_ERROR
    for line in lines:
        _emit(line, sys.stdout)
    return EXIT_OK


# --------------------------------------------------------------------------- .seb files


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_SEB_BYTES:
                raise CommandError(
                    f"{path}: the file is {size} bytes; configuration files are limited "
                    f"to {MAX_SEB_BYTES} bytes"
                )
            return handle.read(MAX_SEB_BYTES + 1)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory, not a .seb file") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def _load_seb(path: str, data: bytes, password: str | None) -> SebFile:
    try:
        return load_seb(data, password=password)
    except SebPasswordRequired:
        if password is not None or not _interactive():
            raise CommandError(
                f"{path}: the file is encrypted with a settings password; pass it with --password"
            ) from None
    except SebError as exc:
        raise CommandError(f"{path}: {exc}") from None
    for _attempt in range(PASSWORD_ATTEMPTS):
        try:
            return load_seb(data, password=_ask_password(f"Settings password for {path}: "))
        except SebWrongPassword:
            print("Wrong password.", file=sys.stderr)
        except SebError as exc:
            raise CommandError(f"{path}: {exc}") from None
    raise CommandError(f"{path}: wrong password ({PASSWORD_ATTEMPTS} attempts)")


def _short(value: object) -> str:
    if value == "":
        return '""'
    return _clean(value if isinstance(value, str) else repr(value), 100)


def _rule_lines(mapping: SebMapping) -> list[str]:
    settings = mapping.settings
    raw_rules = settings.get("url_rules", [])
    rules = (
        [rule for rule in raw_rules if isinstance(rule, dict)]
        if isinstance(raw_rules, list)
        else []
    )
    if settings.get("url_filter_enabled") is not True:
        return [
            "url-filter: off (only the start URL's host and machine-policy allowed hosts "
            "can be reached)"
        ]
    scope = "pages and their resources" if mapping.content_filter else "pages only in SEB"
    lines = [
        f"url-filter: on (SEB applies it to {scope}; lockdown checks every request)",
        "url-rules (block rules first, unmatched requests are blocked, start URL allowed):",
    ]
    active = [rule for rule in rules if rule.get("active")]
    for action in ("block", "allow"):
        for rule in active:
            if rule.get("action") == action:
                kind = "regex" if rule.get("regex") else "wildcard"
                lines.append(f"  {action:<5}  {kind:<8}  {_clean(str(rule.get('expression')))}")
    if not active:
        lines.append("  (none: everything except the start URL is blocked)")
    if len(rules) > len(active):
        lines.append(f"  ({len(rules) - len(active)} inactive rule(s) skipped)")
    return lines


def _seb_report(path: str, seb: SebFile) -> list[str]:
    try:
        mapping = seb_to_settings(seb.settings)
    except SebError as exc:
        raise CommandError(f"{path}: {exc}") from None
    settings = mapping.settings
    lines = [
        f"config-key: {seb.config_key}",
        f"format: {' > '.join(seb.layers)}",
        f"start-url: {_clean(str(settings.get('start_url', '(not set)')))}",
    ]
    if mapping.start_url_append_query:
        lines.append("start-url-query: appended from the seb:// link's ?? part")
    lines += _rule_lines(mapping)
    lines.append("settings:")
    for name in sorted(settings):
        if name not in {"url_rules", "seb_config_key", "start_url"}:
            lines.append(f"  {name} = {_short(settings[name])}")
    lines.append(f"unsupported ({len(mapping.unsupported)}):")
    lines += [f"  {key} = {_short(seb.settings[key])}" for key in mapping.unsupported]
    lines.append(f"unknown keys ({len(mapping.unknown)}):")
    lines += [f"  {_clean(key, 100)}" for key in mapping.unknown]
    lines.append(f"ignored keys: {len(mapping.ignored)}")
    return lines


# --------------------------------------------------------------------------- links


def _fingerprint(token: str) -> str:
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]
    return f"sha256:{digest}… ({len(token)} characters)"


def _decode_numbas(link: str, password: str | None, salt: str) -> NumbasLaunch:
    try:
        return decode_launch_link(link, password=password or "", salt=salt)
    except WrongPasswordError:
        if password is not None or not _interactive():
            hint = "" if password is not None else "; pass the link's password with --password"
            raise CommandError(
                "could not decrypt the link: wrong password or salt" + hint
            ) from None
    except LaunchLinkError as exc:
        raise CommandError(str(exc)) from None
    for _attempt in range(PASSWORD_ATTEMPTS):
        try:
            return decode_launch_link(link, password=_ask_password("Link password: "), salt=salt)
        except WrongPasswordError:
            print("Wrong password.", file=sys.stderr)
        except LaunchLinkError as exc:
            raise CommandError(str(exc)) from None
    raise CommandError(f"could not decrypt the link ({PASSWORD_ATTEMPTS} attempts)")


def _numbas_report(launch: NumbasLaunch) -> list[str]:
    lines = [
        f"launch-url: {_clean(launch.url)}",
        f"host: {launch.host}",
        f"token: {_fingerprint(launch.token)}",
    ]
    if launch.link_host and launch.link_host != launch.host:
        lines.append(f"warning: the link names host {launch.link_host} but launches {launch.host}")
    return lines


def _seb_link_report(link: str) -> list[str]:
    try:
        parsed = parse_seb_link(link)
    except SebLinkError as exc:
        raise CommandError(str(exc)) from None
    lines = [f"config-url: {_clean(parsed.config_url)}"]
    if parsed.start_url_query is not None:
        lines.append(f"start-url-query: {_clean(parsed.start_url_query)}")
    return lines


def _inspect(argv: list[str]) -> list[str]:
    parser = _Parser(
        prog="lockdown inspect",
        description="Show what a .seb file or a numbas:// / seb:// link contains.",
    )
    parser.add_argument("target", help="a .seb file, or a numbas://, seb:// or sebs:// link")
    parser.add_argument("--password", help="settings password (.seb) or link password (numbas)")
    parser.add_argument("--salt", help="institution salt for numbas:// links (default: empty)")
    args = parser.parse_args(argv)
    target: str = args.target
    scheme = target.strip().partition("://")[0].lower() if "://" in target else ""
    if args.salt is not None and scheme != "numbas":
        raise CommandError("--salt only applies to numbas:// links")
    if scheme == "numbas":
        return _numbas_report(_decode_numbas(target, args.password, args.salt or ""))
    if scheme in {"seb", "sebs"}:
        return _seb_link_report(target)
    seb = _load_seb(target, _read_file(target), args.password)
    return _seb_report(target, seb)


def inspect_main(argv: list[str]) -> int:
    """Entry point for ``lockdown inspect``; ``argv`` excludes the command name."""
    return _run(_inspect, argv)


# --------------------------------------------------------------------------- hash-url


def _key_argument(name: str, value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise CommandError(f"{name} must be 64 hexadecimal digits (a SHA-256 key)")
    return value.lower()


def _hash_url(argv: list[str]) -> list[str]:
    parser = _Parser(
        prog="lockdown hash-url",
        description="Print the X-SafeExamBrowser-* header values for a request URL.",
    )
    parser.add_argument("url", help="the request URL exactly as sent (percent-encoded)")
    parser.add_argument("--config-key", required=True, help="the SEB Config Key (64 hex)")
    parser.add_argument("--browser-exam-key", help="a Browser Exam Key (64 hex)")
    args = parser.parse_args(argv)
    url: str = args.url
    if any(ord(ch) <= 32 or ord(ch) >= 127 for ch in url):
        raise CommandError(
            "the URL must be exactly as sent on the wire: percent-encode spaces and "
            "non-ASCII characters"
        )
    split = urllib.parse.urlsplit(url)
    if split.scheme not in {"http", "https", "ws", "wss"} or not split.netloc:
        raise CommandError("the URL must be an absolute http(s):// or ws(s):// URL")
    if url_without_fragment(url) != url:
        print("note: the #fragment is not sent, so it is not hashed", file=sys.stderr)
    config_key = _key_argument("--config-key", args.config_key)
    lines = [f"{CONFIG_KEY_HASH_HEADER}: {config_key_hash(url, config_key)}"]
    if args.browser_exam_key is not None:
        key = _key_argument("--browser-exam-key", args.browser_exam_key)
        lines.append(f"{REQUEST_HASH_HEADER}: {request_hash(url, key)}")
    return lines


def hash_url_main(argv: list[str]) -> int:
    """Entry point for ``lockdown hash-url``; ``argv`` excludes the command name."""
    return _run(_hash_url, argv)
