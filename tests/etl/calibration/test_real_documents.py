"""The real pipeline's documents (etl/demo/real_restore/) read by the parsers the sync and ppr share."""

from __future__ import annotations

from etl.calibration.documents import parse_document
from etl.calibration.manifest import parse_manifest
from etl.calibration.names import MANIFEST, REQUEST, RESTORE_SCRIPT, calibration_stem, document_kind
from etl.calibration.request import read_request
from etl.calibration.restore_script import parse_restore_script
from etl.demo.real_files import REAL_EBS, REAL_MOUS, REAL_PRODUCTS

STEM = "uid___A001_Xfe00_X10.hifa_cal"
EB1, EB2 = "uid___A002_Xfe0001_X1", "uid___A002_Xfe0002_X2"


def _read(name: str) -> bytes:
    return (REAL_PRODUCTS / name).read_bytes()


def test_the_real_documents_are_named_as_one_calibration() -> None:
    names = {f"{STEM}.pipeline_manifest.xml": MANIFEST, f"{STEM}.casa_piperestorescript.py": RESTORE_SCRIPT,
             f"{STEM}.pprequest.xml": REQUEST}
    for name, kind in names.items():
        assert document_kind(name) == kind
        assert calibration_stem(name) == STEM


def test_the_real_manifest_lists_sessions_2_and_3_with_every_file_a_restore_opens() -> None:
    manifest = parse_manifest(_read(f"{STEM}.pipeline_manifest.xml"))
    assert (manifest.casa_version, manifest.pipeline_version, manifest.procedure) == ("6.7.6.14", "unknown",
                                                                                     "hifa_cal")
    assert manifest.mpi_servers == 0
    assert manifest.request == f"{STEM}.pprequest.xml"
    assert manifest.restore_script == f"{STEM}.casa_piperestorescript.py"
    assert manifest.eb_sessions() == {2: (EB1,), 3: (EB2,)}
    for session in manifest.sessions:
        assert session.caltables == f"uid___A001_Xfe00_X10.session_{session.number}.caltables.tgz"
        for asdm in session.asdms:
            assert asdm.flagversions == f"{asdm.eb}.ms.flagversions.tgz"
            assert asdm.calapply == f"{asdm.eb}.ms.calapply.txt"
            assert (REAL_PRODUCTS / asdm.flagversions).is_file()
            assert (REAL_PRODUCTS / asdm.calapply).is_file()
        assert session.caltables is not None
        assert (REAL_PRODUCTS / session.caltables).is_file()


def test_the_real_restore_script_is_the_pipelines_key_without_extra_steps() -> None:
    script = parse_restore_script(_read(f"{STEM}.casa_piperestorescript.py").decode())
    assert script.task == "hifa_restoredata"
    assert script.eb_sessions == ((EB1, 2), (EB2, 3))
    assert script.arguments == {"ocorr_mode": "'ca'"}  # as written
    assert script.argument("ocorr_mode") == "ca"
    assert not script.legacy
    assert script.extra_steps == ()


def test_the_real_archived_ppr_keeps_the_empty_session_1() -> None:
    reading = read_request(_read(f"{STEM}.pprequest.xml"))
    assert reading.ous_status_ref == REAL_MOUS
    assert reading.sessions == {1: (), 2: (REAL_EBS[0],), 3: (REAL_EBS[1],)}
    assert reading.paired_by_default == ()
    assert reading.notes == ()


def test_the_three_real_documents_agree_through_the_syncs_parsed_forms() -> None:
    manifest = parse_document(MANIFEST, _read(f"{STEM}.pipeline_manifest.xml"))
    script = parse_document(RESTORE_SCRIPT, _read(f"{STEM}.casa_piperestorescript.py"))
    request = parse_document(REQUEST, _read(f"{STEM}.pprequest.xml"))
    from_manifest = {s["number"]: [a[0] for a in s["asdms"]] for s in manifest["sessions"]}
    assert from_manifest == {2: [EB1], 3: [EB2]}
    assert script["eb_sessions"] == [[EB1, 2], [EB2, 3]]
    assert request["sessions"] == {"1": [], "2": [REAL_EBS[0]], "3": [REAL_EBS[1]]}
