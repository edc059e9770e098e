"""Restore PPRs generated from a mirror synced from the small demo archive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import Connection, event, select, update
from sqlalchemy.engine import URL

from etl.archive_names import disk_name
from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import MousStatus, table_of
from etl.mirror.views import mous_restore
from etl.settings import PprSettings
from ppr.errors import InvalidPpr, NotRestorable, OutputExists, OutputNotADirectory
from ppr.service import BulkSummary, build_all_restorable, generate_ppr, refusal_code
from tests.conftest import cli_environment, open_engine
from tests.helpers import connect, rows
from tests.ppr.pipeline_reader import read_ppr

SEED = FIXED_CASES["seed_example"]
NS = "{Alma/pipelinescience/AlmaSciPipeRequest}"
status = table_of(MousStatus)


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    """One read-only synced mirror for the tests that only read."""
    return databases.create("ppr_read", template=synced_template)


@pytest.fixture
def connection(mirror: URL) -> Iterator[Connection]:
    engine = open_engine(mirror)
    try:
        with engine.connect() as opened:
            yield opened
    finally:
        engine.dispose()


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)


def texts(tree: etree._Element, path: str) -> list[str]:
    return [element.text or "" for element in tree.iterfind(path)]


def sessions_of(tree: etree._Element) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for intent in tree.iter("Intents"):
        keyword = intent.findtext("Keyword") or ""
        if keyword.startswith("SESSION_"):
            value = intent.findtext("Value") or ""
            found[keyword] = set(value.split(" | ")) if value else set()
    return found


def restorable_uids(connection: Connection) -> list[str]:
    return list(connection.execute(select(status.c.mous_uid).where(status.c.restorable)).scalars())


def test_the_seed_mous_reproduces_the_seed_example(
    connection: Connection, site: PprSettings, seed_tree: etree._Element
) -> None:
    generated = generate_ppr(connection, SEED.mous_uid, site)
    ours = etree.fromstring(generated.document)
    for path in ("ProjectSummary/ProposalCode", "ProjectSummary/ProposalTitle", "ProjectSummary/PIName",
                 "ProjectSummary/Observatory", "ProjectSummary/Telescope",
                 "ProjectSummary/ProcessingSite", "ProjectSummary/Operator", "ProjectSummary/Mode",
                 "ProjectSummary/Version", "ProjectStructure/ObsUnitSetTitle",
                 "ProjectStructure/ObsUnitSetType"):
        assert texts(ours, path) == texts(seed_tree, path), path
    for path in ("ProjectStructure/ObsUnitSetRef", "ProjectStructure/ProjectStatusRef",
                 "ProjectStructure/OUSStatusRef"):
        assert dict(ours.find(path).attrib) == dict(seed_tree.find(path).attrib), path  # type: ignore[union-attr]
    assert sessions_of(ours) == sessions_of(seed_tree)
    assert len(sessions_of(ours)) == 15
    identifier = ".//SchedBlockIdentifier"
    for ref in ("SchedBlockRef", "SBStatusRef"):
        assert ours.find(f"{identifier}/{ref}").attrib == seed_tree.find(f"{identifier}/{ref}").attrib  # type: ignore[union-attr]
    assert sorted(texts(ours, f"{identifier}/AsdmIdentifier/AsdmDiskName")) == sorted(
        texts(seed_tree, f"{identifier}/AsdmIdentifier/AsdmDiskName")
    )
    assert texts(ours, ".//ProcessingCommand/Command") == ["hifa_restoredata"]


def test_every_restorable_mous_is_read_by_the_pipeline_as_intended(
    connection: Connection, site: PprSettings
) -> None:
    """Parse each PPR the way executeppr does: every EB must land in its own session, by name."""
    uids = restorable_uids(connection)
    assert len(uids) > 20
    for mous_uid in uids:
        generated = generate_ppr(connection, mous_uid, site, allow_proprietary=True)
        view = read_ppr(generated.document)
        intended = {
            disk_name(uid): session.number
            for session in generated.request.sessions for uid in session.eb_uids
        }
        assert view.asdm_session == intended, mous_uid
        assert view.matched == set(intended), mous_uid
        assert sorted(view.sessions) == list(range(1, len(generated.request.sessions) + 1))
        expected_task = "hsd_restoredata" if generated.request.array == "TP" else "hifa_restoredata"
        assert [command for command, _ in view.commands] == [expected_task]


@pytest.mark.parametrize(
    "case_name",
    ["empty_first_session", "empty_middle_session", "empty_last_session", "null_stop_time",
     "null_session_start", "tied_session_start", "duplicate_shiftlog", "asa_under_two_mous",
     "total_power", "seven_m_aca_alias", "legacy_product_names", "mixed_session"],
)
def test_edge_cases_keep_their_session_numbers(
    connection: Connection, site: PprSettings, case_name: str
) -> None:
    case = FIXED_CASES[case_name]
    generated = generate_ppr(connection, case.mous_uid, site, allow_proprietary=True)
    tree = etree.fromstring(generated.document)
    expected = {
        f"SESSION_{number}": set(ebs) for number, ebs in enumerate(case.expected_sessions, start=1)
    }
    assert sessions_of(tree) == expected
    values = [intent.find("Value") for intent in tree.iter("Intents")
              if (intent.findtext("Keyword") or "").startswith("SESSION_")]
    for value, ebs in zip(values, case.expected_sessions, strict=True):
        assert value is not None
        # Exactly ' | ' between EBs; an empty session is an empty <Value/>, never dropped.
        assert value.text == (" | ".join(ebs) if ebs else None)
    view = read_ppr(generated.document)
    for number, ebs in enumerate(case.expected_sessions, start=1):
        assert all(view.asdm_session[disk_name(eb)] == number for eb in ebs)
    if case.array == "TP":
        assert view.commands == [("hsd_restoredata", {"ocorr_mode": "ao"})]


@pytest.mark.parametrize(
    ("case_name", "reason"),
    [(name, case.expected_reason) for name, case in sorted(FIXED_CASES.items()) if case.expected_reason]
    + [(name, "proprietary") for name, case in sorted(FIXED_CASES.items())
       if case.expected_restorable and case.proprietary],
)
def test_each_refusal_is_one_line_exit_1_and_writes_nothing(
    cli: None, case_name: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = FIXED_CASES[case_name]
    output = tmp_path / "out.xml"
    assert main(["-q", "ppr", case.mous_uid, "-o", str(output)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith(f"almamirror: MOUS {case.mous_uid} cannot be restored ({reason})")
    assert not output.exists()
    if reason in DIRECTORY_FOR_ANOTHER_KIND:
        # Its request directory runs the archived script (pipeline_script, test_pipeline_script) or
        # the delivery's scriptForPI.py (scriptforpi, tests/ppr/test_delivery.py).
        return
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path / "tree")]) == 1
    assert not (tmp_path / "tree").exists()


DIRECTORY_FOR_ANOTHER_KIND = ("restore_needs_extra_steps", "manual_calibration", "manual_post_calibration")


def test_refusal_messages_say_what_to_do(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-q", "ppr", FIXED_CASES["manual_calibration"].mous_uid])
    assert "scriptForPI.py and the CASA version of the original calibration" in capsys.readouterr().err
    main(["-q", "ppr", FIXED_CASES["session_mismatch"].mous_uid])
    assert "sessions {2,3} but caltables are archived for sessions {1,2}" in capsys.readouterr().err
    main(["-q", "ppr", FIXED_CASES["multiple_sbs"].mous_uid])
    assert "2 scheduling blocks" in capsys.readouterr().err


def test_proprietary_needs_allow_proprietary(cli: None, tmp_path: Path) -> None:
    case = FIXED_CASES["proprietary"]
    output = tmp_path / "proprietary.xml"
    assert main(["-q", "ppr", case.mous_uid, "-o", str(output)]) == 1
    assert main(["-q", "ppr", case.mous_uid, "-o", str(output), "--allow-proprietary"]) == 0
    assert output.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')


@pytest.mark.parametrize(
    "text", ["", "X129e/Xb6", "uid://A001/X129e", "uid:/A001/X129e/Xb6", "uid://A001/X129E/Xb6",
             "uid___A001_X129e", "2017.1.00895.S", "uid://A001/X129e/Xb6/X1"],
)
def test_a_bad_uid_is_exit_2(cli: None, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "ppr", text]) == 2
    error = capsys.readouterr().err.strip()
    assert "is not a MOUS UID" in error or "give a MOUS_UID" in error
    assert "\n" not in error


@pytest.mark.parametrize(
    "form", ["uid___A001_X129e_Xb6", "member.uid___A001_X129e_Xb6", " uid://A001/X129e/Xb6 "]
)
def test_every_accepted_uid_form_gives_the_same_ppr(
    cli: None, form: str, tmp_path: Path
) -> None:
    output = tmp_path / "ppr.xml"
    assert main(["-q", "ppr", form, "-o", str(output), "--relative-path", "fixed/path"]) == 0
    tree = etree.fromstring(output.read_bytes())
    assert tree.find("ProjectStructure/OUSStatusRef").get("entityId") == SEED.mous_uid  # type: ignore[union-attr]


def test_unknown_and_non_member_ous_are_refused(
    cli: None, connection: Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "ppr", "uid://A001/X9999/X1"]) == 1
    assert "is not in the mirror" in capsys.readouterr().err
    gous, sous = connection.execute(
        select(status.c.gous_uid, status.c.sous_uid).where(status.c.mous_uid == SEED.mous_uid)
    ).one()
    assert main(["-q", "ppr", gous]) == 1
    assert "is a group (GOUS) OUS" in capsys.readouterr().err
    assert main(["-q", "ppr", sous]) == 1
    assert "is a science goal (SOUS) OUS" in capsys.readouterr().err


def test_build_makes_the_tree_and_the_fetch_manifest(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-q", "ppr", SEED.mous_uid, "--build", str(tmp_path), "--relative-path", "restore/seed"]
    assert main(args) == 0
    request = tmp_path / "restore" / "seed"
    assert {p.name for p in request.iterdir()} == {
        "rawdata", "working", "products", "fetch-manifest.json", "README.txt", "restore.json",
        "run-restore.sh",
    }
    ppr_file = request / "working" / "PPR_uid___A001_X129e_Xb6.xml"
    assert etree.parse(str(ppr_file)).findtext(".//RelativePath") == "restore/seed"
    manifest = json.loads((request / "fetch-manifest.json").read_text())
    assert [a["target"] for a in manifest["asdms"]][:2] == [
        "rawdata/uid___A002_Xc733ea_X179e", "rawdata/uid___A002_Xc73dee_X798"
    ]
    assert len(manifest["asdms"]) == 16
    targets = {p["target"] for p in manifest["products"]}
    assert {f"products/uid___A001_X129e_Xb6.session_{n}.caltables.tgz" for n in range(1, 16)} <= targets
    assert "products/uid___A002_Xc733ea_X179e.ms.flagversions.tgz" in targets
    assert "products/uid___A002_Xc733ea_X179e.ms.calapply.txt" in targets
    assert all(not p["archived_name"].endswith("auxcaltables.tgz") for p in manifest["products"])
    assert all(p["size_bytes"] for p in manifest["products"])
    # The same request again: refused, the earlier one left alone; --force replaces it.
    capsys.readouterr()
    assert main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_check_agrees_with_the_seed_example_as_archived_ppr(
    cli: None, seed_xml: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archived = tmp_path / "PPR_uid___A001_X129e_Xb6.xml"
    archived.write_bytes(seed_xml)
    assert main(["-q", "ppr", SEED.mous_uid, "--check", str(archived)]) == 0
    assert "agree" in capsys.readouterr().out


def test_check_reports_a_moved_eb_and_a_missing_session(
    cli: None, seed_xml: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = etree.fromstring(seed_xml)
    values = {i.findtext("Keyword"): i.find("Value") for i in tree.iter("Intents")}
    values["SESSION_13"].text = "uid://A002/Xc790bf/X1201"  # type: ignore[union-attr]
    values["SESSION_14"].text = "uid://A002/Xc790bf/X5bf1 | uid://A002/Xc790bf/X3e2"  # type: ignore[union-attr]
    fifteen = next(i for i in tree.iter("Intents") if i.findtext("Keyword") == "SESSION_15")
    fifteen.getparent().remove(fifteen)  # type: ignore[union-attr]
    archived = tmp_path / "archived.xml"
    archived.write_bytes(etree.tostring(tree))
    assert main(["-q", "ppr", SEED.mous_uid, "--check", str(archived)]) == 1
    out = capsys.readouterr().out
    assert "uid://A002/Xc790bf/X3e2" in out
    assert "SESSION_15" in out
    assert "difference" in out


def test_all_restorable_is_bulk_and_reports_refusals(
    mirror: URL, site: PprSettings, tmp_path: Path
) -> None:
    engine = open_engine(mirror)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with engine.connect() as connection:
            public = list(restorable_uids(connection))
            # Restored by their archived restore script or their scriptForPI.py: built too.
            scripted = list(connection.execute(
                select(mous_restore.c.mous_uid)
                .where(mous_restore.c.restore_kind.in_(("pipeline_script", "scriptforpi")))
            ).scalars())
            statements.clear()
            summary = build_all_restorable(connection, tmp_path, site)
    finally:
        engine.dispose()
    proprietary = {
        name for name, case in FIXED_CASES.items() if case.expected_restorable and case.proprietary
    }
    assert {FIXED_CASES[name].mous_uid for name in proprietary} <= set(summary.refused)
    assert set(summary.refused_by_reason) == {"proprietary"}
    assert scripted
    assert len(summary.written) + len(summary.refused) == len(public) + len(scripted)
    # The PPR layout, or a delivery tree for scriptForPI.py.
    assert all((path / "working").is_dir() or (path / "script").is_dir() for path in summary.written)
    # A constant handful of queries, however many MOUSes: never one query set per MOUS (one more for
    # the archived restore scripts, two for the delivery trees).
    assert len(statements) <= 9, statements


def test_all_restorable_refusals_are_counted_by_snake_case_code() -> None:
    refusals = [
        NotRestorable("uid://A001/X1/X1", "proprietary", "until 2027"),
        NotRestorable("uid://A001/X1/X2", "proprietary", "never released"),
        OutputExists(Path("/spool/x")),
        InvalidPpr(["line 3: bad"], "uid://A001/X1/X4"),
        OutputNotADirectory(Path("/spool/a-file")),  # a file where the request directory would go
    ]
    summary = BulkSummary(refused={
        f"uid://A001/X1/X{n}": f"{refusal_code(refusal)}: {refusal}" for n, refusal in enumerate(refusals, 1)
    })
    assert dict(summary.refused_by_reason) == {
        "proprietary": 2, "output_exists": 1, "invalid_ppr": 1, "output_not_a_directory": 1,
    }


def test_all_restorable_cli_json_summary(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "ppr", "--all-restorable", "--build", str(tmp_path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"]
    assert summary["refused_by_reason"]["proprietary"] >= 2
    assert main(["-q", "ppr", "--all-restorable"]) == 2
    assert main(["-q", "ppr", SEED.mous_uid, "--all-restorable", "--build", str(tmp_path)]) == 2


def test_a_status_change_in_the_mirror_changes_the_answer(
    databases: Any, synced_template: str, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The generator reads only the mirror: what the mirror says decides."""
    mirror = databases.create("ppr_status_change", template=synced_template)
    with connect(mirror) as connection:
        connection.execute(
            update(status).where(status.c.mous_uid == SEED.mous_uid).values(
                restorable=False, reason_code="no_calibration_products", reason="test", restorable_since=None,
                restorable_since_run_id=None,
            )
        )
    cli_environment(monkeypatch, None, mirror, test_home)
    assert main(["-q", "ppr", SEED.mous_uid, "-o", str(tmp_path / "x.xml")]) == 1
    assert rows(mirror, select(status.c.restorable).where(status.c.mous_uid == SEED.mous_uid)) == [
        {"restorable": False}
    ]
