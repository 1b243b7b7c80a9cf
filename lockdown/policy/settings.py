"""Every setting the app understands, declared once.

Each setting is a field of :class:`Policy` whose annotation is its type and whose metadata carries
its description and whether a per-URL override may change it. Validation (``config.py``), the
documentation (``python -m lockdown settings``) and the tests that check every default against its
type all derive from this one declaration, so a typo in a setting name fails a test, not an exam.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from lockdown.policy.rules import UrlRule

PopupPolicy = Literal["block", "same_window", "new_window"]
CheckAction = Literal["pass", "warn", "deny"]
ProcessAction = Literal["warn", "terminate", "deny"]
LogFormat = Literal["text", "json"]
ClipboardPolicy = Literal["allow", "block", "isolated"]
GpuAcceleration = Literal["auto", "on", "off"]


def setting(default: Any, description: str, *, per_url: bool = False) -> Any:
    """Declare one setting: its default, what it is for, and whether URL overrides may change it."""
    meta = {"description": description, "per_url": per_url}
    if isinstance(default, list | dict):
        raise TypeError("use tuples for sequence defaults so Policy stays immutable")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class UrlOverride:
    """Per-URL values for settings declared with ``per_url=True`` (qutebrowser-style)."""

    pattern: UrlRule
    values: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Policy:
    """The effective configuration of one exam session (immutable; layers build a new one)."""

    # -- where the exam lives ---------------------------------------------------------------
    start_url: str = setting(
        "", "First page. Its host is allowed automatically. Empty: the embedded demo exam site."
    )
    allowed_hosts: tuple[str, ...] = setting(
        (), "Hosts the exam may reach, as 'host' or 'host:port' (the start URL's host is implied)."
    )
    idp_hosts: tuple[str, ...] = setting(
        (),
        "Single sign-on identity-provider hosts ('host' or 'host:port'). Reachable only during a"
        " login that started on one of login_paths, until the flow returns to the exam host.",
    )
    login_paths: tuple[str, ...] = setting(
        ("/login/",), "Path prefixes on the exam host whose navigation starts a login flow."
    )
    login_timeout_s: int = setting(600, "How long a login flow may stay on the identity provider.")
    url_rules: tuple[UrlRule, ...] = setting(
        (),
        "URL filter rules in Safe Exam Browser form: {action allow|block (or 1|0), active,"
        " expression, regex}. Block rules win over allow rules; nothing matched is blocked.",
    )
    url_filter_enabled: bool = setting(True, "Apply url_rules (SEB URLFilterEnable).")
    url_overrides: tuple[UrlOverride, ...] = setting(
        (),
        "Per-URL values: [{match = '<SEB expression>', <setting> = value, ...}] for settings that"
        " allow it.",
    )
    # -- what pages may do ------------------------------------------------------------------
    popups: PopupPolicy = setting(
        "same_window",
        "Links that open a new window: block, same_window or new_window (SEB"
        " newBrowserWindowByLinkPolicy 0/1/2).",
    )
    downloads_allowed_on: tuple[str, ...] = setting(
        (), "SEB-style expressions of pages allowed to download files (staff pages, never exams)."
    )
    uploads_allowed_on: tuple[str, ...] = setting(
        (), "SEB-style expressions of pages allowed to open a file chooser for upload."
    )
    allow_print: bool = setting(False, "Allow printing pages.", per_url=True)
    spell_check: bool = setting(False, "Enable the spell checker in text fields.", per_url=True)
    allow_reload: bool = setting(True, "Allow F5 / Ctrl+R to reload the page.", per_url=True)
    allow_zoom: bool = setting(True, "Allow Ctrl+plus/minus/0 to zoom.", per_url=True)
    # -- quitting ---------------------------------------------------------------------------
    allow_quit: bool = setting(True, "Show the Quit button and let the user quit.")
    quit_confirm: bool = setting(True, "Ask for confirmation before quitting.")
    quit_password_sha256: str = setting(
        "", "SHA-256 hex of a password needed to quit (SEB hashedQuitPassword). Empty: none."
    )
    quit_url: str = setting("", "Reaching this URL ends the session (SEB quitURL).")
    # -- identity on the wire ---------------------------------------------------------------
    user_agent: str = setting("", "Replaces the whole user agent when set (SEB browserUserAgent).")
    user_agent_suffix: str = setting("", "Appended to the default user agent.")
    numbas_salt: str = setting("", "Salt of the Numbas LTI provider's lockdown links.")
    seb_config_key: str = setting(
        "", "Safe Exam Browser Config Key (64 hex) sent as X-SafeExamBrowser-ConfigKeyHash."
    )
    seb_browser_exam_key: str = setting(
        "", "Browser Exam Key (64 hex) sent as X-SafeExamBrowser-RequestHash."
    )
    # -- environment checks (lockdown/platform) ---------------------------------------------
    vm_check: CheckAction = setting("warn", "Running in a virtual machine: pass, warn or deny.")
    remote_session_check: CheckAction = setting(
        "warn", "Running in a remote-desktop session: pass, warn or deny."
    )
    multiple_displays_check: CheckAction = setting(
        "warn", "More than one display connected: pass, warn or deny."
    )
    max_displays: int = setting(1, "Displays allowed before multiple_displays_check applies.")
    allowed_hostnames: tuple[str, ...] = setting(
        (), "Computer names (shell patterns) of the institution's virtual desktops: VM and"
        " remote-session checks pass there."
    )
    allowed_hypervisors: tuple[str, ...] = setting(
        (), "Hypervisor names (substrings, e.g. 'Hyper-V') the VM check accepts."
    )
    prohibited_processes: tuple[str, ...] = setting(
        (), "Extra process names or paths not allowed during an exam (added to the built-in list)."
    )
    prohibited_process_action: ProcessAction = setting(
        "warn", "What to do about a prohibited process: warn, terminate (with consent) or deny."
    )
    clear_clipboard: bool = setting(True, "Clear the clipboard when the exam starts and ends.")
    clipboard_policy: ClipboardPolicy = setting(
        "isolated",
        "During the exam: allow, block (every change undone) or isolated (copy/paste only inside"
        " the app; other programs never see exam text).",
    )
    # -- attempt journal --------------------------------------------------------------------
    unsaved_banner_delay_s: int = setting(
        60, "Seconds an answer may stay unacknowledged by the server before the red banner shows."
    )
    # -- the engine -------------------------------------------------------------------------
    gpu_acceleration: GpuAcceleration = setting(
        "auto",
        "Chromium's GPU service: auto (off where no GPU can help: Linux without a usable render"
        " node, as on most virtual desktops, or a headless display), on (Chromium decides) or"
        " off (always software rendering).",
    )
    # -- support ----------------------------------------------------------------------------
    log_format: LogFormat = setting("text", "Log lines as human text or JSON lines.")
    log_file: str = setting("", "Also write the log to this file. Empty: the per-user log folder.")

    def for_url(self, url: str) -> Policy:
        """The policy with the per-URL overrides whose pattern matches ``url`` applied."""
        from lockdown.policy.urls import UrlError, parse_url

        if not self.url_overrides:
            return self
        try:
            parsed = parse_url(url)
        except UrlError:
            return self
        changes: dict[str, object] = {}
        for override in self.url_overrides:
            if override.pattern.matches(parsed):
                changes.update(override.values)
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[arg-type]


@dataclass(frozen=True)
class SettingInfo:
    """A setting's declaration as data: what docs and validation are derived from."""

    name: str
    type: Any
    default: object
    description: str
    per_url: bool


def declared_settings() -> tuple[SettingInfo, ...]:
    """All settings, in declaration order."""
    hints = typing.get_type_hints(Policy)
    return tuple(
        SettingInfo(
            name=f.name,
            type=hints[f.name],
            default=f.default,
            description=str(f.metadata["description"]),
            per_url=bool(f.metadata["per_url"]),
        )
        for f in dataclasses.fields(Policy)
    )


SETTINGS: dict[str, SettingInfo] = {s.name: s for s in declared_settings()}


def type_name(tp: Any) -> str:
    """Human name of a setting type for error messages and docs."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return f"list of {type_name(inner)}"
    if tp is UrlRule:
        return "URL rule table {action, expression, regex, active}"
    if tp is UrlOverride:
        return "override table {match, <setting> = value}"
    names = {str: "string", bool: "boolean", int: "integer"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))
