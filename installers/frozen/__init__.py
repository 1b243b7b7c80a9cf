"""Entry point and run-time hook of the PyInstaller build (see build.spec)."""
