"""FIXED_CASES: hand-made MOUSes present, identical, in every demo archive at every scale and seed.

Each exercises one thing a restore must get right (or refuse). Sessions are written in session-rule
order with a letter per EB: P Pass, S SemiPass, F Fail, N Pending, U Unset. Invented UIDs live in A001
ranges X1a00.. (projects) and X1b00.. (statuses), below the random population's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from etl.demo.case_plans import (
    CaseFacts,
    EbPlan,
    FixedBuild,
    FixedCase,
    GoalPlan,
    MousPlan,
    ProjectPlan,
    SessionPlan,
    build_project,
)
from etl.demo.model import FAIL, PASS, PENDING, SEMIPASS, UNSET, Project, Recipe, RecordForm, XmlForm
from etl.demo.real_mous import build_real_project
from etl.demo.scales import DEMO_AS_OF
from etl.demo.seed_cases import SEED_PROJECTS

QA0_LETTERS: Final = {"P": PASS, "S": SEMIPASS, "F": FAIL, "N": PENDING, "U": UNSET}


def sessions(*groups: str) -> tuple[SessionPlan, ...]:
    """``sessions("F", "P P", "P")``: one session per string, one EB per letter."""
    return tuple(
        SessionPlan(tuple(EbPlan(QA0_LETTERS[letter]) for letter in group.split())) for group in groups
    )


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _facts(name: str, description: str, reason: str | None = None, proprietary: bool = False) -> CaseFacts:
    return CaseFacts(name, description, reason is None, reason, proprietary)


def _project(index: int, code: str, *mouses: MousPlan, **details: Any) -> ProjectPlan:
    """An invented single-goal project in its own A001 ranges; ``details`` are ProjectPlan fields."""
    plan = ProjectPlan(code, (GoalPlan(mouses),), 0x1A00 + index, 0x1B00 + index)
    return replace(plan, **details)


def _mous(
    name: str,
    description: str,
    first_start: str,
    *groups: str,
    reason: str | None = None,
    proprietary: bool = False,
    **details: Any,
) -> MousPlan:
    """A fixed case's MOUS; ``groups`` as for ``sessions``, ``details`` are MousPlan fields."""
    plan = MousPlan(sessions(*groups), _at(first_start), _facts(name, description, reason, proprietary))
    return replace(plan, **details)


TIED_START: Final = _at("2019-12-14T01:00:00.000")

INVENTED_PROJECTS: Final = (
    _project(0, "2018.1.01234.S", _mous(
        "empty_middle_session", "SESSION_2 holds only SemiPass EBs; caltables for sessions 1 and 3",
        "2018-11-05T02:00:00.000", "P", "S S", "P")),
    _project(1, "2018.1.01301.S", _mous(
        "empty_last_session", "the last session holds only a Fail EB; caltables for the others",
        "2019-01-12T04:30:00.000", "P", "P P", "F")),
    _project(2, "2019.1.00412.S", replace(
        _mous("null_session_start",
              "SESSION_1's STARTTIME is NULL (and its SESSIONID the higher): its EBs come first",
              "2019-11-02T05:10:00.000", "P P", "P"),
        sessions=(SessionPlan((EbPlan(), EbPlan()), null_start=True), SessionPlan((EbPlan(),))),
        session_id_ranks=(1, 0))),
    _project(3, "2019.1.00488.S", replace(
        _mous("tied_session_start",
              "two sessions with the same STARTTIME: the lower SESSIONID is SESSION_1, although its "
              "EB was observed after the other session's",
              "2019-12-14T01:01:30.000", "P", "P"),
        sessions=(
            SessionPlan((EbPlan(start=TIED_START + timedelta(hours=2)),), recorded_start=TIED_START),
            SessionPlan((EbPlan(start=TIED_START + timedelta(minutes=2)),), recorded_start=TIED_START),
        ))),
    _project(4, "2019.1.00537.S", _mous(
        "mixed_session", "SESSION_1 mixes Pass and SemiPass EBs: the SemiPass is dropped",
        "2020-01-20T03:00:00.000", "P S P", "P")),
    _project(5, "2021.1.00219.S", replace(
        _mous("duplicate_shiftlog", "every EB has two or three SHIFTLOG_ENTRIES rows",
              "2021-11-08T06:00:00.000", "P P", "P"),
        sessions=(
            SessionPlan((EbPlan(shiftlog_rows=2), EbPlan(shiftlog_rows=3))),
            SessionPlan((EbPlan(shiftlog_rows=2),)),
        ))),
    _project(6, "2021.1.00766.S", replace(
        _mous("asa_under_two_mous",
              "a Pass EB is also filed in ASA_SCIENCE under the project's 7-m MOUS",
              "2022-03-02T04:00:00.000", "P P", "P"),
        sessions=(SessionPlan((EbPlan(), EbPlan(asa="also_under"))), SessionPlan((EbPlan(),)))),
        MousPlan(sessions("P P", "P"), _at("2022-04-11T22:00:00.000"), array="7m"),
        sources=("HD_163296",)),
    _project(7, "2022.1.00151.S", replace(
        _mous("asa_missing_eb", "a Pass EB has no ASA_SCIENCE row",
              "2022-11-21T01:00:00.000", "P", "P P"),
        sessions=(SessionPlan((EbPlan(),)), SessionPlan((EbPlan(asa="missing"), EbPlan()))))),
    _project(8, "2022.1.00903.S", replace(
        _mous("eb_without_session", "a SemiPass EB with a NULL SESSIONID besides the Pass EBs",
              "2023-02-06T03:00:00.000", "P P", "P"),
        sessionless=(EbPlan(SEMIPASS, start=_at("2023-02-06T09:40:00.000")),))),
    _project(
        9, "2019.1.01101.S",
        _mous("twelve_m_with_aca", "the 12-m MOUS of a science goal that also has 7-m and TP MOUSes",
              "2020-02-03T02:00:00.000", "P P", "P"),
        _mous("seven_m", "the goal's 7-m MOUS (SEVEN-M)", "2019-10-20T03:00:00.000",
              "P P", "P", "P", array="7m", session_gap=timedelta(days=4)),
        _mous("total_power", "the goal's total-power MOUS (TP-Array, shift log 'Total Power')",
              "2019-10-25T05:00:00.000", "P P P", "P P", "P", array="TP", session_gap=timedelta(days=5)),
        sources=("NGC_253",), band="ALMA_RB_06"),
    _project(10, "2016.1.00375.S", _mous(
        "seven_m_aca_alias", "a Cycle 4 7-m MOUS whose REQUESTEDARRAY is the older alias 'ACA'",
        "2016-11-14T04:00:00.000", "P", "P P", array="7m", requested_array="ACA",
        session_gap=timedelta(days=3))),
    _project(11, "2017.1.01502.S", _mous(
        "manual_calibration",
        "hand calibrated (ManualCalibration): scriptForCalibration per EB, no caltables",
        "2018-03-09T02:00:00.000", "P", "P", recipe=Recipe.MANUAL, flags="ManualCalibration",
        reason="manual_calibration")),
    _project(12, "2025.1.00318.S", _mous(
        "not_processed", "fully observed, ReadyForProcessing: no products, no delivery",
        "2026-09-21T03:00:00.000", "P", "P P", recipe=Recipe.NONE, state="ReadyForProcessing",
        delivered=False, reason="no_calibration_products")),
    _project(13, "2013.1.00604.S", _mous(
        "missing_calibration",
        "a delivered, public Cycle 2 pipeline MOUS whose calibrations were never split out: no caltables",
        "2014-08-17T05:00:00.000", "P", "P", recipe=Recipe.UNSPLIT, reason="no_calibration_products")),
    _project(14, "2015.1.00877.S", _mous(
        "legacy_product_names", "Cycle 3 names: no member. prefix, .tar.gz, PPR_<mous>.xml, FILE_CLASS NULL",
        "2016-01-10T03:00:00.000", "P P", "P")),
    _project(15, "2016.1.01119.S", _mous(
        "cycle4_names", "Cycle 4 names: no member. prefix, .tgz, FILE_CLASS NULL",
        "2017-04-02T04:00:00.000", "P", "P")),
    _project(16, "2025.1.00102.S", _mous(
        "proprietary", "delivered, released 200 days after DEMO_AS_OF",
        "2026-02-10T02:00:00.000", "P", "P", release=DEMO_AS_OF + timedelta(days=200),
        proprietary=True)),
    _project(17, "2019.1.01457.S", _mous(
        "never_released", "delivered with RELEASE_DATE NULL (never released)",
        "2020-02-18T06:00:00.000", "P P", "P", release="never", proprietary=True)),
    _project(18, "2018.1.00990.S", _mous(
        "deleted_ous", "state Deleted, although its caltables are archived",
        "2019-03-03T01:00:00.000", "P", "P", state="Deleted", reason="deleted_ous")),
    _project(19, "2021.1.01012.S", _mous(
        "malformed_status_xml", "its OUSStatus XML is truncated (not well-formed)",
        "2022-05-16T03:00:00.000", "P", "P", xml_form=XmlForm.MALFORMED)),
    _project(20, "2022.1.01188.S", _mous(
        "missing_status_xml", "its OUSStatus XML is NULL", "2023-03-27T02:00:00.000", "P P",
        xml_form=XmlForm.NULL)),
    _project(21, "2023.1.00271.S", _mous(
        "status_xml_disagrees", "its OUSStatus XML lacks the last session the rule derives",
        "2023-11-06T04:00:00.000", "P", "P", "P", xml_form=XmlForm.STALE)),
    _project(22, "2023.1.00644.S", _mous(
        "non_ascii_pi", "PI name and project title with non-ASCII letters",
        "2024-01-15T05:00:00.000", "P", "P"),
        pi_fullname="Ana María Núñez-Çelik",
        title="Señales de formación estelar: é and α in the ρ Ophiuchi cloud"),
    _project(23, "2024.1.00333.S", replace(
        _mous("multiple_sbs",
              "two SBs in one MOUS, EBs from both, and no archived record of the calibration to show "
              "they were calibrated together", "2024-11-04T03:00:00.000", "P", "P",
              sb_count=2, record=RecordForm.NONE, reason="multiple_sbs"),
        sessions=(SessionPlan((EbPlan(),)), SessionPlan((EbPlan(sb=1),))))),
    _project(24, "2023.1.01521.S", _mous(
        "no_pass_ebs", "only Fail and SemiPass EBs; timed out, no products",
        "2024-03-05T02:00:00.000", "F", "S F", recipe=Recipe.NONE, state="ObservingTimedOut",
        delivered=False, reason="no_pass_ebs")),
    _project(25, "2018.1.01707.S", _mous(
        "session_mismatch",
        "SESSION_1 is empty, but its caltables were archived as session_1 and session_2 (renumbered); "
        "no archived record says how it was calibrated",
        "2019-05-20T04:00:00.000", "F", "P", "P", renumber_caltables=True, record=RecordForm.NONE,
        reason="session_mismatch")),
    _project(26, "2022.1.01349.S", _mous(
        "unparsable_product", "restorable, plus a caltables file with no session number",
        "2023-06-12T03:00:00.000", "P", "P P", unparsable_product=True)),
    _project(27, "2025.1.01077.S", _mous(
        "pending_qa0", "being observed: one EB QA0 Pending, the latest Unset; not processed",
        "2026-10-20T02:00:00.000", "P", "N", "U", recipe=Recipe.NONE, state="Ready", delivered=False,
        session_gap=timedelta(days=5), reason="no_calibration_products")),
    _project(28, "2023.1.00912.S", _mous(
        "empty_requested_array",
        "its SB's REQUESTEDARRAY is empty (NULL, as Oracle stores ''): no restore task can be chosen",
        "2024-04-08T03:00:00.000", "P", "P", requested_array="", reason="unknown_array")),
    _project(29, "2022.1.00477.S", replace(
        _mous("eb_uid_trailing_space",
              "a Pass EB's UID ends in a space in AQUA_EXECBLOCK, the shift log and ASA_SCIENCE",
              "2023-04-17T02:00:00.000", "P P", "P", reason="malformed_eb_uid"),
        sessions=(SessionPlan((EbPlan(), EbPlan(uid_suffix=" "))), SessionPlan((EbPlan(),))))),
    _project(30, "2021.1.00834.S", _mous(
        "sb_status_uid_trailing_space",
        "its SBStatus UID ends in a space (BMMV_SCHEDBLOCK and SCHED_BLOCK_STATUS alike)",
        "2022-06-06T04:00:00.000", "P", "P",
        sb_uids=(("uid://A001/X1b1e/Xf00", "uid://A001/X1b1e/Xf01 "),), reason="malformed_reference")),
    _project(31, "2021.1.00356.S", _mous(
        "product_name_clash",
        "session 1's caltables are archived twice, as member.<mous>… and as bare <mous>…",
        "2022-10-11T03:00:00.000", "P", "P",
        extra_products=("{mous}.session_1.caltables.tgz",), reason="product_name_clash")),
    _project(32, "2021.1.00982.S", _mous(
        "unsafe_product_name", "its pipeline manifest is archived under a name with a directory part",
        "2022-12-05T05:00:00.000", "P", "P",
        extra_products=("calibration/{mous}.hifa_calimage.pipeline_manifest.xml",),
        reason="unsafe_product_name")),
    _project(33, "2019.1.00623.S", _mous(
        "resubmitted_project",
        "resubmitted: its earliest proposal row (Cycle 2018.1) has no PI, the 2019.1 one has",
        "2020-03-09T02:00:00.000", "P P", "P"),
        pi_fullname="Ingrid Halvorsen", earlier_proposal_cycle="2018.1"),
    # The archive's record of the calibration (manifest, restore script, archived PPR) on the NGAS stand-in.
    _project(34, "2021.1.01388.S", _mous(
        "record_disagrees",
        "calibrated with SESSION_2's first EB in session_1: manifest, restore script and archived PPR "
        "agree with each other and the caltables but not with the session rule: the PPR follows them",
        "2021-12-06T03:00:00.000", "P", "P P", record=RecordForm.DISAGREES)),
    _project(35, "2016.1.00712.S", _mous(
        "legacy_restore_task",
        "calibrated in 2017: its restore script calls the retired hif_restoredata",
        "2016-12-02T04:00:00.000", "P P", "P")),
    _project(36, "2019.1.00844.S", _mous(
        "restore_extra_steps",
        "its restore script was edited by hand: fixsyscaltimes and fixplanets before the restore",
        "2020-01-13T02:00:00.000", "P", "P", record=RecordForm.EXTRA_STEPS,
        reason="restore_needs_extra_steps")),
    _project(37, "2022.1.00790.S", _mous(
        "total_power_raster_scan",
        "a Cycle 9 total-power calibration: hsd_restoredata with hm_rasterscan='time'",
        "2022-11-14T05:00:00.000", "P P", "P", array="TP", session_gap=timedelta(days=5)),
        sources=("NGC_1068",), band="ALMA_RB_06"),
    _project(38, "2023.1.00488.S", _mous(
        "mpi_calibration", "calibrated with MPI CASA 6.5.4.9 (two nodes, 8 MPI servers)",
        "2023-12-04T03:00:00.000", "P", "P P", record=RecordForm.MPI)),
    _project(39, "2022.1.01077.S", _mous(
        "two_calibrations",
        "calibrated twice: hifa_cal before its last EB passed QA0, then hifa_calimage (archived later)",
        "2023-01-16T02:00:00.000", "P P", "P", record=RecordForm.TWO_CALIBRATIONS)),
    _project(40, "2021.1.00533.S", _mous(
        "document_not_on_ngas", "its restore script is listed in ASA_PRODUCT_FILES but NGAS lacks it",
        "2022-01-24T04:00:00.000", "P", "P", record=RecordForm.NOT_ON_NGAS)),
    _project(41, "2022.1.00288.S", _mous(
        "malformed_manifest", "its pipeline manifest is cut short (not well-formed XML)",
        "2022-12-12T03:00:00.000", "P", "P", record=RecordForm.MALFORMED_MANIFEST)),
    _project(42, "2015.1.00466.S", _mous(
        "older_delivery_no_record",
        "a Cycle 3 delivery with caltables but no manifest, restore script or PPR",
        "2016-02-08T05:00:00.000", "P", "P", record=RecordForm.NONE)),
    _project(43, "2019.1.01690.S", _mous(
        "pipeline_then_manual",
        "calibrated by the pipeline, then by hand: a scriptForPolCalibration.py is archived",
        "2020-01-27T03:00:00.000", "P P", "P",
        extra_products=("member.{mous}.scriptForPolCalibration.py",), reason="manual_post_calibration")),
    _project(44, "2015.1.00931.S", _mous(
        "no_manifest_lost_calapply",
        "a Cycle 3 delivery without manifest whose first EB's calapply file is not archived: the "
        "manifest written from the mirror would name a file the archive lacks",
        "2016-03-14T04:00:00.000", "P", "P", record=RecordForm.NONE,
        dropped_products=(".ms.calapply.txt",), reason="manifest_file_missing")),
    _project(45, "2024.1.00587.S", replace(
        _mous("two_sbs_agreeing_record",
              "two SBs in one MOUS, calibrated together: the archived record agrees, so one PPR holds "
              "every EB; its archived PPR names the first SB although the second has more Pass EBs",
              "2024-12-02T03:00:00.000", "P P", "P", sb_count=2),
        sessions=(SessionPlan((EbPlan(sb=1), EbPlan(sb=1))), SessionPlan((EbPlan(),))))),
    _project(46, "2021.1.01433.S", _mous(
        "record_documents_disagree",
        "its restore script alone puts SESSION_2's first EB in session_1: the archive's documents "
        "disagree with each other, so the record is no key and the session rule's map is refused",
        "2021-12-13T03:00:00.000", "P", "P P", record=RecordForm.SCRIPT_DISAGREES,
        reason="archive_record_disagrees")),
    _project(47, "2018.1.00612.S", _mous(
        "pipeline_then_flux_renormalisation",
        "calibrated by the pipeline, then its amplitudes renormalised by hand (ACreNorm): a "
        "scriptForFluxCalibration.py is archived, which scriptForPI.py runs after the pipeline's restore",
        "2019-03-18T04:00:00.000", "P", "P",
        extra_products=("member.{mous}.scriptForFluxCalibration.py",), reason="manual_post_calibration")),
)

FIXED_PROJECT_PLANS: Final = SEED_PROJECTS + INVENTED_PROJECTS


def build_fixed_projects() -> tuple[list[Project], dict[str, FixedCase]]:
    """Build every fixed-case project; the same objects, UIDs and keys every time."""
    build = FixedBuild()
    projects = [build_project(plan, build) for plan in FIXED_PROJECT_PLANS]
    projects.append(build_real_project(build))
    return projects, {case.name: case for case in build.cases}


FIXED_CASES: Final[dict[str, FixedCase]] = build_fixed_projects()[1]
