"""Logging: module loggers writing an event name followed by key=value fields, one line per event."""

from __future__ import annotations

import logging
import sys
import time

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _UtcFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps: logs from several sites and hosts sort and compare as written."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802, ARG002
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written: while a progress line is live on a terminal,
    rich puts its own stream there, which writes log lines above the progress line, not through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str) -> None:
    """Send log lines to stderr (stdout is for command output such as reports and JSON)."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(_UtcFormatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter that says nothing an operator acts on.
    # httpx logs every request's URL at INFO; the NGAS client logs what matters itself, URLs masked.
    for noisy in ("pgserver", "alembic.runtime", "apscheduler.executors.default", "httpx", "httpcore",
                  "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def fields(**values: object) -> str:
    """Render ``key=value`` pairs; values with spaces are quoted so lines stay machine-splittable."""
    parts = []
    for key, value in values.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        if not text or any(ch.isspace() for ch in text) or '"' in text:
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
