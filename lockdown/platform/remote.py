"""Remote-session detection: pure decisions over environment variables and OS answers.

A remote session (RDP, VNC, SSH X forwarding, Chrome Remote Desktop, xrdp...) means someone
other than the student could see or drive the exam. The institution's own virtual desktops are
remote sessions too, hence the allow-list in :class:`EnvironmentPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lockdown.platform.checks import CheckResult, EnvironmentPolicy, decide

REMOTE_ADVICE = (
    "Sit the exam at the computer itself, not through a remote connection. If this is your "
    "institution's virtual desktop, tell the invigilator so it can be added to the allow-list."
)


def x_display_host(display: str) -> str:
    """The host part of an X ``DISPLAY``: ``"localhost"`` for ``localhost:10.0``, ``""`` for ``:0``.

    ``unix:0`` and ``:0`` are local; a ``/``-path (macOS XQuartz launchd socket) is local too.
    """
    if not display or display.startswith("/"):
        return ""
    host, sep, _ = display.rpartition(":")
    if not sep or host == "unix":
        return ""
    return host


def posix_remote_indicators(env: Mapping[str, str]) -> list[str]:
    """Signs of a remote session in a Linux/macOS process environment."""
    found: list[str] = []
    if env.get("SSH_CONNECTION") or env.get("SSH_CLIENT") or env.get("SSH_TTY"):
        found.append("the app was started over SSH")
    if env.get("XRDP_SESSION") or env.get("XRDP_SOCKET_PATH"):
        found.append("this is an xrdp remote-desktop session")
    if env.get("CHROME_REMOTE_DESKTOP_SESSION"):
        found.append("this is a Chrome Remote Desktop session")
    host = x_display_host(env.get("DISPLAY", ""))
    if host:
        found.append(f"the X display is on another host ({host!r}, e.g. SSH X forwarding)")
    return found


def windows_remote_indicators(
    *, remote_session: bool, remote_control: bool, session_name: str
) -> list[str]:
    """Signs of a remote session from ``GetSystemMetrics`` and the ``SESSIONNAME`` variable.

    ``SM_REMOTESESSION`` is non-zero in a Remote Desktop (RDP, AVD) session; ``SM_REMOTECONTROL``
    is non-zero while the session is being shadowed (remotely controlled). ``SESSIONNAME`` is
    ``Console`` locally and ``RDP-Tcp#N`` over RDP.
    """
    found: list[str] = []
    if remote_session:
        found.append("Windows reports a Remote Desktop session (SM_REMOTESESSION)")
    if remote_control:
        found.append("this session is being remotely controlled (SM_REMOTECONTROL)")
    if session_name.upper().startswith("RDP-") and not remote_session:
        found.append(f"the session name is {session_name!r}")
    return found


def remote_check(
    indicators: Sequence[str], policy: EnvironmentPolicy, *, hostname: str | None = None
) -> CheckResult:
    """The environment check result for the remote-session indicators under ``policy``."""
    allowed = None
    if indicators and policy.hostname_allowed(hostname):
        allowed = "This computer is on the institution's allow-list."
    detail = "This is a remote session: " + "; ".join(indicators) + "."
    return decide(
        "remote-session",
        policy.remote_session,
        found=bool(indicators),
        detail=detail,
        advice=REMOTE_ADVICE,
        clear_detail="No sign of a remote session was found.",
        allowed_detail=allowed,
    )
