"""``almamirror demo`` in process: each figure once, complete request directories, a bad --output before any
work, the scale it finds.

The first demo runs from nothing; the later ones start from a copy of the mirror the small archive's sync
leaves (the tests' template), so that the three run on parallel workers.
"""

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
from tests.ppr.test_fetch import assert_products_verified, fetch_manifest


@pytest.mark.long
def test_the_demo_prints_each_figure_once_and_ends_with_complete_verified_request_directories(
    databases: DatabaseFactory, demo_source: URL, test_home: Path, scratch: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    """The whole job from a database that is not even migrated yet, as a first ``almamirror demo`` runs."""
    source = databases.create("demo_cmd_source", template="source_small")
    mirror = databases.create("demo_cmd_mirror")
    cli_environment(monkeypatch, source, mirror, test_home)
    output = scratch / "demo-output"

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
    _assert_complete_request_directories(out, output, source)


def _assert_complete_request_directories(out: str, output: Path, source: URL) -> None:
    """The seed MOUS's request and the real calibration's, fetched whole and verified."""
    assert "64 fetched, 0 already there, 0 failed" in out
    # The real calibration's request: its 7 products, manifest included, and 2 ASDMs.
    assert "9 fetched, 0 already there, 0 failed" in out
    assert out.count("the restore will find everything it opens") == 2
    directories = [path.parent for path in output.rglob("fetch-manifest.json")]
    (directory,) = [path for path in directories if path.name == "MOUS_uid___A001_X129e_Xb6"]
    assert len(directories) == 2
    assert_products_verified(directory, source)
    assert sorted(p.name for p in (directory / "rawdata").iterdir()) == sorted(
        a["disk_name"] for a in fetch_manifest(directory)["asdms"]
    )
    assert "rawdata/    16 entries,  112 files" in out


def test_a_demo_for_another_scale_than_the_archive_holds_is_refused_before_any_sync(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    """Against a mirror a demo has synced: the small archive's source, asked for the medium scale."""
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    runs = scalar(synced_mirror, select(func.count()).select_from(table_of(SyncRun)))
    assert main(["demo", "--scale", "medium", "--output", str(tmp_path / "demo-output")]) == 2
    error = capfd.readouterr().err.strip()
    assert error == (
        "almamirror: the source already holds an archive of 58 MOUSes (the small demo scale), not the "
        "medium one (≈2,000); pass --rebuild to replace it with the medium archive, or leave out --scale "
        "to use it"
    )
    assert scalar(synced_mirror, select(func.count()).select_from(table_of(SyncRun))) == runs  # no sync ran


@pytest.mark.long
def test_a_second_demo_uses_the_scale_it_holds_and_says_nothing_under_q(
    source_copy: URL, synced_mirror: URL, test_home: Path, scratch: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    """A demo run again on a mirror already synced from the small archive."""
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    output = scratch / "demo-output"
    assert main(["-q", "demo", "--scale", "small", "--output", str(output)]) == 0  # the scale it holds
    assert capfd.readouterr() == ("", "")  # -q: nothing said on success, the stand-in's log included


@pytest.mark.long
def test_a_rebuild_says_it_created_the_archive(
    source_copy: URL, synced_mirror: URL, test_home: Path, scratch: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    """--rebuild over the small archive a mirror is already synced from."""
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    assert main(["demo", "--rebuild", "--output", str(scratch / "demo-output")]) == 0
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
