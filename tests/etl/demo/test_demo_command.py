"""``almamirror demo`` in process: each figure once, a bad --output before any work, the scale it finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from etl import migrations
from etl.cli import main
from etl.demo.scales import SEED_MOUS
from etl.mirror import SyncRun, table_of
from tests.conftest import DatabaseFactory, cli_environment, open_engine
from tests.helpers import rows, scalar


def test_the_demo_prints_each_figure_once_and_knows_the_scale_it_built(
    databases: DatabaseFactory, demo_source: URL, test_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    source = databases.create("demo_cmd_source", template="source_small")
    mirror = databases.create("demo_cmd_mirror")
    cli_environment(monkeypatch, source, mirror, test_home)
    output = tmp_path / "demo-output"

    assert main(["demo", "--output", str(output)]) == 0
    out = capfd.readouterr().out
    assert out.startswith("using the existing archive in the source (almamirror demo --rebuild replaces it)")
    restorable = next(line for line in out.splitlines() if line.startswith("restorable MOUSes: "))
    count = restorable.removeprefix("restorable MOUSes: ").split(";")[0].split(" (")[0]
    assert out.count(f"{count} MOUSes") + out.count(f"MOUSes: {count}") == 1  # said once
    assert f"restore request for {SEED_MOUS}: {output}" in out
    assert (output / next(output.iterdir()).name).is_dir()
    kinds = next(line for line in out.splitlines() if line.startswith("restore kinds: "))
    counted = dict(part.rsplit(" ", 1) for part in kinds.removeprefix("restore kinds: ").split(", "))
    assert list(counted) == ["pipeline_ppr", "pipeline_script", "scriptforpi", "none"]
    # Restorable means any kind but none; the PPR-restorable ones are said beside them.
    assert int(count.replace(",", "")) == sum(int(n) for kind, n in counted.items() if kind != "none")
    assert f"({counted['pipeline_ppr']} by a restore PPR)" in restorable
    assert all(int(counted[kind]) > 0 for kind in counted)  # the fixed cases have every kind
    in_mirror = {row["restore_kind"]: row["n"] for row in rows(
        mirror, text("SELECT restore_kind, count(*) AS n FROM mous_restore GROUP BY restore_kind")
    )}
    assert {kind: int(n) for kind, n in counted.items()} == in_mirror

    runs = scalar(mirror, select(func.count()).select_from(table_of(SyncRun)))
    assert main(["demo", "--scale", "medium", "--output", str(output)]) == 2
    error = capfd.readouterr().err.strip()
    assert error == (
        "almamirror: the source already holds an archive of 58 MOUSes (the small demo scale), not the "
        "medium one (≈2,000); pass --rebuild to replace it with the medium archive, or leave out --scale "
        "to use it"
    )
    assert scalar(mirror, select(func.count()).select_from(table_of(SyncRun))) == runs  # no sync ran
    assert main(["-q", "demo", "--scale", "small", "--output", str(output)]) == 0  # the scale it holds
    assert capfd.readouterr() == ("", "")  # -q: nothing said on success, the stand-in's log included
    assert main(["demo", "--rebuild", "--output", str(output)]) == 0
    assert capfd.readouterr().out.startswith("created small archive, seed 2017: 58 MOUSes")


def test_a_demo_output_that_is_a_file_is_refused_before_the_archive_and_the_sync(
    databases: DatabaseFactory, test_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = databases.create("demo_cmd_empty_source")
    mirror = databases.create("demo_cmd_empty_mirror")
    cli_environment(monkeypatch, source, mirror, test_home)
    output = tmp_path / "demo-output"
    output.write_text("a file")
    assert main(["demo", "--output", str(output)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"almamirror: --output {output}: is a file, not a directory\n"
    assert captured.out == ""
    engine = open_engine(mirror)
    try:
        assert migrations.current_revision(engine) is None  # not even migrated
    finally:
        engine.dispose()
