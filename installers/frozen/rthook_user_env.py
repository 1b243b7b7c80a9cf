"""PyInstaller run-time hook, listed first in build.spec so it runs before PyInstaller's own.

PyInstaller's PySide6 hook overwrites ``QT_PLUGIN_PATH`` and ``QML2_IMPORT_PATH`` with folders
inside the bundle. The app removes (and logs) both as attack vectors before Qt starts, so it
must see what the *user* set, not PyInstaller's values: record them here, and
``installers/frozen/entry.py`` puts them back before the app sanitises its environment. Qt finds
its plugins through the qt.conf PySide6 registers, which needs neither variable.
"""

import os
import sys

sys._lockdown_user_env = {  # type: ignore[attr-defined]
    name: os.environ.get(name) for name in ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH")
}
