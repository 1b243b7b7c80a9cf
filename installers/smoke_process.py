"""The app as a watched process, for the smoke test (``installers/smoke.py``): its stderr sorted
into JSON log events and other lines, the allow-list those other lines are held to, and what the
OS says about the process tree (listening ports, sandbox namespaces, command lines).

Qt-free on purpose: the smoke test judges the app from outside, the way it runs on exam PCs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil


class SmokeError(Exception):
    """The app failed the smoke test; the message says which check and shows the evidence."""


def check(condition: bool, message: Callable[[], str]) -> None:
    """Raise :class:`SmokeError` with ``message()`` (built only when needed) unless true."""
    if not condition:
        raise SmokeError(message())


class Prefix(str):
    """An expected event field that only has to start with this text."""

    __slots__ = ()


Noise = tuple[tuple[re.Pattern[str], str], ...]


def _noise(*entries: tuple[str, str]) -> Noise:
    return tuple((re.compile(pattern), why) for pattern, why in entries)


_CHROMIUM = r"^\[\d+:\d+:\d+/\d+\.\d+:(?:ERROR|WARNING):[^\]]*"
#: stderr lines that are not the app's: the known noise of a headless machine without GPU,
#: display server or system D-Bus. Each needs a reason; anything else fails the smoke test.
NOISE: Noise = _noise(
    (r"^QRhiGles2: Failed to create (temporary )?context$", "no OpenGL: software rendering"),
    (r"^Failed to create RHI for backend: OpenGL$", "no OpenGL: software rendering"),
    (r"^This plugin does not support createPlatformVulkanInstance$", "offscreen: no Vulkan"),
    (r"^QVulkanInstance: Failed to initialize Vulkan$", "no Vulkan driver"),
    (r"^GBM is not supported with the current configuration and Vulkan is not available\."
     r" Fallback to software rendering\.$", "no GPU buffers: software rendering"),
    (r"^GPUInfo not initialized on GpuInfoUpdate$", "Chromium has no GPU to describe"),
    (r"^This plugin does not support propagateSizeHints\(\)$", "offscreen platform plugin"),
    (_CHROMIUM + r"dbus/bus\.cc:\d+\] Failed to connect to the bus: ",
     "containers and CI runners have no system D-Bus (Chromium asks it for power state)"),
    (r"^Release of profile requested but WebEnginePage still not deleted\. Expect troubles !$",
     "Qt's shutdown order message; the app deletes pages first, Qt still prints it"),
    (_CHROMIUM + r"interface_endpoint_client\.cc:\d+\] Message \d+ rejected by interface"
     r" blink\.mojom\.Widget(Host)?$",
     "a page torn down mid-navigation (the blocked page replacing a refused redirect) drops"
     " its pending widget messages, either way (Widget, WidgetHost); seen on the offscreen"
     " platform in about one run in ten"),
    (_CHROMIUM + r"shared_image_manager\.cc:\d+\] SharedImageManager::ProduceMemory: Trying to"
     r" Produce a Memory representation from a non-existent mailbox\.$",
     "the same teardown seen from software compositing: a frame of the replaced page is asked"
     " for after its image was freed; seen on the frozen build under CPU load (1 run in 40)"),
)
#: Extra noise expected only when the caller switched the sandbox off (root in CI containers).
SANDBOX_OFF_NOISE: Noise = _noise(
    (r"^Sandboxing disabled by user\.$", "Qt confirms QTWEBENGINE_DISABLE_SANDBOX=1"),
    (_CHROMIUM + r"zygote_communication_linux\.cc:\d+\] Failed to send GetTerminationStatus"
     r" message to zygote$", "without the sandbox the zygote exits before the browser asks"),
)
#: Expected only on an X display (the keyboard scenario, QT_QPA_PLATFORM=xcb) without a GPU:
#: Xvfb's GLX is Mesa's software rasteriser. Each line was seen in every run here, the last one
#: in most runs (source as root and frozen build as nobody, 10 runs each).
X11_NOISE: Noise = _noise(
    (r"^Failed to load vulkan: Cannot load library vulkan: ",
     "xcb: Qt looks for a Vulkan loader (libvulkan); none installed"),
    (r"^initInstance: No Vulkan library available$", "xcb: no Vulkan loader"),
    (r"^Failed to create platform Vulkan instance$", "xcb: no Vulkan loader"),
    (r"^Unable to detect GPU vendor for device: .*\b(llvmpipe|softpipe)\b",
     "Qt's RHI on Mesa's software OpenGL (Xvfb has no GPU)"),
    (r"^GLX: No DRI3 Extension\.$", "Mesa's GLX on Xvfb, which has no DRI3 (no GPU)"),
    (_CHROMIUM + r"command_buffer_proxy_impl\.cc:\d+\] ContextResult::kTransientFailure:"
     r" Failed to send GpuControl\.CreateCommandBuffer\.$",
     "Chromium's first GPU context on software GL is transient; it retries (the page renders"
     " and takes the keys)"),
)
#: Expected only in the TLS phase: Chromium logs the refused handshake itself (-202 is
#: ERR_CERT_AUTHORITY_INVALID, the self-signed certificate).
TLS_NOISE: Noise = _noise(
    (_CHROMIUM + r"ssl_client_socket_impl\.cc:\d+\] handshake failed; returned -1,"
     r" SSL error code 1, net_error -202$", "the refused self-signed certificate"),
    # Seen intermittently from the sandboxed renderer showing the certificate error: it
    # initialises fontconfig, which cannot read /etc/fonts inside the seccomp sandbox. Text still
    # renders (fonts reach renderers through the browser process).
    (r"^Fontconfig error: Cannot load default config file: No such file: \(null\)$",
     "fontconfig inside the sandboxed renderer of the error page"),
)
#: Expected only from a debug build (``LOCKDOWN_BUILD_DEBUG=1``): PyInstaller's bootloader log.
DEBUG_BUILD_NOISE: Noise = _noise(
    (r"^\[PYI-\d+:(DEBUG|INFO|WARNING)\] ", "bootloader messages of a debug build"),
)


def unexpected_lines(lines: Iterable[str], sandbox_off: bool = False,
                     extra: Sequence[tuple[re.Pattern[str], str]] = ()) -> list[str]:
    """The stderr lines that are neither JSON log events nor allow-listed noise."""
    debug = DEBUG_BUILD_NOISE if os.environ.get("LOCKDOWN_BUILD_DEBUG") == "1" else ()
    allowed = NOISE + (SANDBOX_OFF_NOISE if sandbox_off else ()) + debug + tuple(extra)
    return [line for line in lines
            if line.strip() and not any(pattern.search(line) for pattern, _ in allowed)]


_EVENT_START = re.compile(r'\{"ts": ')


def _as_event(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) and "event" in parsed else None


class LineSorter:
    """Sorts stderr lines into the app's JSON events and everything else, undoing interleaving.

    The browser and its Chromium helpers share one stderr pipe. The app writes each event in one
    ``write`` (atomic on a pipe), but C libraries may not: fontconfig in a renderer writes
    ``Fontconfig error: `` and the rest of its message separately, so an event can land in the
    middle of its line (``Fontconfig error: {"ts": ...}`` then ``Cannot load default config
    file: ...``). Such an event is taken out and the foreign text before it is joined to the
    next line that is not an event, which gives back both lines as they were written.
    """

    def __init__(self) -> None:
        self._fragment = ""

    def feed(self, line: str) -> tuple[dict[str, Any] | None, str | None]:
        """One line in; (the event it holds or None, a finished other line or None)."""
        found = _as_event(line)
        if found is not None:
            return found, None
        for match in _EVENT_START.finditer(line, 1):
            found = _as_event(line[match.start():])
            if found is not None:
                self._fragment += line[:match.start()]
                return found, None
        other, self._fragment = self._fragment + line, ""
        return None, other

    def close(self) -> str | None:
        """At the end of stderr: a fragment never completed (a line of its own then)."""
        rest, self._fragment = self._fragment, ""
        return rest or None


@dataclass
class AppRun:
    """A started app: its JSON events and other stderr lines, collected by a reader thread."""

    proc: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    eof: bool = False  # the reader saw the end of stderr: every line is in

    def start_reader(self) -> threading.Thread:
        thread = threading.Thread(target=self._read, name="smoke-stderr", daemon=True)
        thread.start()
        return thread

    def _read(self) -> None:
        assert self.proc.stderr is not None
        sorter = LineSorter()
        for raw in self.proc.stderr:
            found, other = sorter.feed(raw.rstrip("\r\n"))
            with self.cond:
                if found is not None:
                    self.events.append(found)
                if other is not None:
                    self.other.append(other)
                self.cond.notify_all()
        rest = sorter.close()
        with self.cond:
            if rest is not None:
                self.other.append(rest)
            self.eof = True
            self.cond.notify_all()

    def find(self, name: str, **fields: object) -> dict[str, Any] | None:
        """The first event called ``name`` whose fields equal these (or start with a Prefix)."""

        def matches(actual: object, expected: object) -> bool:
            if isinstance(expected, Prefix):
                return isinstance(actual, str) and actual.startswith(expected)
            return actual == expected

        with self.cond:
            return next((e for e in self.events if e.get("event") == name
                         and all(matches(e.get(k), v) for k, v in fields.items())), None)

    def find_all(self, name: str) -> list[dict[str, Any]]:
        with self.cond:
            return [e for e in self.events if e.get("event") == name]

    def wait_event(self, name: str, timeout: float, **fields: object) -> dict[str, Any]:
        """Wait (on the reader's notifications, no polling) for an event; fail with the tail."""
        with self.cond:
            self.cond.wait_for(lambda: self.find(name, **fields) is not None or self.eof,
                               timeout=timeout)
        found = self.find(name, **fields)
        if found is None:
            raise SmokeError(f"no {name} event {fields or ''} within {timeout:.0f} s"
                             f" (exit status {self.proc.poll()})\n{self.tail()}")
        return found

    def wait_exit(self, timeout: float, after: str) -> None:
        """The app ends with status 0 within ``timeout`` of ``after`` (SIGTERM, the quit dialog)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SmokeError(f"no exit within {timeout:.0f} s of {after}\n{self.tail()}") from None
        check(code == 0, lambda: f"exit status {code} after {after}\n{self.tail()}")

    def tail(self) -> str:
        with self.cond:
            events = [json.dumps(e)[:300] for e in self.events[-12:]]
            other = self.other[-12:]
        return "last events:\n  " + "\n  ".join(events) + "\nlast other stderr:\n  " + \
            "\n  ".join(other)

    def tree(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def listening_ports(processes: Iterable[psutil.Process]) -> list[tuple[int, str, int]]:
    """(pid, name, port) of every listening TCP socket of these processes."""
    found = []
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((proc.pid, proc.name(), int(getattr(conn.laddr, "port", 0))))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def cmdlines_with(processes: Iterable[psutil.Process], text: str) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose command line contains ``text``: what
    Chromium's helpers were really told, whatever the app logged about removing it."""
    found = []
    for proc in processes:
        try:
            cmdline = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if text in cmdline:
            found.append((proc.pid, cmdline[:300]))
    return found


def sandbox_problems(processes: Sequence[psutil.Process],
                     readlink: Callable[[str], str] = os.readlink) -> list[str]:
    """Linux: why the Chromium sandbox is not on (empty when it is).

    Chromium forks renderers from its sandboxed zygote (they keep the zygote's command line,
    ``--type=zygote`` without ``--no-zygote-sandbox``); that zygote and everything it forks live
    in new user and PID namespaces. A sandboxed zygote sharing the browser's user namespace, no
    such zygote at all, or any process started with ``--no-sandbox`` means no sandbox.
    """
    if not processes:
        return ["the app is not running"]
    browser = processes[0]
    sandboxed: list[psutil.Process] = []
    problems: list[str] = []
    for proc in processes[1:]:
        try:
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if "--no-sandbox" in cmdline:
            problems.append(f"pid {proc.pid} runs with --no-sandbox")
        if "--type=zygote" in cmdline and "--no-zygote-sandbox" not in cmdline:
            sandboxed.append(proc)
    if not sandboxed:
        problems.append("no sandboxed zygote process found")

    def namespace(pid: int) -> str:
        return readlink(f"/proc/{pid}/ns/user")

    for proc in sandboxed:
        try:
            if namespace(proc.pid) == namespace(browser.pid):
                problems.append(f"zygote/renderer {proc.pid} shares the browser's user namespace")
        except OSError as exc:
            problems.append(f"cannot read the namespace of {proc.pid}: {exc}")
    return problems
