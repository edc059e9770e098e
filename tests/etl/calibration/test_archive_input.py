"""Hostile or unusual archive documents through a real sync against the stand-in NGAS."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import any_, func, insert, select, text, update
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.calibration_documents import INERT_IMPORT
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import CalibrationDocument, CalibrationRecord, DataQualityIssue, MousStatus, table_of
from tests.conftest import cli_environment
from tests.etl.calibration.archive_input import product_files, replace_document, stand_in_on
from tests.helpers import connect, rows, sync

status = table_of(MousStatus)
records = table_of(CalibrationRecord)
documents = table_of(CalibrationDocument)
issues = table_of(DataQualityIssue)
SCRIPT = ".casa_piperestorescript.py"


def one(url: URL, statement: Any) -> dict[str, Any]:
    [row] = rows(url, statement)
    return dict(row)


def test_a_cycle_5_script_with_an_inert_import_is_restorable(synced_mirror: URL) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    script = one(synced_mirror, select(documents.c.content).where(
        documents.c.file_id.like(f"%{SCRIPT}"), any_(documents.c.mous_uids) == seed
    ))
    assert script["content"].startswith(INERT_IMPORT)
    assert one(synced_mirror, select(records.c.extra_steps).where(records.c.mous_uid == seed)) == {
        "extra_steps": []
    }
    verdict = one(synced_mirror, select(status.c.restorable, status.c.calibration_record)
                  .where(status.c.mous_uid == seed))
    assert verdict == {"restorable": True, "calibration_record": "agrees"}


def test_a_hostile_restore_script_is_malformed_and_the_sync_goes_on(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_example"]
    file_id = replace_document(source_copy, case.mous_uid, SCRIPT, b"x = " + b"-" * 30000 + b"1\n")
    with stand_in_on(source_copy, test_home) as url:
        started = time.monotonic()
        summary = sync(source_copy, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=url)
        seconds = time.monotonic() - started
    assert summary.documents.fetched == 1
    document = one(synced_mirror, select(documents).where(documents.c.file_id == file_id))
    assert document["state"] == "fetched"
    assert document["content"].startswith("x = ---")
    assert "nested deeper" in document["parse_problem"]
    verdict = one(synced_mirror, select(status).where(status.c.mous_uid == case.mous_uid))
    assert verdict["calibration_record"] == "malformed"
    finding = one(synced_mirror, select(issues.c.kind, issues.c.detail).where(
        issues.c.mous_uid == case.mous_uid, issues.c.subject == file_id, issues.c.resolved_run_id.is_(None)
    ))
    assert finding["kind"] == "calibration_document_malformed"
    assert "nested deeper" in finding["detail"]
    assert seconds < 120


def _kind_counts(page: Path) -> dict[str, int]:
    """The status page's MOUSes per restore kind, read from its chart's data table."""
    chart = page.read_text("utf-8").split('id="chart-by-restore-kind"', 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td class=n>(\d+)</td>", chart)
    return {kind: int(count) for kind, count in rows}


@pytest.fixture(scope="module")
def kinds_before(databases: Any, synced_template: str, demo_source: URL, test_home: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The status page's MOUSes per restore kind on the synced mirror every test below starts from (a
    copy of it, before a test changes anything): one page for the module, rendered as each test would."""
    mirror = databases.create("archive_input_kinds", template=synced_template)
    page = tmp_path_factory.mktemp("status-page-before")
    with pytest.MonkeyPatch.context() as monkeypatch:
        cli_environment(monkeypatch, demo_source, mirror, test_home)
        assert main(["report", "html", str(page)]) == 0
    return _kind_counts(page / "index.html")


@pytest.mark.parametrize(
    "script", ["scriptForPolCalibration.py", "scriptForFluxCalibration.py", "scriptForSDCalibration.py"]
)
def test_each_manual_post_step_script_is_its_own_kind_and_reason_everywhere(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path, script: str,
    kinds_before: dict[str, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    name = f"member.{seed.replace(':', '_').replace('/', '_')}.{script}"
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    with connect(source_copy) as source:
        source.execute(insert(product_files).values(
            asa_ous_id=seed, ngas_file_id=name, stored_size=5123, file_class="script"
        ))
    sync(source_copy, synced_mirror, test_home)
    verdict = one(synced_mirror, select(status).where(status.c.mous_uid == seed))
    assert (verdict["calibration_kind"], verdict["reason_code"]) == (
        "pipeline_then_manual", "manual_post_calibration"
    )
    assert name in verdict["reason"]
    assert "scriptForPI.py" in verdict["reason"]
    capsys.readouterr()
    # Not by a PPR: by the delivery's scriptForPI.py, which runs the pipeline restore and then the script.
    assert main(["report", "restorable", "--format", "csv"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(seed)]
    assert "pipeline_then_manual" in line
    assert "manual_post_calibration" in line
    assert ",scriptforpi," in line
    assert main(["explain", seed]) == 0
    explained = capsys.readouterr().out
    assert "restorable by scriptforpi, not by a restore PPR (manual_post_calibration)" in explained
    assert name in explained
    assert "calibration: pipeline_then_manual" in explained
    # The status page counts it among the MOUSes restored by scriptForPI.py, no longer by a PPR.
    assert main(["report", "html", str(tmp_path / "after")]) == 0
    before, after = kinds_before, _kind_counts(tmp_path / "after" / "index.html")
    assert after["scriptforpi"] == before["scriptforpi"] + 1
    assert after["pipeline_ppr"] == before["pipeline_ppr"] - 1
    assert main(["-q", "ppr", seed]) == 1
    assert "manual_post_calibration" in capsys.readouterr().err


def test_an_archived_ppr_with_alma_structure_and_target_ms_disk_names_is_read_as_the_pipeline_does(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    held = one(synced_mirror, select(documents.c.content).where(
        documents.c.file_id.like("%.pprequest.xml"), any_(documents.c.mous_uids) == seed
    ))["content"]
    assert held.count("</AsdmDiskName>") > 1
    newer = re.sub(
        r"<AsdmDiskName>([^<]*)</AsdmDiskName>", r"<AsdmDiskName>\1_targets.ms</AsdmDiskName>", held
    )
    newer = re.sub(r"(<OUSStatusRef [^>]*/>)", r"<AlmaStructure>\1</AlmaStructure>", newer)
    assert "<AlmaStructure><OUSStatusRef" in newer
    file_id = replace_document(source_copy, seed, ".pprequest.xml", newer.encode())
    with stand_in_on(source_copy, test_home) as url:
        sync(source_copy, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=url)
    assert one(synced_mirror, select(documents.c.content).where(documents.c.file_id == file_id)) == {
        "content": newer
    }
    # Unstripped, every EB would be one no SESSION_n names (session_1 to the pipeline): a disagreement.
    verdict = one(synced_mirror, select(status.c.calibration_record, status.c.restorable)
                  .where(status.c.mous_uid == seed))
    assert verdict == {"calibration_record": "agrees", "restorable": True}


def test_a_document_ngas_serves_damaged_is_found_by_the_recheck_and_no_longer_held(
    source_copy: URL, mirror_db: URL, test_home: Path
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    with connect(source_copy) as connection:
        file_id, content = connection.execute(text(
            "SELECT f.file_id, f.content FROM alma.ngas_file f JOIN alma.asa_product_files p "
            "ON p.ngas_file_id = f.file_id WHERE p.asa_ous_id = :mous AND f.file_id LIKE :script"
        ), {"mous": seed, "script": f"%{SCRIPT}"}).one()
        # The bytes change, NGAS's checksum does not: what NGAS serves of a file its checks flagged.
        damaged = bytes(content).replace(b"ocorr_mode='ca'", b"ocorr_mode='ao'")
        assert damaged != bytes(content)
        connection.execute(text("UPDATE alma.ngas_file SET content = :content WHERE file_id = :id"),
                           {"content": damaged, "id": file_id})
    with stand_in_on(source_copy, test_home) as url:  # one archive for both syncs: its files stay as they are
        sync(source_copy, mirror_db, test_home, ALMAMIRROR_NGAS_URL=url)
        # Fetched by its size alone, as it came.
        held = one(mirror_db, select(documents.c.state, documents.c.checksum, documents.c.content)
                   .where(documents.c.file_id == file_id))
        assert held == {"state": "fetched", "checksum": None, "content": damaged.decode()}
        with connect(mirror_db) as mirror:  # the recheck asks about it first: the others were checked now
            mirror.execute(update(documents).values(checked_at=func.now()))
            mirror.execute(update(documents).where(documents.c.file_id == file_id)
                           .values(checked_at=None, fetched_at=func.now() - text("interval '1 day'")))
        sync(source_copy, mirror_db, test_home, ALMAMIRROR_NGAS_URL=url)
    after = one(mirror_db, select(documents.c.state, documents.c.content, documents.c.problem)
                .where(documents.c.file_id == file_id))
    assert (after["state"], after["content"]) == ("missing", None)
    assert "checksum mismatch" in after["problem"]


def test_a_document_re_archived_with_the_same_size_is_fetched_again(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    held = one(synced_mirror, select(documents.c.file_id, documents.c.content, documents.c.file_version)
               .where(documents.c.file_id.like(f"%{SCRIPT}"), any_(documents.c.mous_uids) == seed))
    # A new NGAS file version, the same size: only NGAS's STATUS can tell.
    content = held["content"].replace("ocorr_mode='ca'", "ocorr_mode='ao'")
    assert len(content) == len(held["content"])
    replace_document(source_copy, seed, SCRIPT, content.encode(), new_version=True)
    with connect(synced_mirror) as mirror:  # asked about first: the others were checked just now
        mirror.execute(update(documents).values(checked_at=func.now()))
        mirror.execute(
            update(documents).where(documents.c.file_id == held["file_id"]).values(checked_at=None)
        )
    with stand_in_on(source_copy, test_home) as url:
        summary = sync(source_copy, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=url)
    assert summary.documents.fetched == 1
    again = one(synced_mirror, select(documents.c.content, documents.c.file_version, documents.c.checksum)
                .where(documents.c.file_id == held["file_id"]))
    newest = one(source_copy, text(
        "SELECT file_version, checksum FROM alma.ngas_file WHERE file_id = :id "
        "ORDER BY file_version DESC LIMIT 1"
    ).bindparams(id=held["file_id"]))
    # Fetched again with the STATUS the recheck asked: verified, NGAS's version and checksum recorded.
    assert newest["file_version"] >= 2
    assert again == {"content": content, **newest}
    assert one(synced_mirror, select(records.c.ocorr_mode).where(records.c.mous_uid == seed)) == {
        "ocorr_mode": "ao"
    }
