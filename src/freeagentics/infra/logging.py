"""Structured JSON logging to stdout and to the files the runbook reads.

Every record is one JSON object per line with ``time`` (UTC, ISO-8601), ``level``, ``logger``, ``event``
(the message) and ``request_id`` when a request is in flight, plus any fields passed as
``extra={"fields": {...}}``. Because the whole record goes through ``json.dumps``, CR/LF or control
characters in a value are escaped and can never start a forged line.

Files in the log dir:

- ``error.log``: every record at ERROR or above, with the stack trace as ``exc_info``;
- ``agents.log``: the ``freeagentics.agents`` logger; each message carries ``agent_id:<id>`` literally, so
  ``grep "agent_id:<id>" agents.log`` finds an agent's history;
- ``security_audit.log``: the ``freeagentics.audit`` logger;
- ``access.log``: one line per HTTP request (``freeagentics.access``).

Files are opened with :class:`logging.handlers.WatchedFileHandler`, which reopens a file that logrotate
moved away; :func:`reopen_log_files` (called on SIGHUP) reopens them unconditionally as well.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from typing import Any

AGENTS_LOGGER = "freeagentics.agents"
AUDIT_LOGGER = "freeagentics.audit"
ACCESS_LOGGER = "freeagentics.access"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_HANDLER_MARK = "_freeagentics_handler"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                payload.setdefault(str(key), value)
        if record.exc_info:
            payload["exc_info"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class _OnlyLogger(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == self._prefix or record.name.startswith(self._prefix + ".")


def _file_handler(path: Path, level: int, only: str | None = None) -> logging.Handler:
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8", delay=False)
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter())
    if only is not None:
        handler.addFilter(_OnlyLogger(only))
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(
    log_dir: Path, level: str = "INFO", stdout: bool = True, access_log: bool = True
) -> None:
    """Install the JSON handlers on the root logger, replacing any installed by an earlier call."""
    log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    handlers: list[logging.Handler] = [
        _file_handler(log_dir / "error.log", logging.ERROR),
        _file_handler(log_dir / "agents.log", logging.DEBUG, only=AGENTS_LOGGER),
        _file_handler(log_dir / "security_audit.log", logging.DEBUG, only=AUDIT_LOGGER),
        _file_handler(log_dir / "access.log", logging.DEBUG, only=ACCESS_LOGGER),
    ]
    if stdout:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(JsonFormatter())
        setattr(console, _HANDLER_MARK, True)
        handlers.append(console)
    for handler in handlers:
        root.addHandler(handler)
    # uvicorn's own loggers would print plain text beside our JSON; route them through the root instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger(ACCESS_LOGGER).disabled = not access_log


def reopen_log_files() -> None:
    """Close and reopen every log file (after logrotate moved it, on SIGHUP)."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _HANDLER_MARK, False) and isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = handler._open()
                if isinstance(handler, logging.handlers.WatchedFileHandler):
                    handler._statstream()
            finally:
                handler.release()


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` argument that adds structured fields to a JSON log line."""
    return {"fields": fields}
