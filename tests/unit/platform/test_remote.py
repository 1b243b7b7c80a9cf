"""Remote-session indicators and the remote-session check."""

from __future__ import annotations

import pytest

from lockdown.platform.checks import EnvironmentPolicy
from lockdown.platform.remote import (
    posix_remote_indicators,
    remote_check,
    windows_remote_indicators,
    x_display_host,
)


@pytest.mark.parametrize(
    ("display", "host"),
    [
        (":0", ""),
        (":0.0", ""),
        ("unix:1", ""),
        ("", ""),
        ("/private/tmp/com.apple.launchd.abc/org.xquartz:0", ""),
        ("localhost:10.0", "localhost"),
        ("lab-server.example.ac.uk:2", "lab-server.example.ac.uk"),
        ("[::1]:10", "[::1]"),
    ],
)
def test_x_display_host(display: str, host: str) -> None:
    assert x_display_host(display) == host


def test_local_desktop_has_no_indicators() -> None:
    env = {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "HOME": "/home/s"}
    assert posix_remote_indicators(env) == []


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SSH_CONNECTION": "10.0.0.2 5555 10.0.0.1 22", "DISPLAY": ":0"}, "SSH"),
        ({"SSH_TTY": "/dev/pts/3"}, "SSH"),
        ({"XRDP_SESSION": "1", "DISPLAY": ":10"}, "xrdp"),
        ({"CHROME_REMOTE_DESKTOP_SESSION": "1", "DISPLAY": ":20"}, "Chrome Remote Desktop"),
        ({"DISPLAY": "localhost:10.0"}, "another host ('localhost'"),
    ],
)
def test_posix_indicators(env: dict[str, str], needle: str) -> None:
    found = posix_remote_indicators(env)
    assert len(found) == 1
    assert needle in found[0]


def test_windows_indicators() -> None:
    assert (
        windows_remote_indicators(
            remote_session=False, remote_control=False, session_name="Console"
        )
        == []
    )
    rdp = windows_remote_indicators(
        remote_session=True, remote_control=False, session_name="RDP-Tcp#3"
    )
    assert rdp == ["Windows reports a Remote Desktop session (SM_REMOTESESSION)"]
    shadowed = windows_remote_indicators(
        remote_session=False, remote_control=True, session_name="Console"
    )
    assert shadowed == ["this session is being remotely controlled (SM_REMOTECONTROL)"]
    by_name = windows_remote_indicators(
        remote_session=False, remote_control=False, session_name="rdp-tcp#0"
    )
    assert by_name == ["the session name is 'rdp-tcp#0'"]


def test_remote_check_statuses() -> None:
    found = ["the app was started over SSH"]
    assert remote_check([], EnvironmentPolicy(remote_session="deny")).status == "pass"
    warn = remote_check(found, EnvironmentPolicy(), hostname="pc")
    assert warn.status == "warn"
    assert warn.detail == "This is a remote session: the app was started over SSH."
    assert warn.advice
    assert (
        remote_check(found, EnvironmentPolicy(remote_session="deny"), hostname="pc").status
        == "deny"
    )
    vdi = EnvironmentPolicy(remote_session="deny", allowed_hostnames=("avd-*",))
    assert remote_check(found, vdi, hostname="avd-3").status == "pass"
