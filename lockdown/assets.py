"""Where the app's resources (pages, JS shims, icons) are, in every way the app can run.

Installed wheels ship ``resources/`` as the package ``lockdown.resources`` (a folder next to this
module), the frozen build as ``sys._MEIPASS/resources``, and a source checkout (``python -m
lockdown`` from the repo, also the editable install) has the top-level ``resources/`` folder
next to the package. All three are plain folders, so they are read as files: importlib.resources
would cost the start page ~2 ms of imports for nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def resource_root() -> Path:
    for root in (_HERE / "resources", Path(getattr(sys, "_MEIPASS", _HERE.parent)) / "resources"):
        if root.is_dir():
            return root
    raise FileNotFoundError(f"lockdown's resources are missing (looked next to {_HERE})")


def read_text(*parts: str) -> str:
    return resource_root().joinpath(*parts).read_text(encoding="utf-8")
