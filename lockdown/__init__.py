"""lockdown: a locked-down desktop exam browser (PySide6 + Qt WebEngine)."""

__version__ = "0.1.0"
