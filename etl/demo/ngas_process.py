"""The stand-in NGAS as a separate process (``almamirror archive serve``), for the demo and the tests."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from etl.errors import StopAndFix

READY_LINE: Final = re.compile(r"node 1 (?P<node1>http://\S+), node 2 (?P<node2>http://\S+)")


@dataclass
class StandInProcess:
    """A running ``almamirror archive serve``; ``url`` is node 1's, the one clients are given."""

    process: subprocess.Popen[str]
    url: str
    second_url: str

    def __enter__(self) -> StandInProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_stand_in(
    environment: Mapping[str, str], arguments: Sequence[str] = (), config_file: str | None = None
) -> StandInProcess:
    """Start the stand-in on free loopback ports and wait until it listens."""
    command = [sys.executable, "-m", "etl.cli"]
    if config_file:
        command += ["--config", config_file]
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        command += ["-q"]  # its log shares our stderr: a quiet command has a quiet stand-in
    command += ["archive", "serve", "--host", "127.0.0.1", "--port", "0", *arguments]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=None, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, **environment},
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the command prints its URLs once it listens
    match = READY_LINE.search(line)
    if match is None:
        process.kill()
        process.wait()
        raise StopAndFix(
            f"the NGAS stand-in did not start (exit status {process.returncode}): {line.strip()}"
        )
    return StandInProcess(process, match["node1"], match["node2"])
