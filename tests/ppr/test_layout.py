from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from etl.archive_names import restore_name
from etl.errors import StopAndFix, UsageError
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.errors import InvalidPpr, InvalidRelativePath, OutputExists
from ppr.layout import build_request_directory
from ppr.model import ProductFile, RestoreRequest
from ppr.request_lock import LOCK_FILE
from tests.ppr.examples import MOUS, MOUS_DISK, seed_request

CREATED = datetime(2024, 3, 5, 6, 7, 8, 912_000, tzinfo=UTC)
EB_DISK = "uid___A002_Xc733ea_X179e"


def _ppr(request: RestoreRequest, site: PprSettings, relative_path: str) -> bytes:
    return serialize_ppr(build_ppr(request, site, relative_path, CREATED))


def _make(base: Path, site: PprSettings, request: RestoreRequest | None = None, force: bool = False) -> Path:
    request = request or seed_request()
    relative_path = default_relative_path(request, CREATED)
    return build_request_directory(base, relative_path, _ppr(request, site, relative_path), request, force)


def _manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / "fetch-manifest.json").read_text("utf-8"))
    return manifest


def _hidden_leftovers(base: Path) -> list[Path]:
    return list(base.rglob(".*"))


def test_the_request_directory_has_the_three_directories_ppr_and_manifest(
    tmp_path: Path, site: PprSettings
) -> None:
    directory = _make(tmp_path, site)
    assert directory == tmp_path / (
        "2017.1.00895.S_2024_03_05T06_07_08.912"
        "/SOUS_uid___A001_X129e_Xb4/GOUS_uid___A001_X129e_Xb5/MOUS_uid___A001_X129e_Xb6"
    )
    assert sorted(path.name for path in directory.iterdir()) == [
        "README.txt",
        "fetch-manifest.json",
        "products",
        "rawdata",
        "restore.json",
        "run-restore.sh",
        "working",
    ]
    assert [path.name for path in (directory / "working").iterdir()] == [f"PPR_{MOUS_DISK}.xml"]
    assert not any((directory / "rawdata").iterdir())
    assert not any((directory / "products").iterdir())
    assert _hidden_leftovers(tmp_path) == []


def test_the_ppr_file_holds_exactly_the_given_bytes(tmp_path: Path, site: PprSettings) -> None:
    request = seed_request()
    relative_path = default_relative_path(request, CREATED)
    ppr = _ppr(request, site, relative_path)
    directory = build_request_directory(tmp_path, relative_path, ppr, request)
    assert (directory / "working" / f"PPR_{MOUS_DISK}.xml").read_bytes() == ppr


def test_the_manifest_describes_the_request(tmp_path: Path, site: PprSettings) -> None:
    manifest = _manifest(_make(tmp_path, site))
    assert manifest["mous_uid"] == MOUS
    assert manifest["mous_disk_name"] == MOUS_DISK
    assert manifest["project_code"] == "2017.1.00895.S"
    assert manifest["relative_path"] == default_relative_path(seed_request(), CREATED)
    assert manifest["created_utc"] == "2024-03-05T06:07:08"
    assert manifest["ppr"] == f"working/PPR_{MOUS_DISK}.xml"


def test_the_manifest_lists_one_asdm_per_pass_eb_in_session_order(tmp_path: Path, site: PprSettings) -> None:
    asdms = _manifest(_make(tmp_path, site))["asdms"]
    assert len(asdms) == 16
    assert asdms[0] == {
        "eb_uid": "uid://A002/Xc733ea/X179e",
        "disk_name": "uid___A002_Xc733ea_X179e",
        "session": 1,
        "target": "rawdata/uid___A002_Xc733ea_X179e",
        "source": {"via": "asdm_command", "eb_uid": "uid://A002/Xc733ea/X179e"},
    }
    assert [(a["session"], a["eb_uid"]) for a in asdms if a["session"] == 13] == [
        (13, "uid://A002/Xc790bf/X1201"),
        (13, "uid://A002/Xc790bf/X3e2"),
    ]
    assert [a["session"] for a in asdms] == sorted(a["session"] for a in asdms)


def test_the_manifest_products_have_the_names_the_restore_looks_for(
    tmp_path: Path, site: PprSettings
) -> None:
    products = {p["archived_name"]: p for p in _manifest(_make(tmp_path, site))["products"]}
    assert {name: p["target"] for name, p in products.items()} == {
        f"member.{MOUS_DISK}.session_1.caltables.tgz": f"products/{MOUS_DISK}.session_1.caltables.tgz",
        f"{MOUS_DISK}.session_13.caltables.tar.gz": f"products/{MOUS_DISK}.session_13.caltables.tgz",
        f"{EB_DISK}.ms.flagversions.tgz": f"products/{EB_DISK}.ms.flagversions.tgz",
        f"member.{EB_DISK}.ms.calapply.txt": f"products/{EB_DISK}.ms.calapply.txt",
        f"member.{MOUS_DISK}.hifa_calimage.pipeline_manifest.xml": (
            f"products/{MOUS_DISK}.hifa_calimage.pipeline_manifest.xml"
        ),
    }
    assert {p["source"]["ngas_file_id"] for p in products.values()} == set(products)
    assert {p["source"]["via"] for p in products.values()} == {"ngas"}
    caltables = products[f"{MOUS_DISK}.session_13.caltables.tar.gz"]
    assert (caltables["kind"], caltables["session"], caltables["size_bytes"]) == ("caltables", 13, 2_000)
    calapply = products["member.uid___A002_Xc733ea_X179e.ms.calapply.txt"]
    assert (calapply["kind"], calapply["session"], calapply["size_bytes"]) == ("calapply", None, None)


def test_the_manifest_totals(tmp_path: Path, site: PprSettings) -> None:
    assert _manifest(_make(tmp_path, site))["totals"] == {
        "asdms": 16,
        "products": 5,
        "product_bytes": 1_000 + 2_000 + 300 + 40,
        "products_of_unknown_size": 1,
    }


@pytest.mark.parametrize(
    ("archived", "target"),
    [
        (
            "member.uid___A001_X129e_Xb6.session_1.caltables.tgz",
            "uid___A001_X129e_Xb6.session_1.caltables.tgz",
        ),
        ("uid___A001_X129e_Xb6.session_2.caltables.tar.gz", "uid___A001_X129e_Xb6.session_2.caltables.tgz"),
        ("member.uid___A002_X1_X2.ms.flagversions.tar.gz", "uid___A002_X1_X2.ms.flagversions.tgz"),
        ("uid___A002_X1_X2.ms.calapply.txt", "uid___A002_X1_X2.ms.calapply.txt"),
        ("member.member.x.tgz", "member.x.tgz"),  # one prefix is ALMA's; a second is part of the name
        ("x.tar.gz.txt", "x.tar.gz.txt"),
    ],
)
def test_restore_name(archived: str, target: str) -> None:
    assert restore_name(archived) == target


def test_a_non_empty_request_directory_is_refused_and_left_alone(tmp_path: Path, site: PprSettings) -> None:
    directory = _make(tmp_path, site)
    marker = directory / "working" / "restore.log"
    marker.write_text("earlier run")
    with pytest.raises(OutputExists) as caught:
        _make(tmp_path, site)
    assert str(directory) in str(caught.value)
    assert "--force" in str(caught.value)
    assert isinstance(caught.value, StopAndFix)  # a refusal: exit 1, nothing written
    assert marker.read_text() == "earlier run"
    assert _hidden_leftovers(tmp_path) == []


def test_an_empty_existing_directory_is_used(tmp_path: Path, site: PprSettings) -> None:
    relative_path = default_relative_path(seed_request(), CREATED)
    (tmp_path / relative_path).mkdir(parents=True)
    directory = _make(tmp_path, site)
    assert (directory / "working" / f"PPR_{MOUS_DISK}.xml").is_file()


def test_a_file_in_the_way_is_refused(tmp_path: Path, site: PprSettings) -> None:
    relative_path = default_relative_path(seed_request(), CREATED)
    (tmp_path / relative_path).parent.mkdir(parents=True)
    (tmp_path / relative_path).write_text("not a directory")
    with pytest.raises(OutputExists):
        _make(tmp_path, site)


def test_force_replaces_the_ppr_and_manifest_and_keeps_fetched_data(
    tmp_path: Path, site: PprSettings
) -> None:
    directory = _make(tmp_path, site)
    asdm = directory / "rawdata" / EB_DISK
    asdm.mkdir()
    (asdm / "ASDM.xml").write_text("fetched")
    (directory / "products" / "caltables.tgz").write_bytes(b"fetched")
    (directory / "working" / "restore.log").write_text("earlier run")
    ppr = directory / "working" / f"PPR_{MOUS_DISK}.xml"
    ppr.write_text("an older PPR")
    (directory / "fetch-manifest.json").write_text("{}")

    assert _make(tmp_path, site, force=True) == directory
    assert (asdm / "ASDM.xml").read_text() == "fetched"
    assert (directory / "products" / "caltables.tgz").read_bytes() == b"fetched"
    assert (directory / "working" / "restore.log").read_text() == "earlier run"
    assert ppr.read_bytes().startswith(b"<?xml")
    assert _manifest(directory)["mous_uid"] == MOUS
    # The fetch lock --force took (ppr/request_lock.py), as every fetch leaves it; nothing staged.
    assert _hidden_leftovers(tmp_path) == [directory / LOCK_FILE]


def test_force_fills_in_missing_directories(tmp_path: Path, site: PprSettings) -> None:
    directory = _make(tmp_path, site)
    (directory / "products").rmdir()
    (directory / "rawdata" / EB_DISK).mkdir()
    assert _make(tmp_path, site, force=True) == directory
    assert (directory / "products").is_dir()
    assert (directory / "rawdata" / EB_DISK).is_dir()


def test_force_does_not_replace_a_symbolic_link(tmp_path: Path, site: PprSettings) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "rawdata").mkdir(parents=True)
    (elsewhere / "rawdata" / "asdm").write_text("fetched")
    relative_path = default_relative_path(seed_request(), CREATED)
    link = tmp_path / "base" / relative_path
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputExists, match="not a directory"):
        _make(tmp_path / "base", site, force=True)
    assert (elsewhere / "rawdata" / "asdm").read_text() == "fetched"
    assert link.is_symlink()


@pytest.mark.parametrize("relative_path", ["", "/abs/run", "run/../..", "..", "run//MOUS", "./run", "run/"])
def test_a_path_outside_or_equal_to_the_base_is_refused(
    tmp_path: Path, site: PprSettings, relative_path: str
) -> None:
    request = seed_request()
    ppr = _ppr(request, site, "run/MOUS")
    with pytest.raises(InvalidRelativePath) as caught:
        build_request_directory(tmp_path, relative_path, ppr, request, force=True)
    assert repr(relative_path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_the_request_directory_refuses_a_relative_path_as_the_ppr_command_does(
    tmp_path: Path, site: PprSettings
) -> None:
    """One rule for --relative-path and the request directory: white space is refused by both."""
    from etl.cli.ppr_commands import check_relative_path

    request = seed_request()
    ppr = _ppr(request, site, "run/MOUS")
    with pytest.raises(UsageError) as said:
        check_relative_path("run/MOUS one")
    with pytest.raises(InvalidRelativePath) as refused:
        build_request_directory(tmp_path, "run/MOUS one", ppr, request, force=True)
    assert str(said.value).removeprefix("--relative-path 'run/MOUS one': ") in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_ppr_for_another_directory_is_refused(tmp_path: Path, site: PprSettings) -> None:
    request = seed_request()
    ppr = _ppr(request, site, "run/elsewhere")
    with pytest.raises(InvalidPpr, match="RelativePath is run/elsewhere in the PPR but run/here"):
        build_request_directory(tmp_path, "run/here", ppr, request)
    assert list(tmp_path.iterdir()) == []


def test_a_ppr_for_another_mous_is_refused(tmp_path: Path, site: PprSettings) -> None:
    request = seed_request()
    other = seed_request(mous_uid="uid://A001/X129e/Xb8")
    with pytest.raises(InvalidPpr, match="MOUS is uid://A001/X129e/Xb8 in the PPR"):
        build_request_directory(tmp_path, "run", _ppr(other, site, "run"), request)


def test_a_ppr_with_other_ebs_is_refused(tmp_path: Path, site: PprSettings) -> None:
    request = seed_request()
    fewer = seed_request(sessions=request.sessions[:3])
    with pytest.raises(InvalidPpr, match="ASDMs"):
        build_request_directory(tmp_path, "run", _ppr(fewer, site, "run"), request)


def test_an_invalid_ppr_is_never_rendered(site: PprSettings) -> None:
    """The request directory takes PPRs from render(), which refuses one that fails validation."""
    from ppr.model import Session
    from ppr.service import render

    # A trailing space passes the builder's checks but not the schema's UID pattern.
    request = seed_request(sessions=(Session(1, ("uid://A002/Xc77d4f/X522 ",)),))
    with pytest.raises(InvalidPpr, match="X522 "):
        render(request, site, "run", CREATED)


def test_two_archived_files_restoring_to_one_name_are_refused(tmp_path: Path, site: PprSettings) -> None:
    request = seed_request(
        products=(
            ProductFile(f"member.{MOUS_DISK}.session_1.caltables.tgz", "caltables", 1, 10),
            ProductFile(f"{MOUS_DISK}.session_1.caltables.tar.gz", "caltables", 1, 10),
        )
    )
    with pytest.raises(InvalidPpr, match="both restore as") as caught:
        _make(tmp_path, site, request)
    assert f"{MOUS_DISK}.session_1.caltables.tgz" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape.tgz", "sub/dir.tgz", "member...", ".."])
def test_a_product_name_that_is_not_a_plain_file_name_is_refused(
    tmp_path: Path, site: PprSettings, name: str
) -> None:
    request = seed_request(products=(ProductFile(name, "caltables", 1, 10),))
    with pytest.raises(InvalidPpr, match="is not a plain file name"):
        _make(tmp_path, site, request)
