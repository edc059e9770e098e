"""A progress line and a log line show the control characters of what they name, never run them.

A step may be labelled with, or finish with figures from, source data (a table, a document, a file
name); a log line may carry a server's reply. Drawn here on a real pseudo-terminal at 80 and 120
columns, read back from its other end.
"""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import sys

import pytest

from etl.logs import configure_logging
from etl.progress import Progress

INJECTED = "\x1b]0;owned\x07\x1b[5m"
ESCAPED = "\\u001b]0;owned\\u0007\\u001b[5m"


def _read_all(controller: int) -> str:
    chunks = []
    while select.select([controller], [], [], 0.2)[0]:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.parametrize("columns", [80, 120])
def test_a_progress_line_shows_escape_sequences_of_its_label_and_figures(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    configure_logging("INFO", asked=False, progress=True)
    controller, child_end = pty.openpty()
    terminal = os.fdopen(child_end, "w", encoding="utf-8")
    try:
        step = Progress(f"doc{INJECTED}", unit="documents", stream=terminal, interval=0.0)
        assert step.interactive
        step.phase(f"parsing {INJECTED}")
        step.update(3)
        step.finish("documents.fetched", fetched=3, archive=f"ngas{INJECTED}")
        terminal.flush()
        drawn = _read_all(controller)
    finally:
        terminal.close()
        os.close(controller)
    assert "\x1b]0;" not in drawn
    assert "\x07" not in drawn
    assert "\x1b[5m" not in drawn
    assert ESCAPED in drawn.replace("\r", "").replace("\n", "")


def test_a_log_line_shows_escape_sequences_of_its_values(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    configure_logging("INFO", asked=True)
    logging.getLogger("almamirror.test").warning("fetch.failed reason=%s", f"exporter said {INJECTED}")
    line = captured.getvalue()
    assert "fetch.failed" in line
    assert "\x1b" not in line
    assert "\x07" not in line
    assert ESCAPED in line
