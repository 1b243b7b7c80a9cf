"""Whether Chromium gets its GPU service: only where a GPU can help.

Without a usable GPU (most virtual desktops, Xvfb, a headless display) Chromium still starts its
GPU service (a thread of the browser process in Qt WebEngine), probes OpenGL, Vulkan and GBM,
finds none and falls back to software rendering. That cost the bare view ~25 ms of its start
(about a tenth, measured on a 2-core VM) and the app ~60 MiB, for nothing: pages render the
same. ``auto`` (the ``gpu_acceleration`` setting) turns it off there (``--disable-gpu``), and
leaves it to Chromium wherever a GPU may be present. Windows and macOS always have a GPU path
(WARP, Metal), so ``auto`` leaves them alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

#: Qt platforms that never show anything on a GPU.
SOFTWARE_PLATFORMS = ("offscreen", "minimal", "vnc")
DRI = Path("/dev/dri")


class GpuChoice(NamedTuple):
    switches: tuple[str, ...]
    reason: str


def gpu_choice(setting: str, *, system: str, qt_platform: str, render_node: bool) -> GpuChoice:
    """The Chromium switches for ``gpu_acceleration`` on this machine, and why.

    ``qt_platform`` is ``QT_QPA_PLATFORM`` as set (empty: Qt's default); ``render_node``
    whether this user can open a DRM render node (Linux).
    """
    off = ("--disable-gpu",)
    if setting == "on":
        return GpuChoice((), "gpu_acceleration is on")
    if setting == "off":
        return GpuChoice(off, "gpu_acceleration is off")
    platform = qt_platform.partition(";")[0].partition(":")[0].strip().lower()
    if platform in SOFTWARE_PLATFORMS:
        return GpuChoice(off, f"the Qt platform '{platform}' has no GPU")
    if system.startswith("linux") and not render_node:
        return GpuChoice(off, f"no usable GPU render node in {DRI}")
    return GpuChoice((), "a GPU may be present")


def has_render_node(dri: Path = DRI) -> bool:
    """Whether this user can open a DRM render node (``renderD*``), which GPU drivers provide."""
    try:
        names = os.listdir(dri)
    except OSError:
        return False
    return any(name.startswith("renderD") and os.access(dri / name, os.R_OK | os.W_OK)
               for name in names)
