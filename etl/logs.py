"""Logging: module loggers writing an event name followed by key=value fields, one line per event; and
the masking that keeps every secret of a URL out of log lines and messages (``mask_url``).

Standard library only at run time (and ``etl.controls``, ``etl.urls``): the settings mask the URLs they
refuse, below the source and the engines.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from etl.controls import escape_controls
from etl.urls import SCHEME, SECRET_NAME

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _UtcFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps: logs from several sites and hosts sort and compare as written.

    A line's control characters are escaped: its values may be a file name, a server's reply or a
    source row, whose escape sequences must not steer the terminal (or the journal's viewer) that
    shows it."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))

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


# APScheduler's messages (format string → event and the names of its arguments), so that the
# scheduler's own lines read like every other: ``apscheduler.job_added job=almamirror-sync …``.
_APSCHEDULER_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Scheduler started": ("apscheduler.started", ()),
    "Scheduler has been shut down": ("apscheduler.shut_down", ()),
    "Paused scheduler job processing": ("apscheduler.paused", ()),
    "Resumed scheduler job processing": ("apscheduler.resumed", ()),
    'Added job "%s" to job store "%s"': ("apscheduler.job_added", ("job", "job_store")),
    "Adding job tentatively -- it will be properly scheduled when the scheduler starts": (
        "apscheduler.job_pending", ()
    ),
    "Removed job %s": ("apscheduler.job_removed", ("job",)),
    'Running job "%s" (scheduled at %s)': ("apscheduler.job_running", ("job", "scheduled_at")),
    'Job "%s" executed successfully': ("apscheduler.job_done", ("job",)),
    'Job "%s" raised an exception': ("apscheduler.job_raised", ("job",)),
    "Error running job %s": ("apscheduler.job_error", ("job",)),
    'Run time of job "%s" was missed by %s': ("apscheduler.job_missed", ("job", "late_by")),
    'Execution of job "%s" skipped: maximum number of running instances reached (%d)': (
        "apscheduler.job_skipped", ("job", "max_instances")
    ),
    "Next wakeup is due at %s (in %f seconds)": ("apscheduler.next_wakeup", ("due", "seconds")),
    "Looking for jobs to run": ("apscheduler.looking_for_jobs", ()),
    "No jobs; waiting until a job is added": ("apscheduler.no_jobs", ()),
}


class _SchedulerLineFilter(logging.Filter):
    """Rewrites APScheduler's prose as ``event key=value``; an unknown message keeps its words in text=."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "apscheduler" or record.name.startswith("apscheduler."):
            event, names = _APSCHEDULER_EVENTS.get(str(record.msg), ("apscheduler.message", ()))
            args = record.args if isinstance(record.args, tuple) else ()
            if names and len(names) == len(args):
                values = {name: _job_name(value) for name, value in zip(names, args, strict=True)}
            elif event == "apscheduler.message":
                values = {"text": record.getMessage()}
            else:
                values = {}
            record.msg = f"{event} {fields(**values)}".rstrip()
            record.args = None
        return True


def _job_name(value: object) -> object:
    # A Job prints as 'name (trigger: …, next run at: …)'; its id is what the other lines name.
    job_id = getattr(value, "id", None)
    return job_id if isinstance(job_id, str) else value


# Whether long steps draw their progress; None: as the log level says (a library used without the CLI).
_progress_wanted: bool | None = None


def configure_logging(level: str, *, asked: bool = True, progress: bool = True) -> None:
    """Send log lines to stderr (stdout is for command output such as reports and JSON).

    On a terminal a person reads the progress and the answer: unless a level was ``asked`` for
    (``-v``, ``--log-level``, ALMAMIRROR_LOG_LEVEL), only warnings and errors are written there. A
    file, a pipe or the journal gets the log at ``level``. ``progress`` (off under ``-q``) says
    whether long steps draw a progress line, whatever the log shows.
    """
    global _progress_wanted  # noqa: PLW0603  (one setting per process, set once by the CLI)
    _progress_wanted = progress
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(_UtcFormatter(_FORMAT))
    handler.addFilter(_SchedulerLineFilter())
    if not asked and _stderr_is_terminal():
        handler.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter that says nothing an operator acts on.
    for noisy in ("pgserver", "alembic.runtime", "apscheduler.executors.default", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def progress_wanted(logger: logging.Logger) -> bool:
    """Whether a long step should draw its progress (on a terminal): what the CLI configured, else
    whether ``logger`` shows INFO."""
    if _progress_wanted is not None:
        return _progress_wanted
    return logger.isEnabledFor(logging.INFO)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def fields(**values: object) -> str:
    """Render ``key=value`` pairs; values with spaces are quoted so lines stay machine-splittable."""
    parts = []
    for key, value in values.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        if not text or any(ch.isspace() for ch in text) or '"' in text:
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


# Greedy: the password runs to the *last* "@", so an unencoded "@" in it hides the rest too.
_USERINFO = re.compile(r"^(?P<user>[^:@/?#]*):.*@", re.DOTALL)
_KEY_VALUE = re.compile(
    r"(?P<key>\b\w*(?:pass|pwd|secret|token)\w*\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE
)
# An archive (NGAS) URL's user part alone may be a token (http://TOKEN@host): masked too.
_WEB_USER_ONLY = re.compile(r"^[^:@/?#]+@")
MASK = "***"


def mask_url(url: str | URL | None) -> str:
    """The URL with every secret in it replaced by ``***``: the one masking of the project.

    Masks the password of ``user:password@`` (up to the last ``@``, so an unencoded ``@`` in the
    password hides the rest of it too), every query parameter whose (percent-decoded) name says it
    is a secret (``password=``, ``sslpassword=``, ``token=``, …), and the same words in a libpq
    ``key=value`` string. It masks too much rather than too little: a URL with an ``@`` after its
    host loses the host too.
    """
    if url is None:
        return "(embedded)"
    text = url if isinstance(url, str) else _text_of(url)
    parts = SCHEME.search(text)
    if parts is None:
        return _KEY_VALUE.sub(lambda found: found["key"] + MASK, text)
    rest = _USERINFO.sub(lambda found: f"{found['user']}:{MASK}@", parts["rest"], count=1)
    if parts["scheme"].lower() in ("http://", "https://"):
        rest = _WEB_USER_ONLY.sub(f"{MASK}@", rest, count=1)
    return text[: parts.start()] + parts["scheme"] + _mask_query(rest)


def _text_of(url: object) -> str:
    # SQLAlchemy's URL prints its password as *** but not its query's secrets: render it whole, then mask.
    render = getattr(url, "render_as_string", None)
    return str(render(hide_password=False)) if callable(render) else str(url)


def _mask_query(rest: str) -> str:
    head, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_sign, fragment = query.partition("#")
    pieces = re.split(r"([&;])", query)
    for index, piece in enumerate(pieces):
        name, equals, _value = piece.partition("=")
        if equals and SECRET_NAME.search(unquote_plus(name)):
            pieces[index] = f"{name}={MASK}"
    return head + question + "".join(pieces) + hash_sign + fragment
