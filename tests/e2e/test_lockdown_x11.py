"""OS lockdown of the real app under Xvfb: keyboard grab, clipboard, focus, crash repair.

A second X client (plain libX11 through ctypes) plays "another program": it tries to grab the
keyboard, owns the clipboard, takes the focus and listens for keys on its own window. The app's
JSON log lines say what the app did; the X server's answers say whether it really happened.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockdown.platform import linux
from lockdown.platform.base import MARKER_NAME
from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

GRAB_SUCCESS, ALREADY_GRABBED = 0, 1
GRAB_MODE_ASYNC = 1
KEY_PRESS_MASK = 1 << 0
REVERT_TO_PARENT = 2
XEVENT_SIZE = 192  # sizeof(XEvent) on LP64


class XClient:
    """Another program on the same X display, as far as the tests need one."""

    def __init__(self, display: str) -> None:
        name = ctypes.util.find_library("X11")
        if name is None:
            pytest.fail("libX11 is missing (Debian: apt-get install libx11-6)")
        lib = ctypes.CDLL(name)
        vp, ul, i = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int
        signatures: dict[str, tuple[list[Any], Any]] = {
            "XOpenDisplay": ([ctypes.c_char_p], vp),
            "XCloseDisplay": ([vp], i),
            "XDefaultRootWindow": ([vp], ul),
            "XCreateSimpleWindow": ([vp, ul, i, i, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                                     ul, ul], ul),
            "XSelectInput": ([vp, ul, ctypes.c_long], i),
            "XMapWindow": ([vp, ul], i),
            "XDestroyWindow": ([vp, ul], i),
            "XSetInputFocus": ([vp, ul, i, ul], i),
            "XSync": ([vp, i], i),
            "XCheckWindowEvent": ([vp, ul, ctypes.c_long, ctypes.c_char_p], i),
            "XGrabKeyboard": ([vp, ul, i, i, i, ul], i),
            "XUngrabKeyboard": ([vp, ul], i),
            "XInternAtom": ([vp, ctypes.c_char_p, i], ul),
            "XSetSelectionOwner": ([vp, ul, ul, ul], i),
            "XGetSelectionOwner": ([vp, ul], ul),
        }
        for function, (argtypes, restype) in signatures.items():
            getattr(lib, function).argtypes = argtypes
            getattr(lib, function).restype = restype
        self.lib = lib
        self.handle = lib.XOpenDisplay(display.encode())
        assert self.handle, f"cannot open {display}"
        self.root = int(lib.XDefaultRootWindow(self.handle))
        self.clipboard = int(lib.XInternAtom(self.handle, b"CLIPBOARD", 0))
        self.window = int(lib.XCreateSimpleWindow(self.handle, self.root, 0, 0, 200, 200, 0,
                                                  0, 0))
        lib.XSelectInput(self.handle, self.window, KEY_PRESS_MASK)
        lib.XMapWindow(self.handle, self.window)
        lib.XSync(self.handle, 0)

    def try_grab_keyboard(self) -> int:
        """GrabSuccess or AlreadyGrabbed (another client holds the keyboard); never kept."""
        status = int(self.lib.XGrabKeyboard(self.handle, self.root, 0, GRAB_MODE_ASYNC,
                                            GRAB_MODE_ASYNC, 0))
        if status == GRAB_SUCCESS:
            self.lib.XUngrabKeyboard(self.handle, 0)
        self.lib.XSync(self.handle, 0)
        return status

    def own_clipboard(self) -> None:
        self.lib.XSetSelectionOwner(self.handle, self.clipboard, self.window, 0)
        self.lib.XSync(self.handle, 0)
        assert self.clipboard_owner() == self.window

    def clipboard_owner(self) -> int:
        return int(self.lib.XGetSelectionOwner(self.handle, self.clipboard))

    def take_focus(self) -> None:
        self.lib.XSetInputFocus(self.handle, self.window, REVERT_TO_PARENT, 0)
        self.lib.XSync(self.handle, 0)

    def drain_keys(self) -> int:
        """How many key presses reached this client's window since the last call."""
        self.lib.XSync(self.handle, 0)
        event = ctypes.create_string_buffer(XEVENT_SIZE)
        count = 0
        while self.lib.XCheckWindowEvent(self.handle, self.window, KEY_PRESS_MASK, event):
            count += 1
        return count

    def close(self) -> None:
        self.lib.XDestroyWindow(self.handle, self.window)
        self.lib.XCloseDisplay(self.handle)


@pytest.fixture
def x_client(xvfb_display: str) -> Iterator[XClient]:
    client = XClient(xvfb_display)
    yield client
    client.close()


@pytest.fixture
def x11_env(app_env: dict[str, str], xvfb_display: str) -> dict[str, str]:
    return dict(app_env, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb_display)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll X server state (it has no event to wait for) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def named(name: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())


def xdotool(display: str, *args: str) -> str:
    return linux.xdotool(*args, display=display, timeout_s=30)


def marker(app_env: dict[str, str]) -> Path:
    return Path(app_env["LOCKDOWN_DATA_DIR"]) / MARKER_NAME


def start_locked(start_app: Callable[..., AppProcess], env: dict[str, str]) -> tuple[AppProcess,
                                                                                     int]:
    """Start the app; return it and its window id once it holds the keyboard."""
    app = start_app(env=env)
    grabbed = app.wait_event(named("keyboard.grabbed"))
    app.wait_event(named("environment.checks_done"))
    return app, int(grabbed["window"])


def test_the_app_holds_the_keyboard_clears_the_clipboard_and_keeps_the_focus(
        x11_env: dict[str, str], xvfb_display: str, x_client: XClient,
        start_app: Callable[..., AppProcess]) -> None:
    x_client.own_clipboard()  # text copied before the exam
    app, window = start_locked(start_app, x11_env)

    assert x_client.try_grab_keyboard() == ALREADY_GRABBED
    assert x_client.clipboard_owner() == 0  # cleared: nobody owns it any more
    steps = json.loads(marker(x11_env).read_text(encoding="utf-8"))["steps"]
    assert [s["name"] for s in steps] == ["keyboard", "clipboard"]

    # Fullscreen even without a window manager to apply it: the window covers the screen.
    geometry = dict(line.split("=") for line in
                    xdotool(xvfb_display, "getwindowgeometry", "--shell", str(window)).split())
    assert (geometry["X"], geometry["Y"]) == ("0", "0")
    assert (geometry["WIDTH"], geometry["HEIGHT"]) == ("1280", "800")  # conftest's Xvfb screen

    # Another program takes the focus: keys still go to the exam, and the focus comes back.
    xdotool(xvfb_display, "windowfocus", "--sync", str(window))
    assert wait_until(lambda: linux.x11_focus_within(window, xvfb_display))
    x_client.drain_keys()
    x_client.take_focus()
    xdotool(xvfb_display, "key", "a", "Tab", "super", "alt+Tab")
    assert x_client.drain_keys() == 0
    app.wait_event(named("kiosk.focus_retaken"))
    assert wait_until(lambda: linux.x11_focus_within(window, xvfb_display))

    # Devtools chords typed on the X keyboard are swallowed by the window's own key filter.
    for chord, qt_key in (("F12", 0x0100003B), ("ctrl+shift+i", 0x49), ("ctrl+u", 0x55)):
        xdotool(xvfb_display, "key", chord)
        app.wait_event(named("key.swallowed", key=qt_key))

    # Qt gives up the grab when one of its popup menus closes; the app takes it back.
    xdotool(xvfb_display, "mousemove", "--window", str(window), "200", "200")
    xdotool(xvfb_display, "click", "3")  # the Cut/Copy/Paste menu
    xdotool(xvfb_display, "key", "Escape")
    assert wait_until(lambda: x_client.try_grab_keyboard() == ALREADY_GRABBED)

    app.proc.terminate()
    assert app.wait_exit() == 0
    assert any(e.get("event") == "keyboard.released" for e in app.events)
    assert not marker(x11_env).exists()
    assert x_client.try_grab_keyboard() == GRAB_SUCCESS
    # Control: with the app gone the same keys do reach the other program's window.
    x_client.take_focus()
    xdotool(xvfb_display, "key", "a")
    assert x_client.drain_keys() == 1


def test_sigkill_leaves_a_marker_that_the_next_start_repairs(
        x11_env: dict[str, str], xvfb_display: str, x_client: XClient,
        start_app: Callable[..., AppProcess]) -> None:
    first, window = start_locked(start_app, x11_env)
    assert x_client.try_grab_keyboard() == ALREADY_GRABBED
    # Exam content on the clipboard: the app owns the X selection.
    first.wait_event(named("page.loaded"))
    xdotool(xvfb_display, "windowfocus", "--sync", str(window))
    xdotool(xvfb_display, "key", "ctrl+a", "ctrl+c")
    assert wait_until(lambda: x_client.clipboard_owner() not in (0, x_client.window))

    first.kill()  # SIGKILL: no cleanup ran
    recorded = json.loads(marker(x11_env).read_text(encoding="utf-8"))
    assert recorded["pid"] == first.proc.pid
    assert [s["name"] for s in recorded["steps"]] == ["keyboard", "clipboard"]
    # What the marker says ended with the process really did: nothing holds the keyboard and
    # the exam's clipboard content is gone with its owner.
    assert x_client.try_grab_keyboard() == GRAB_SUCCESS
    assert x_client.clipboard_owner() == 0

    second, _ = start_locked(start_app, x11_env)
    recovered = second.wait_event(named("lockdown.recovered"))
    assert recovered["ended_with_process"] == ["clipboard", "keyboard"]
    assert recovered["restored"] == [] and recovered["failed"] == []
    assert recovered["unknown"] == []
    events = [e["event"] for e in second.events]
    assert events.index("lockdown.recovered") < events.index("lockdown.applied")
    assert json.loads(marker(x11_env).read_text(encoding="utf-8"))["pid"] == second.proc.pid
    assert x_client.try_grab_keyboard() == ALREADY_GRABBED
    second.proc.terminate()
    assert second.wait_exit() == 0
    assert not marker(x11_env).exists()
