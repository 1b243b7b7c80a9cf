"""Launch-time dialogs: Numbas link passwords (with the OS keyring), SEB settings passwords,
launch errors; and :func:`resolve_launch`, which turns the launch argument into the policy.

Numbas links are tried as the Numbas lockdown app does (``src/main.js``): the empty password
first, then the one saved for the link's host (here: the OS keyring, service
``lockdown-numbas``), then the student is asked, at most :data:`MAX_ATTEMPTS` times, with a
"wrong password" message on retries; a password that worked is offered for saving.

Everything interactive is passed in (``ask``/``offer_save``/``store``), so the flows are tested
without modal dialogs; the defaults are Qt dialogs.

:func:`resolve_launch_or_exit` is what ``app.run`` calls between creating the QApplication (the
dialogs need it) and building the session (the policy must be final by then). It also records
the :class:`LaunchContext` the session's integrations read (the Numbas token, carried cookies).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox, QWidget

from lockdown import log
from lockdown.launch import (
    CarriedCookie,
    LaunchError,
    LaunchKind,
    classify,
    fetch_seb_config,
    numbas_layer,
    read_seb_file,
    seb_layer,
    take_bundle,
)
from lockdown.policy.config import ConfigError, Layer
from lockdown.policy.numbas import (
    LaunchLinkError,
    NumbasLaunch,
    WrongPasswordError,
    decode_launch_link,
)
from lockdown.policy.seb.errors import SebError, SebPasswordRequired, SebWrongPassword
from lockdown.policy.seb.files import SebFile, load_seb
from lockdown.policy.seb.links import SebLinkError, parse_seb_link
from lockdown.policy.settings import Policy

if TYPE_CHECKING:
    from lockdown.cli import Options

KEYRING_SERVICE = "lockdown-numbas"
MAX_ATTEMPTS = 3
EXIT_LAUNCH_ERROR = 2
WARNING = 30

#: Asks for a password: (window title, prompt, error from the last attempt or "") -> password,
#: or None when the student cancels.
Asker = Callable[[str, str, str], str | None]
#: Asks whether to save a password that worked for a host.
SaveOffer = Callable[[str], bool]


class LaunchCancelled(LaunchError):
    """The student closed a password dialog: not an error, but the exam cannot start."""


class PasswordStore(Protocol):
    """Saved Numbas link passwords by host."""

    def get(self, host: str) -> str | None: ...

    def set(self, host: str, password: str) -> None: ...


class KeyringStore:
    """The OS keyring (Secret Service, Keychain, Credential Locker) via ``keyring``.

    A missing or failing keyring backend only costs the convenience: it is logged, never fatal.
    """

    def get(self, host: str) -> str | None:
        try:
            import keyring

            value = keyring.get_password(KEYRING_SERVICE, host)
        except Exception as exc:  # any backend failure (no D-Bus, locked, none installed)
            log.event("keyring.unavailable", "cannot read the OS keyring", level=WARNING,
                      error=type(exc).__name__)
            return None
        return value if isinstance(value, str) else None

    def set(self, host: str, password: str) -> None:
        try:
            import keyring

            keyring.set_password(KEYRING_SERVICE, host, password)
        except Exception as exc:  # same: saving is a convenience
            log.event("keyring.unavailable", "cannot save to the OS keyring", level=WARNING,
                      error=type(exc).__name__)
            return
        log.event("keyring.saved", "Numbas link password saved", host=host)


@dataclass
class LaunchContext:
    """What the session's integrations need from the launch (see ``exam_protocols.install``)."""

    options: Options | None = None
    numbas: NumbasLaunch | None = None
    cookies: tuple[CarriedCookie, ...] = field(default=(), repr=False)


#: The launch of this process: one per process, like its command line.
_launch: list[LaunchContext] = [LaunchContext()]


def current_launch() -> LaunchContext:
    """The launch of this process (empty before :func:`resolve_launch_or_exit`)."""
    return _launch[0]


def set_launch_context(context: LaunchContext) -> None:
    _launch[0] = context


# --------------------------------------------------------------------------- dialogs


def interactive() -> bool:
    """False on Qt's offscreen/minimal platforms, where no one can see or answer a dialog."""
    app = QApplication.instance()
    name = app.platformName() if isinstance(app, QApplication) else ""
    return name not in ("offscreen", "minimal", "")


def ask_password_dialog(title: str, prompt: str, error: str,
                        parent: QWidget | None = None) -> str | None:
    """A modal password field (echo off); None when cancelled or nobody can answer."""
    if not interactive():
        return None
    label = f"{error}\n\n{prompt}" if error else prompt
    text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Password)
    return text if ok else None


def offer_save_dialog(host: str) -> bool:
    if not interactive():
        return False
    answer = QMessageBox.question(
        None, "Save password?",
        f"Save this password in your system's keyring for {host}?\n"
        "Next time, links from this site open without asking.",
    )
    return answer == QMessageBox.StandardButton.Yes


def show_error(message: str, parent: QWidget | None = None) -> None:
    """The launch error as a modal box (when someone can see it)."""
    if interactive():
        QMessageBox.critical(parent, "Cannot start the exam", message)


# --------------------------------------------------------------------------- flows


def _link_host(link: str) -> str:
    return link.strip().partition("://")[2].partition("/")[0].lower()


def unlock_numbas_link(link: str, *, salt: str, store: PasswordStore, ask: Asker,
                       offer_save: SaveOffer, attempts: int = MAX_ATTEMPTS) -> NumbasLaunch:
    """Decode a ``numbas://`` link: empty password, saved password, then the student.

    Raises :class:`LaunchLinkError` for a malformed link (never asks then),
    :class:`LaunchCancelled` when the student cancels and :class:`LaunchError` after
    ``attempts`` wrong passwords.
    """
    try:
        return decode_launch_link(link, password="", salt=salt)
    except WrongPasswordError:
        pass
    host = _link_host(link)
    saved = store.get(host)
    if saved:
        try:
            return decode_launch_link(link, password=saved, salt=salt)
        except WrongPasswordError:
            log.event("numbas.saved_password_rejected", "the saved password did not fit",
                      host=host)
    error = ""
    for attempt in range(1, attempts + 1):
        password = ask("Exam password", f"Password for the exam link from {host}:", error)
        if password is None:
            raise LaunchCancelled("no password was entered, so the exam was not started")
        try:
            launch = decode_launch_link(link, password=password, salt=salt)
        except WrongPasswordError:
            left = attempts - attempt
            error = f"Wrong password. {left} attempt{'s' if left != 1 else ''} left."
            log.event("numbas.wrong_password", "wrong link password", level=WARNING, host=host,
                      attempt=attempt)
            continue
        if password != saved and offer_save(host):
            store.set(host, password)
        return launch
    raise LaunchError(f"wrong password for the exam link from {host} ({attempts} attempts);"
                      " ask your teacher for the password")


def open_seb(data: bytes, *, source: str, ask: Asker, password: str | None = None,
             attempts: int = MAX_ATTEMPTS) -> tuple[SebFile, str | None]:
    """Decode a ``.seb`` configuration, asking for its settings password if it has one.

    Returns the file and the password that opened it (None if it is not encrypted).
    """
    try:
        return load_seb(data, password=password), password
    except (SebPasswordRequired, SebWrongPassword):
        pass  # ask (a carried-over password that no longer fits is asked again too)
    except SebError as exc:
        raise LaunchError(f"{source}: {exc}") from None
    error = ""
    for attempt in range(1, attempts + 1):
        given = ask("Exam configuration password",
                    f"This exam configuration is protected by a password ({source}):", error)
        if given is None:
            raise LaunchCancelled("no password was entered, so the exam was not started")
        try:
            return load_seb(data, password=given), given
        except SebWrongPassword:
            left = attempts - attempt
            error = f"Wrong password. {left} attempt{'s' if left != 1 else ''} left."
        except SebError as exc:
            raise LaunchError(f"{source}: {exc}") from None
    raise LaunchError(f"wrong password for the exam configuration ({attempts} attempts)")


@dataclass
class Dialogs:
    """The interactive pieces of a launch (replaced by tests)."""

    ask: Asker = field(default=ask_password_dialog)
    offer_save: SaveOffer = field(default=offer_save_dialog)
    store: PasswordStore = field(default_factory=KeyringStore)


def resolve_launch(policy: Policy, options: Options,
                   dialogs: Dialogs | None = None) -> tuple[Policy, LaunchContext]:
    """The session policy for the launch argument (or ``policy`` itself when there is none).

    Raises :class:`LaunchError`/:class:`LaunchCancelled` with a message for the student.
    """
    dialogs = dialogs or Dialogs()
    context = LaunchContext(options=options)
    if options.reconfigure is not None:
        bundle = take_bundle(Path(options.reconfigure))
        seb, _password = open_seb(bundle.seb_data, source=bundle.source, ask=dialogs.ask,
                                  password=bundle.password)
        layer, _mapping = seb_layer(seb.settings, source=bundle.source,
                                    start_url_query=bundle.start_url_query)
        context.cookies = bundle.cookies
        return _apply(layer, options), context
    if options.launch_link is None:
        return policy, context
    argument = classify(options.launch_link)
    if argument.kind is LaunchKind.NUMBAS:
        try:
            launch = unlock_numbas_link(argument.value, salt=policy.numbas_salt,
                                        store=dialogs.store, ask=dialogs.ask,
                                        offer_save=dialogs.offer_save)
        except LaunchLinkError as exc:
            raise LaunchError(str(exc)) from None
        context.numbas = launch
        log.event("launch.numbas", "Numbas launch link decoded", host=launch.host)
        return _apply(numbas_layer(launch), options), context
    if argument.kind is LaunchKind.SEB_LINK:
        try:
            link = parse_seb_link(argument.value)
        except SebLinkError as exc:
            raise LaunchError(str(exc)) from None
        source = f"configuration from {link.config_url.split('?', 1)[0]}"
        data = fetch_seb_config(link.config_url)
        query = link.start_url_query
    else:
        source = os.path.basename(argument.value) or argument.value
        data = read_seb_file(argument.value)
        query = None
    seb, _password = open_seb(data, source=source, ask=dialogs.ask)
    layer, mapping = seb_layer(seb.settings, source=source, start_url_query=query)
    log.event("launch.seb", "SEB configuration loaded", source=source,
              config_key=seb.config_key, unsupported=",".join(mapping.unsupported))
    return _apply(layer, options), context


def _apply(layer: Layer, options: Options) -> Policy:
    if options.exam_policy is None:
        raise LaunchError("this build cannot apply exam configurations")  # pragma: no cover
    try:
        return options.exam_policy(layer)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None


def resolve_launch_or_exit(policy: Policy, options: Options) -> Policy:
    """:func:`resolve_launch` for ``app.run``; on failure one stderr line, a box, exit 2."""
    try:
        resolved, context = resolve_launch(policy, options)
    except Exception as exc:  # a launch problem, or a bug: either way one line, no traceback
        _exit_with(exc)
    set_launch_context(context)
    return resolved


def _exit_with(exc: Exception) -> None:
    cancelled = isinstance(exc, LaunchCancelled)
    message = str(exc) if isinstance(exc, LaunchError) else (
        f"unexpected {type(exc).__name__} while starting the exam: {exc}")
    log.event("launch.failed", message, level=WARNING, cancelled=cancelled)
    print(f"lockdown: launch error: {message}", file=sys.stderr)
    if not cancelled:
        show_error(message)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_LAUNCH_ERROR)  # nothing WebEngine-related exists yet; nothing to save
