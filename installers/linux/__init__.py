"""Linux packaging: the .deb (deb.py) and the kiosk session (session/, its own owner)."""
