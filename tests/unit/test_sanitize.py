"""Every route to Chromium's remote debugging is removed before Qt starts."""

from __future__ import annotations

import pytest

from lockdown.sanitize import qt_argv, sanitise_environment, split_user_args


def test_dangerous_environment_removed() -> None:
    env = {"QTWEBENGINE_REMOTE_DEBUGGING": "9222", "QTWEBENGINE_CHROMIUM_FLAGS":
           "--remote-debugging-port=9222", "HOME": "/root", "QTWEBENGINE_DISABLE_SANDBOX": "1"}
    removed = sanitise_environment(env)
    assert set(removed) == {"QTWEBENGINE_REMOTE_DEBUGGING", "QTWEBENGINE_CHROMIUM_FLAGS"}
    assert env == {"HOME": "/root", "QTWEBENGINE_DISABLE_SANDBOX": "1"}


@pytest.mark.parametrize(
    "arg",
    ["--remote-debugging-port=9222", "--remote-debugging-pipe", "-remote-debugging-port=1",
     "--REMOTE-DEBUGGING-PORT=9222", "--auto-open-devtools-for-tabs", "--webEngineArgs",
     "--webengineargs", "--no-sandbox", "--single-process", "--js-flags=--allow-natives-syntax",
     "--user-data-dir=/tmp/x", "--renderer-cmd-prefix=gdb", "-qmljsdebugger=port:1234"],
)
def test_dangerous_args_removed(arg: str) -> None:
    kept, removed = split_user_args(["--config", "x.toml", arg])
    assert kept == ["--config", "x.toml"]
    assert removed == [arg]


def test_everything_after_webengineargs_is_refused() -> None:
    kept, removed = split_user_args(["--webEngineArgs", "--harmless-looking", "x"])
    assert kept == []
    assert removed == ["--webEngineArgs", "--harmless-looking", "x"]


def test_qt_argv_is_built_by_the_app() -> None:
    argv = qt_argv("lockdown")
    assert argv[:2] == ["lockdown", "--webEngineArgs"]
    assert not any("remote-debugging" in a or "no-sandbox" in a for a in argv)
