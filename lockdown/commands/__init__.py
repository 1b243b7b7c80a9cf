"""Command-line tools that run without Qt (``python -m lockdown inspect`` / ``hash-url``)."""

#: The first arguments that run a tool instead of the browser (``lockdown.cli`` dispatches them).
#: Here, apart from the tools, so the launcher can tell without importing the command line.
NAMES = frozenset({"settings", "inspect", "hash-url", "journal"})
