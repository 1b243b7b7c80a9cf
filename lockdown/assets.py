"""Where the app's resources (pages, JS shims, icons) are, in every way the app can run.

Installed wheels and the frozen build ship ``resources/`` as the package ``lockdown.resources``
(read through importlib.resources); a source checkout (``python -m lockdown`` from the repo, also
the editable install) reads the top-level ``resources/`` folder next to the package.
"""

from __future__ import annotations

import sys
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path


def resource_root() -> Traversable:
    try:
        return resources.files("lockdown.resources")
    except ModuleNotFoundError:
        base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
        return base / "resources"


def read_text(*parts: str) -> str:
    node = resource_root()
    for part in parts:
        node = node / part
    return node.read_text(encoding="utf-8")
