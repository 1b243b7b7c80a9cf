"""What lets the app reach its first page sooner than a plain PySide6 program does.

Two costs every PySide6 program pays before its first window, taken off the critical path:
:mod:`.preload` maps Qt's libraries in a thread while the policy is read, and :mod:`.code_cache`
spares shiboken6 compiling its own support code at every start. Nothing here imports Qt: it runs
before the first PySide6 import.
"""
