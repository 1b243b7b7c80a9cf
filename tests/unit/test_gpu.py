"""lockdown.gpu: the GPU process only where a GPU can help, and always as the setting says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockdown.gpu import gpu_choice, has_render_node

OFF = ("--disable-gpu",)


@pytest.mark.parametrize(("setting", "system", "qt_platform", "render_node", "switches"), [
    ("auto", "linux", "", False, OFF),  # a VM or virtual desktop without a GPU
    ("auto", "linux", "xcb", False, OFF),  # Xvfb
    ("auto", "linux", "", True, ()),
    ("auto", "linux", "wayland;xcb", True, ()),
    ("auto", "linux", "offscreen", True, OFF),  # nothing is shown at all
    ("auto", "linux", "Offscreen:fontengine=freetype", True, OFF),
    ("auto", "linux", "vnc:size=800x600", True, OFF),
    ("auto", "win32", "", False, ()),  # Windows and macOS always have a GPU path
    ("auto", "darwin", "", False, ()),
    ("auto", "win32", "offscreen", False, OFF),
    ("on", "linux", "offscreen", False, ()),  # IT's word wins either way
    ("off", "linux", "xcb", True, OFF),
    ("off", "win32", "", True, OFF),
])
def test_the_choice(setting: str, system: str, qt_platform: str, render_node: bool,
                    switches: tuple[str, ...]) -> None:
    choice = gpu_choice(setting, system=system, qt_platform=qt_platform, render_node=render_node)
    assert choice.switches == switches
    assert choice.reason


def test_a_render_node_counts_only_if_this_user_can_open_it(tmp_path: Path) -> None:
    assert not has_render_node(tmp_path / "missing")
    (tmp_path / "card0").touch()  # a display controller alone renders nothing for Chromium
    assert not has_render_node(tmp_path)
    node = tmp_path / "renderD128"
    node.touch(mode=0o600)
    assert has_render_node(tmp_path)
    if os.geteuid() != 0:  # root may open anything
        node.chmod(0)
        assert not has_render_node(tmp_path)
