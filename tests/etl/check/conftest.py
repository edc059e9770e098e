"""Fixtures of the readiness check: the demo mirror, the stand-in NGAS as a process, a site file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.demo.job import exporter_command
from etl.demo.ngas_process import StandInProcess, start_stand_in


@pytest.fixture(scope="module")
def stand_in(demo_source: URL, test_home: Path) -> Iterator[StandInProcess]:
    """The stand-in NGAS of the small demo archive, both nodes online."""
    with start_stand_in(stand_in_environment(demo_source, test_home)) as process:
        yield process


@pytest.fixture(scope="module")
def offline_stand_in(demo_source: URL, test_home: Path) -> Iterator[StandInProcess]:
    """The same stand-in, node 1 OFFLINE for maintenance."""
    with start_stand_in(stand_in_environment(demo_source, test_home), ["--offline", "1"]) as process:
        yield process


def stand_in_environment(source: URL, home: Path) -> dict[str, str]:
    return {
        "ALMAMIRROR_SOURCE_URL": source.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(home), "ALMAMIRROR_LOG_LEVEL": "WARNING",
    }


def site_file(directory: Path, asdm_command: str | None = None, extra: str = "") -> Path:
    """A site settings file whose ASDM export tool is the demo's (or ``asdm_command``)."""
    path = directory / "site.toml"
    command = asdm_command or exporter_command()
    path.write_text(f"{extra}\n[archive]\nasdm_command = {_toml_string(command)}\n", "utf-8")
    return path


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
