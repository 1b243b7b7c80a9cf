"""Command-line tools that run without Qt (``python -m lockdown inspect`` / ``hash-url``)."""
