"""Log output for every process (CLI, web, Celery): readable lines, or one JSON object per line
with ``CONNECTOR_LOG_FORMAT=json`` for a log collector.

Read from the environment, not from :class:`~connector.settings.Settings`: logging is set up before
the settings are validated, so a bad setting can itself be logged.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# LogRecord's own attributes: anything else on a record came from ``extra=`` and is kept.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, plus
    ``exception`` when there is one and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def wants_json_logs() -> bool:
    return os.environ.get("CONNECTOR_LOG_FORMAT", "text").strip().lower() == "json"


def json_formatter_if_configured() -> logging.Formatter | None:
    return JsonLogFormatter() if wants_json_logs() else None


def configure_logging(level: str | int | None = None) -> None:
    """The root logger writes to stderr in the configured format (called again: replaces its own
    handler; other handlers, such as a test runner's, are left alone)."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter_if_configured() or logging.Formatter(TEXT_FORMAT))
    handler.connector_handler = True
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "connector_handler", False):
            root.removeHandler(old)
    root.addHandler(handler)
    try:
        level = level or os.environ.get("CONNECTOR_LOG_LEVEL") or "WARNING"
        root.setLevel(level.upper() if isinstance(level, str) else level)
    except ValueError:  # an unknown level name: keep going at WARNING rather than crash on start
        root.setLevel(logging.WARNING)
        logging.getLogger(__name__).warning("unknown CONNECTOR_LOG_LEVEL %r: using WARNING", level)
