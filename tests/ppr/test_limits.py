"""The verdict and the PPR writer agree on every limit: what the writer could not write is a reason.

Through a real sync of a changed copy of the demo source, then ``ppr --build``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import MousStatus, table_of
from ppr.build import FREE_TEXT_CHARACTERS
from tests.conftest import cli_environment
from tests.helpers import connect, rows, sync

status = table_of(MousStatus)


def test_a_20_mb_project_title_is_cut_and_the_mous_stays_restorable(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = FIXED_CASES["seed_example"]
    with connect(source_copy) as source:
        # ALMA's column is wider than the stand-in's; the campaign's title was 20 MB.
        source.execute(text("ALTER TABLE alma.bmmv_obsproject ALTER COLUMN prj_name TYPE text"))
        source.execute(text(
            "UPDATE alma.bmmv_obsproject SET prj_name = repeat('Title ', 3500000) WHERE prj_code = :code"
        ), {"code": "2017.1.00895.S"})
    sync(source_copy, synced_mirror, test_home)
    [row] = rows(synced_mirror, select(status.c.restorable).where(status.c.mous_uid == case.mous_uid))
    assert row["restorable"]
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path)]) == 0
    [ppr] = tmp_path.rglob("PPR_*.xml")
    title = etree.parse(str(ppr)).findtext(".//ProposalTitle") or ""
    assert len(title) == FREE_TEXT_CHARACTERS
    assert title.startswith("Title Title")
    assert title.endswith("…")


@pytest.mark.parametrize(
    ("column", "value", "phrase"),
    [
        ("prj_code", "2017.1.00895.S" + "9" * 300, "the project code"),
        ("part_id", "X" * 300, "the OUS partId"),
    ],
)
def test_a_reference_too_long_to_write_is_malformed_reference_and_refused(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], column: str, value: str, phrase: str,
) -> None:
    case = FIXED_CASES["seed_example"]
    with connect(source_copy) as source:
        if column == "prj_code":
            source.execute(text("ALTER TABLE alma.bmmv_obsproject ALTER COLUMN prj_code TYPE text"))
            source.execute(text(
                "UPDATE alma.bmmv_obsproject SET prj_code = :value WHERE prj_code = '2017.1.00895.S'"
            ), {"value": value})
        else:
            for table, name, key in (("aqua_ous", "obsunitsetpartid", "ous_status_entity_id"),
                                     ("obs_unit_set_status", "domain_entity_id", "status_entity_id")):
                source.execute(text(f"ALTER TABLE alma.{table} ALTER COLUMN {name} TYPE text"))
                source.execute(text(f"UPDATE alma.{table} SET {name} = :value WHERE {key} = :mous"),
                               {"value": value, "mous": case.mous_uid})
    sync(source_copy, synced_mirror, test_home)
    [row] = rows(synced_mirror, select(status).where(status.c.mous_uid == case.mous_uid))
    assert row["reason_code"] == "malformed_reference"
    assert phrase in row["reason"]
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    capsys.readouterr()
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path)]) == 1
    assert "malformed_reference" in capsys.readouterr().err
