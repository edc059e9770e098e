"""One EB's raw data through the site's export tool (``[archive] asdm_command``), as ALMA's getASDM does.

The command runs without a shell in ``rawdata/``; its exit status and output are checked, and the
result must exist as ``rawdata/<disk name>``. It gets the configured NGAS URLs in ALMAMIRROR_NGAS_URL
(the stand-in's exporter reads them there; ALMA's own tool ignores them).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from etl.errors import ConfigurationError

# Output lines that mean the export failed even when the tool exits 0.
_FAILURE_LINE: Final = re.compile(r"^(.*\bERROR\b.*|Traceback \(most recent call last\):.*)$", re.M)
OUTPUT_SHOWN: Final = 300


class ExportFailed(Exception):
    """The ASDM command failed; the message says how, in one line."""


def asdm_command(template: str, eb_uid: str) -> list[str]:
    """The command's words with ``{eb_uid}`` replaced; never through a shell."""
    return [word.replace("{eb_uid}", eb_uid) for word in shlex.split(template)]


def check_export_tool(template: str) -> None:
    """``ConfigurationError`` (one line) when the export tool cannot be run: every EB would fail alike."""
    program = asdm_command(template, "uid://A000/X0/X0")[0]
    if shutil.which(program) is None:
        raise ConfigurationError([
            f"archive.asdm_command: {program!r} is not found or not executable (from [archive] asdm_command "
            f"= {template!r}); install ALMA's asdmExportLight, set [archive] asdm_command or "
            "ALMAMIRROR_ASDM_COMMAND, or fetch with --products-only; no EB was tried"
        ])


def run_export(
    template: str, eb_uid: str, rawdata: Path, disk_name: str, ngas_urls: Sequence[str], timeout: float
) -> None:
    """Run the export in ``rawdata``; ``ExportFailed`` unless it succeeded within ``timeout`` seconds and
    wrote ``<disk_name>``."""
    command = asdm_command(template, eb_uid)
    environment = dict(os.environ, ALMAMIRROR_NGAS_URL=",".join(ngas_urls))
    returncode, output = _run_within(command, rawdata, environment, timeout)
    if returncode != 0:
        raise ExportFailed(f"{command[0]} exited with status {returncode}: {_last_line(output)}")
    failure = _FAILURE_LINE.search(output)
    if failure is not None:
        raise ExportFailed(f"{command[0]} reported a failure: {failure.group(1).strip()[:OUTPUT_SHOWN]}")
    if not (rawdata / disk_name).is_dir():
        raise ExportFailed(f"{command[0]} exited 0 but did not write rawdata/{disk_name}")


def _run_within(
    command: list[str], cwd: Path, environment: dict[str, str], timeout: float
) -> tuple[int, str]:
    """The command's exit status and output; ``ExportFailed`` if it cannot start or outlasts ``timeout``.

    The tool runs in a session of its own: on the timeout its whole process group is killed, so that
    nothing it started keeps the output pipes open (and this wait) after it.
    """
    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        raise ExportFailed(f"cannot run {command[0]!r}: {exc.strerror}") from None
    with process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ExportFailed(
                f"{command[0]} did not finish within {timeout:g} s ([archive] asdm_timeout); it was killed"
            ) from None
    return process.returncode, (stdout + stderr).decode("utf-8", errors="replace")


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:OUTPUT_SHOWN] if lines else "(no output)"
