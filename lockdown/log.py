"""Structured logging for support staff: human text or JSON lines, one event per line.

Every event has a stable ``event`` name and fields, so the e2e tests and support tools can parse
them (``{"ts": ..., "level": ..., "event": "navigation.blocked", "url": ..., "reason": ...}``).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

LOGGER_NAME = "lockdown"
_logger = logging.getLogger(LOGGER_NAME)


class _JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        import json  # only when JSON lines are asked for: not on the way to every start page

        super().__init__()
        self._dumps = json.dumps

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", "message"),
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        return self._dumps(payload, ensure_ascii=False, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v!s}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.levelname:<7} {record.getMessage()} {extra}".rstrip()


def configure(fmt: str = "text", log_file: Path | None = None, stream: Any = None) -> None:
    """Send log lines to stderr (and a file) in the chosen format. Idempotent."""
    root = logging.getLogger(LOGGER_NAME)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = _JsonFormatter() if fmt == "json" else _TextFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def event(name: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event."""
    _logger.log(level, message, extra={"event": name, "fields": fields})
