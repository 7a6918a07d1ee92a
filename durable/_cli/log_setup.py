"""Log output of ``durable worker``: one line per record, as text for people or JSON for shippers.

Both formats carry the record's ``instance_id`` and ``activity`` (the worker passes them in
``extra=``) and the process id, since the processes of ``--processes N`` share one stderr.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import UTC, datetime

#: the ``extra=`` fields of durable's log records, in the order they are shown
EXTRAS = ("instance_id", "activity")


class LogLevel(enum.StrEnum):
    """The ``--log-level`` choices."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(enum.StrEnum):
    """The ``--log-format`` choices."""

    TEXT = "text"
    JSON = "json"


def _utc(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key in EXTRAS if (value := getattr(record, key, None)) is not None}


class TextFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.123Z INFO    durable.worker [4242] message instance_id=abc``."""

    def format(self, record: logging.LogRecord) -> str:
        """One line (plus the traceback, if the record has one)."""
        line = f"{_utc(record)} {record.levelname:<7} {record.name} [{record.process}] "
        line += record.getMessage()
        for key, value in _extras(record).items():
            text = str(value)
            line += f" {key}={json.dumps(text) if not text or ' ' in text else text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (a traceback is a field, never extra lines)."""
        data: dict[str, object] = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


_FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    LogFormat.TEXT: TextFormatter,
    LogFormat.JSON: JsonFormatter,
}


def configure_logging(level: LogLevel, form: LogFormat) -> None:
    """Send every log record to stderr in ``form``; ``level`` applies to durable's loggers.

    Other libraries log at INFO and above even with ``debug``: the drivers' debug output (one
    line per query) would drown durable's own.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FORMATTERS[form]())
    numeric = logging.getLevelNamesMapping()[level.value.upper()]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    logging.getLogger("durable").setLevel(numeric)
