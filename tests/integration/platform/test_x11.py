"""The X11 helpers against a real X server (Xvfb), cross-checked with xdotool."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from lockdown.platform import linux

needs_xlib = pytest.mark.skipif(ctypes.util.find_library("X11") is None, reason="no libX11")
needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb; ``-displayfd`` tells us its display once it accepts connections."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "r") as announced:
            number = announced.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


class Client:
    """A minimal X client (via libX11) that owns windows and sets the keyboard focus."""

    def __init__(self, display: str) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XDefaultRootWindow.restype = ctypes.c_ulong
        lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        lib.XCreateSimpleWindow.restype = ctypes.c_ulong
        # display, parent, x, y, width, height, border width, border colour, background colour
        lib.XCreateSimpleWindow.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        for name in ("XMapWindow", "XDestroyWindow"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        lib.XSetInputFocus.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.handle = lib.XOpenDisplay(display.encode())
        assert self.handle, f"cannot open {display}"
        self.root = int(lib.XDefaultRootWindow(self.handle))

    def window(self, parent: int) -> int:
        window = int(self.lib.XCreateSimpleWindow(self.handle, parent, 0, 0, 100, 100, 0, 0, 0))
        self.lib.XMapWindow(self.handle, window)
        self.lib.XSync(self.handle, 0)
        return window

    def focus(self, window: int) -> None:
        revert_to_parent = 2
        self.lib.XSetInputFocus(self.handle, window, revert_to_parent, 0)
        self.lib.XSync(self.handle, 0)

    def close(self) -> None:
        self.lib.XCloseDisplay(self.handle)


@needs_xlib
def test_unreachable_display_is_a_clear_error() -> None:
    with pytest.raises(linux.X11Error, match="Cannot open the X display ':987'"):
        linux.x11_input_focus(":987")


@needs_xlib
@needs_xvfb
def test_focus_helpers_follow_the_keyboard_focus(xvfb: str) -> None:
    assert linux.x11_input_focus(xvfb) == 1  # a fresh server: focus follows the pointer
    client = Client(xvfb)
    try:
        exam = client.window(client.root)
        dialog = client.window(exam)  # a child, like an embedded widget
        other = client.window(client.root)

        client.focus(dialog)
        assert linux.x11_input_focus(xvfb) == dialog
        assert linux.x11_focus_within(exam, xvfb)  # focus inside the exam window counts
        assert not linux.x11_focus_within(other, xvfb)

        client.focus(other)
        assert not linux.x11_focus_within(exam, xvfb)  # the UI would take the focus back now
        if linux.xdotool_available():
            assert int(linux.xdotool("getwindowfocus", display=xvfb)) == other
    finally:
        client.close()
