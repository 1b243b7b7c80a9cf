"""Build and packaging tools (PyInstaller app, .deb, MSI, pkg/dmg); never imported by the app."""
