"""``ppr --submit``: hand each new request directory to the site's batch system, and keep its answer.

The site's submit command is a template (``sbatch {dir}/run-restore.sh``,
``condor_submit restore.sub -append 'initialdir = {dir}'``): split like a shell would, ``{dir}``
replaced by the request directory in each word, and run without a shell, once per request. What it
printed, and the job id found in it, go into the request's ``restore.json`` (``submitted``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ppr.restore_run import RESTORE_JSON

DIRECTORY_FIELD: Final = "{dir}"
# A submit command that has not answered in this long is given up on (the request stays unsubmitted).
SUBMIT_TIMEOUT_SECONDS: Final = 300
# sbatch: "Submitted batch job 4242"; condor_submit: "1 job(s) submitted to cluster 4242.".
_JOB_ID: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)\.?\s*$")


@dataclass(frozen=True)
class Submission:
    directory: Path
    command: tuple[str, ...]
    exit_status: int
    output: str
    error: str
    job_id: str | None

    @property
    def submitted(self) -> bool:
        return self.exit_status == 0

    def to_json(self, at: datetime) -> dict[str, Any]:
        return {
            "at_utc": at.isoformat(timespec="seconds"), "command": list(self.command),
            "exit_status": self.exit_status, "output": self.output, "error": self.error,
            "job_id": self.job_id,
        }


def check_template(template: str) -> None:
    """A usable template: shell words, one of them naming ``{dir}``; ValueError says what is wrong."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"it does not split into words ({exc})") from None
    if not words:
        raise ValueError("it is empty")
    if not any(DIRECTORY_FIELD in word for word in words):
        raise ValueError(f"it never names the request directory as {DIRECTORY_FIELD}")


def submit_command(template: str, directory: Path) -> tuple[str, ...]:
    return tuple(word.replace(DIRECTORY_FIELD, str(directory)) for word in shlex.split(template))


def job_id(output: str) -> str | None:
    """The job id a submit command printed: the number ending its last line, if any."""
    lines = [line for line in output.splitlines() if line.strip()]
    match = _JOB_ID.search(lines[-1]) if lines else None
    return match.group(1) if match else None


def submit_requests(directories: Sequence[Path], template: str) -> list[Submission]:
    """Run the submit command once per directory, in order, and record each answer in restore.json."""
    submissions = []
    for directory in directories:
        submission = submit_one(directory.absolute(), template)
        record_submission(directory, submission)
        submissions.append(submission)
    return submissions


def submit_one(directory: Path, template: str) -> Submission:
    command = submit_command(template, directory)
    try:
        finished = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            timeout=SUBMIT_TIMEOUT_SECONDS,
        )
    except FileNotFoundError:
        return Submission(directory, command, 127, "", f"{command[0]}: command not found", None)
    except subprocess.TimeoutExpired:
        return Submission(directory, command, 124, "", f"no answer in {SUBMIT_TIMEOUT_SECONDS} s", None)
    output = finished.stdout.strip()
    found = job_id(output) if finished.returncode == 0 else None
    return Submission(directory, command, finished.returncode, output, finished.stderr.strip(), found)


def record_submission(directory: Path, submission: Submission) -> None:
    """restore.json's ``submitted``, written beside the old file and renamed over it."""
    path = directory / RESTORE_JSON
    described = json.loads(path.read_text("utf-8"))
    described["submitted"] = submission.to_json(datetime.now(UTC))
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(described, indent=2, ensure_ascii=False) + "\n", "utf-8")
    partial.replace(path)
