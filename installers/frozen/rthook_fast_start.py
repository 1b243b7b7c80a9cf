"""PyInstaller run-time hook, listed before PyInstaller's own: its PySide6 hook imports
``PySide6.QtCore`` (to embed a qt.conf) before any of the app's code runs. So the frozen app takes
here the two start-up steps that ``python -m lockdown`` takes in ``lockdown/__main__.py`` and
``lockdown/ui/__init__.py`` (see :mod:`lockdown.startup`): Qt's libraries mapped in a thread,
PySide6's support code from the cache the build recorded.
"""

import sys

from lockdown.startup import code_cache, preload

preload.start_for(sys.argv)
with code_cache.compiled_from_cache():
    import PySide6  # noqa: F401, TID251 - PyInstaller's hook would import it next anyway
