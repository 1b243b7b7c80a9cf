"""Remove every user-controlled route to Chromium's remote debugging before Qt starts.

Qt WebEngine reads ``QTWEBENGINE_REMOTE_DEBUGGING`` and ``QTWEBENGINE_CHROMIUM_FLAGS`` from the
environment and Chromium switches from argv after ``--webEngineArgs``. Any of them can open a
DevTools port, which would let a student read the correct answers Numbas keeps in the page. So the
app drops them all and builds the Chromium argument list itself.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

#: Environment variables that change what Chromium does; removed (and logged) before QApplication.
DANGEROUS_ENV = (
    "QTWEBENGINE_REMOTE_DEBUGGING",
    "QTWEBENGINE_CHROMIUM_FLAGS",
    "QTWEBENGINE_DICTIONARIES_PATH",
    "QTWEBENGINE_RESOURCES_PATH",
    "QTWEBENGINE_LOCALES_PATH",
    "QTWEBENGINEPROCESS_PATH",
    "QTWEBENGINE_INSPECTOR_SERVER",
    "QT_WEBENGINE_DEBUG",
    "QTWEBENGINE_DISABLE_GPU_THREAD",
    "QTWEBENGINE_DEVTOOLS_PORT",
    "QT_PLUGIN_PATH",
    "QML2_IMPORT_PATH",
    "QT_QPA_PLATFORM_PLUGIN_PATH",
    "LD_PRELOAD",
    "LD_AUDIT",
)

#: Switches refused wherever they appear (prefix match, with or without '=value').
DANGEROUS_SWITCHES = (
    "--remote-debugging",
    "--auto-open-devtools-for-tabs",
    "--webengineargs",
    "--remote-allow-origins",
    "--inspect",
    "--devtools",
    "--enable-logging",
    "--single-process",
    "--no-sandbox",
    "--disable-web-security",
    "--user-data-dir",
    "--js-flags",
    "--renderer-cmd-prefix",
    "--utility-cmd-prefix",
    "--gpu-launcher",
    "--load-extension",
    "-qmljsdebugger",
)

#: Chromium switches the app always sets. Kept small: each costs start-up time or memory.
FIXED_CHROMIUM_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-pings",
    "--disable-features=MediaRouter,OptimizationHints,Translate,DnsOverHttps",
)


@dataclass(frozen=True)
class SanitiseReport:
    """What was removed, so the app can log every attempt (support staff want to see them)."""

    removed_env: tuple[str, ...]
    removed_args: tuple[str, ...]


def is_dangerous_arg(arg: str) -> bool:
    lowered = arg.lower()
    # '--x' and '-x' are the same switch to Chromium; qt options use one dash.
    normalised = "--" + lowered.lstrip("-") if lowered.startswith("-") else lowered
    return any(normalised.startswith("--" + s.lstrip("-")) for s in DANGEROUS_SWITCHES)


def sanitise_environment(env: MutableMapping[str, str]) -> tuple[str, ...]:
    """Delete dangerous variables from ``env`` in place; return their names."""
    removed = tuple(name for name in DANGEROUS_ENV if name in env)
    for name in removed:
        del env[name]
    return removed


def split_user_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate the user's argv into the app's own arguments and refused Chromium/Qt switches.

    Everything after a ``--webEngineArgs`` marker is refused, as is any dangerous switch anywhere.
    """
    kept: list[str] = []
    removed: list[str] = []
    in_engine_args = False
    for arg in argv:
        if arg.lower() == "--webengineargs":
            in_engine_args = True
            removed.append(arg)
        elif in_engine_args or is_dangerous_arg(arg):
            removed.append(arg)
        else:
            kept.append(arg)
    return kept, removed


def qt_argv(argv0: str, extra_flags: Sequence[str] = ()) -> list[str]:
    """The complete argv handed to QApplication: built by the app, never taken from the user.

    The Chromium sandbox is never disabled here: only ``QTWEBENGINE_DISABLE_SANDBOX=1``, which Qt
    itself reads (needed to run as root in CI), can do that.
    """
    return [argv0, "--webEngineArgs", *FIXED_CHROMIUM_FLAGS, *extra_flags]


def sanitise_process(argv: Sequence[str]) -> tuple[list[str], SanitiseReport]:
    """Clean ``os.environ`` and the user's arguments; return the kept arguments and a report."""
    removed_env = sanitise_environment(os.environ)
    kept, removed_args = split_user_args(argv)
    return kept, SanitiseReport(removed_env=removed_env, removed_args=tuple(removed_args))
