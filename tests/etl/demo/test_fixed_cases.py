"""FIXED_CASES agree with what the filled tables say, read with plain SQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, Engine, text

from etl.demo.case_plans import REASONS, FixedCase
from etl.demo.fixed_cases import FIXED_CASES
from etl.demo.scales import DEMO_AS_OF
from tests.etl.demo.anomalies import SEED_SESSIONS
from tests.etl.demo.session_rule import derived_sessions

CALTABLES_SESSION = re.compile(r"\.session_([0-9]+)\.caltables\.(?:tgz|tar\.gz)$")
MANUAL_FLAGS = ("ManualCalibration", "ManualCalAndImg", "ManualSingleDish")

# State, FLAGS, number of SBs, release date and number of deliveries of one MOUS (the delivery ID is
# "<project code>_<MOUS UID in file form>").
MOUS_FACTS = text(
    """
    WITH mous AS (
        SELECT o.domain_entity_state, o.flags, o.status_entity_id,
               p.prj_code || '_' || replace(replace(o.status_entity_id, '://', '___'), '/', '_') AS delivery
        FROM alma.obs_unit_set_status o
        JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = o.obs_project_id
        WHERE o.status_entity_id = :mous
    )
    SELECT m.domain_entity_state, m.flags,
           (SELECT count(*) FROM alma.bmmv_schedblock b WHERE b.mous_status_uid = m.status_entity_id),
           (SELECT d.release_date FROM alma.asa_delivery_status d WHERE d.delivery_id = m.delivery),
           (SELECT count(*) FROM alma.asa_delivery_status d WHERE d.delivery_id = m.delivery)
    FROM mous m
    """
)
PRODUCT_NAMES = text("SELECT ngas_file_id FROM alma.asa_product_files WHERE asa_ous_id = :mous")
# The newest restore script the stand-in NGAS holds for a MOUS (its content is the archived file).
RESTORE_SCRIPT = text(
    r"""
    SELECT n.content FROM alma.asa_product_files f
    JOIN alma.ngas_file n ON n.file_id = f.ngas_file_id
    WHERE f.asa_ous_id = :mous AND f.ngas_file_id LIKE '%.casa\_piperestorescript.py'
    ORDER BY n.ingestion_date DESC LIMIT 1
    """
)
# Lines the pipeline writes in a restore script; any other statement was added by hand.
PIPELINE_LINE = re.compile(
    r"(h_init\(\)|context = h_init\(\)|context\.set_state\(.*\)|__rethrow_casa_exceptions = True|try:|"
    r"finally:|h_save\(\)|#.*|\w+_restoredata\s*\(.*\))"
)
BLOCKS = text(
    "SELECT archive_uid, sb_status_uid, requestedarray FROM alma.bmmv_schedblock "
    "WHERE mous_status_uid = :mous"
)
# What the restore PPR carries of a MOUS, from its OUS row, its parents, AQUA_OUS and the project.
REFERENCES = text(
    """
    SELECT o.status_entity_id, s.status_entity_id, g.status_entity_id, p.prj_code,
           COALESCE(NULLIF(q.obsunitsetuid, ''), o.obs_project_id),
           COALESCE(NULLIF(q.obsunitsetpartid, ''), o.domain_entity_id), o.obs_project_status_id
    FROM alma.obs_unit_set_status o
    JOIN alma.obs_unit_set_status g ON g.status_entity_id = o.parent_obs_unit_set_status_id
    JOIN alma.obs_unit_set_status s ON s.status_entity_id = g.parent_obs_unit_set_status_id
    LEFT JOIN alma.aqua_ous q ON q.ous_status_entity_id = o.status_entity_id
    LEFT JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = o.obs_project_id
    WHERE o.status_entity_id = :mous
    """
)
ARCHIVE_UID = re.compile(r"uid://A[0-9]{3}/X[0-9a-f]+/X[0-9a-f]+")
PROJECT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
KNOWN_ARRAYS = {"TWELVE-M", "SEVEN-M", "ACA", "TP-ARRAY", "TP"}
RESTORE_PRODUCT = re.compile(
    r"(\.session_[0-9]+\.caltables\.(tgz|tar\.gz)|\.ms\.calapply\.txt|\.ms\.flagversions\.(tgz|tar\.gz)"
    r"|pipeline_manifest\.xml)$"
)


Sessions = tuple[tuple[str, ...], ...]


def first_reason(connection: Connection, case: FixedCase, sessions: Sessions) -> str | None:
    """The first applicable non-restorable reason, from the tables alone (None: restorable)."""
    state, flags, sb_count, _release, _deliveries = connection.execute(
        MOUS_FACTS, {"mous": case.mous_uid}
    ).one()
    names = connection.execute(PRODUCT_NAMES, {"mous": case.mous_uid}).scalars().all()
    blocks = connection.execute(BLOCKS, {"mous": case.mous_uid}).all()
    caltables = {int(match.group(1)) for name in names if (match := CALTABLES_SESSION.search(name))}
    calibrated = {number for number, value in enumerate(sessions, 1) if value}
    *uids, code, obs_project, part_id, project_status = connection.execute(
        REFERENCES, {"mous": case.mous_uid}
    ).one()
    # Several SBs: the PPR names one (the archived PPR's, else the one with most Pass EBs).
    sb_uid, sb_status, requested = min(blocks) if blocks else (None, None, None)
    uids += [obs_project, project_status, sb_uid, sb_status]
    targets = [restore_target(name) for name in names if RESTORE_PRODUCT.search(name)]
    conditions = {
        "deleted_ous": state == "Deleted",
        "manual_calibration": flags in MANUAL_FLAGS,
        # Hand-run scripts after the pipeline's calibration (NRAO: NGAS_FILE_ID LIKE '%scriptFor%Cal%').
        "manual_post_calibration": bool(caltables) and any(
            re.search(r"scriptFor.*Cal", name) and not name.endswith("scriptForCalibration.py")
            for name in names
        ),
        "no_pass_ebs": not calibrated,
        "no_calibration_products": not caltables,
        "multiple_sbs": sb_count > 1 and case.expected_record not in ("agrees", "follows_archive"),
        "unknown_array": (requested or "").upper() not in KNOWN_ARRAYS,
        "session_mismatch": caltables != calibrated and case.expected_record != "follows_archive",
        **record_conditions(connection, case, sessions),
        # Without a manifest that parses, the request's is written from the mirror, naming every
        # Pass EB's flagversions and calapply.
        "manifest_file_missing": (
            case.expected_record in ("absent", "malformed") and any(
                f"{eb.replace(':', '_').replace('/', '_')}{suffix}" not in targets
                for value in sessions for eb in value
                for suffix in (".ms.flagversions.tgz", ".ms.calapply.txt")
            )
        ),
        "malformed_eb_uid": any(not ARCHIVE_UID.fullmatch(uid) for value in sessions for uid in value),
        "malformed_reference": (
            any(not ARCHIVE_UID.fullmatch(uid or "") for uid in uids)
            or not PROJECT_CODE.fullmatch(code or "")
            or not part_id or any(character.isspace() for character in part_id)
        ),
        "unsafe_product_name": any("/" in target or target in {"", ".", ".."} for target in targets),
        "product_name_clash": len(set(targets)) < len(targets),
    }
    return next((reason for reason in REASONS if conditions[reason]), None)


def record_conditions(connection: Connection, case: FixedCase, sessions: Sessions) -> dict[str, bool]:
    """The two record reasons, read from the archived restore script with regular expressions."""
    content = connection.execute(RESTORE_SCRIPT, {"mous": case.mous_uid}).scalar()
    if content is None:
        return {"archive_record_disagrees": False, "restore_needs_extra_steps": False}
    script = bytes(content).decode("utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    call = next(line for line in lines if "_restoredata" in line)
    vis = re.findall(r"'([^']*)'", re.search(r"vis=\[(.*?)\]", call).group(1))  # type: ignore[union-attr]
    labels = re.findall(r"'session_(\d+)'", re.search(r"session=\[(.*?)\]", call).group(1))  # type: ignore[union-attr]
    archived = {(eb, int(number)) for eb, number in zip(vis, labels, strict=True)}
    ours = {(eb.replace(":", "_").replace("/", "_"), number)
            for number, ebs in enumerate(sessions, 1) for eb in ebs}
    return {
        "archive_record_disagrees": archived != ours and case.expected_record != "follows_archive",
        # An import nothing calls is inert (Cycle 5 scripts begin with one).
        "restore_needs_extra_steps": any(
            not PIPELINE_LINE.fullmatch(line) and not line.startswith("from recipes.almahelpers import")
            for line in lines
        ) or any(line.startswith("fixsyscaltimes(") for line in lines),
    }


def restore_target(name: str) -> str:
    """The name a restore gives an archived product: no member. prefix, .tgz for .tar.gz."""
    bare = name[len("member."):] if name.startswith("member.") else name
    return bare[: -len(".tar.gz")] + ".tgz" if bare.endswith(".tar.gz") else bare


@pytest.fixture
def derived(small_engine: Engine) -> dict[str, Sessions]:
    with small_engine.connect() as connection:
        return derived_sessions(connection)


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_expected_sessions_are_what_the_rule_derives(
    name: str, derived: dict[str, Sessions]
) -> None:
    case = FIXED_CASES[name]
    assert derived[case.mous_uid] == case.expected_sessions


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_expected_reason_is_the_first_that_applies(
    name: str, small_engine: Engine, derived: dict[str, Sessions]
) -> None:
    case = FIXED_CASES[name]
    with small_engine.connect() as connection:
        reason = first_reason(connection, case, derived[case.mous_uid])
    assert reason == case.expected_reason
    assert case.expected_restorable == (reason is None)


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_proprietary_follows_the_release_date(name: str, small_engine: Engine) -> None:
    case = FIXED_CASES[name]
    with small_engine.connect() as connection:
        *_, release, deliveries = connection.execute(MOUS_FACTS, {"mous": case.mous_uid}).one()
    delivered = deliveries == 1
    assert case.proprietary == (delivered and (release is None or release > DEMO_AS_OF))


def test_seed_cases_are_the_documents_own() -> None:
    assert FIXED_CASES["seed_example"].mous_uid == "uid://A001/X129e/Xb6"
    assert FIXED_CASES["seed_example"].expected_sessions == SEED_SESSIONS["uid://A001/X129e/Xb6"]
    assert FIXED_CASES["seed_first"].expected_sessions == SEED_SESSIONS["uid://A001/X1284/X265f"]
    assert FIXED_CASES["empty_first_session"].mous_uid == "uid://A001/X1284/Xf3b"
    assert FIXED_CASES["null_stop_time"].mous_uid == "uid://A001/X133d/X3681"


def test_seed_example_project_rows(small_engine: Engine) -> None:
    query = text(
        """
        SELECT p.prj_code, p.prj_name, r.pi_fullname, b.archive_uid, b.sb_status_uid, b.sb_name,
               b.requestedarray, q.obsunitsetuid, q.obsunitsetpartid, o.obs_project_status_id, o.flags,
               o.domain_entity_state, e.starttime
        FROM alma.obs_unit_set_status o
        JOIN alma.bmmv_obsproject p ON p.prj_archive_uid = o.obs_project_id
        JOIN alma.bmmv_obsproposal r ON r.projectuid = p.prj_archive_uid
        JOIN alma.bmmv_schedblock b ON b.mous_status_uid = o.status_entity_id
        JOIN alma.aqua_ous q ON q.ous_status_entity_id = o.status_entity_id
        JOIN alma.aqua_execblock e ON e.execblockuid = 'uid://A002/Xc790bf/X608a'
        WHERE o.status_entity_id = 'uid://A001/X129e/Xb6'
        """
    )
    with small_engine.connect() as connection:
        row = connection.execute(query).one()
        caltables = connection.execute(
            text(
                r"""
                SELECT count(*) FROM alma.asa_product_files WHERE asa_ous_id = 'uid://A001/X129e/Xb6'
                AND ngas_file_id ~ '^member\.uid___A001_X129e_Xb6\.session_([1-9]|1[0-5])\.caltables\.tgz$'
                """
            )
        ).scalar_one()
    assert row[:12] == (
        "2017.1.00895.S", None, "Elisabeth Mills", "uid://A001/X129e/Xb2", "uid://A001/X129e/Xb7", None,
        "TWELVE-M", "uid://A001/X1220/Xa74", "X1541554216", "uid://A001/X1220/Xa78", "PipelineCalAndImg",
        "Delivered",
    )
    assert row[12].isoformat(timespec="milliseconds") == "2017-12-06T15:44:53.474"
    assert caltables == 15


def test_the_resubmitted_project_has_an_earlier_proposal_without_a_pi(small_engine: Engine) -> None:
    query = text(
        """
        SELECT r.cycle, r.pi_fullname FROM alma.bmmv_obsproposal r
        JOIN alma.obs_unit_set_status o ON o.obs_project_id = r.projectuid
        WHERE o.status_entity_id = :mous ORDER BY r.cycle
        """
    )
    with small_engine.connect() as connection:
        proposals = connection.execute(query, {"mous": FIXED_CASES["resubmitted_project"].mous_uid}).all()
    assert [tuple(row) for row in proposals] == [("2018.1", None), ("2019.1", "Ingrid Halvorsen")]


def test_every_reason_is_exercised() -> None:
    reasons = {case.expected_reason for case in FIXED_CASES.values()}
    assert reasons == {*REASONS, None}
    assert {case.array for case in FIXED_CASES.values()} == {"12m", "7m", "TP"}
