"""The three record documents, read without the mirror: manifest, restore script, archived PPR."""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import pytest

from etl.calibration.documents import PARSER_VERSION, parse_document, request_sessions_of, script_of
from etl.calibration.errors import MalformedDocument
from etl.calibration.manifest import Manifest, parse_manifest
from etl.calibration.names import calibration_stem, document_kind
from etl.calibration.restore_script import parse_restore_script

A, B, C = "uid___A002_Xc77d4f_X522", "uid___A002_Xc77d4f_X3d06", "uid___A002_Xc790bf_X1201"
OUS = "uid___A001_X129e_Xb6"

MANIFEST = f"""<?xml version="1.0" encoding="UTF-8"?>
<piperesults name="{OUS}">
  <ous name="{OUS}">
    <casaversion name="6.5.4-9"/>
    <pipeline_version name="2023.1.0.124"/>
    <procedure_name name="hifa_calimage"/>
    <execution_environment>
      <node num_mpi_servers="4" host="cvpost001"/>
      <node num_mpi_servers="3" host="cvpost002"/>
    </execution_environment>
    <piperequest name="{OUS}.hifa_calimage.pprequest.xml"/>
    <session name="session_2">
      <caltables name="{OUS}.session_2.caltables.tgz" session="session_2"/>
      <asdm name="{A}.ms" datatype="x" level="y">
        <finalflags name="{A}.ms.flagversions.tgz"/>
        <applycmds name="{A}.ms.calapply.txt"/>
      </asdm>
      <aux_caltables name="{OUS}.session_2.auxcaltables.tgz" session="session_2"/>
    </session>
    <session name="session_3">
      <caltables name="{OUS}.session_3.caltables.tgz" session="session_3"/>
      <asdm name="{B}.ms"><finalflags name="{B}.ms.flagversions.tgz"/></asdm>
      <asdm name="{C}.ms"/>
    </session>
    <restorescript name="{OUS}.hifa_calimage.casa_piperestorescript.py"/>
    <manifest name="{OUS}.hifa_calimage.pipeline_manifest.xml"/>
  </ous>
  <ous name="ignored"><casaversion name="1.0"/></ous>
</piperesults>
"""


def test_a_manifest_gives_versions_mpi_sessions_and_product_names() -> None:
    manifest = parse_manifest(MANIFEST.encode())
    assert (manifest.casa_version, manifest.pipeline_version, manifest.procedure) == (
        "6.5.4-9", "2023.1.0.124", "hifa_calimage"
    )
    assert manifest.mpi_servers == 7  # summed over nodes
    # No session_1: it held no calibrated EB.
    assert manifest.eb_sessions() == {2: (A,), 3: (B, C)}
    session_2 = manifest.sessions[0]
    assert session_2.caltables == f"{OUS}.session_2.caltables.tgz"
    assert session_2.asdms[0].flagversions == f"{A}.ms.flagversions.tgz"
    assert session_2.asdms[0].calapply == f"{A}.ms.calapply.txt"
    assert manifest.sessions[1].asdms[1].calapply is None
    assert manifest.manifest == f"{OUS}.hifa_calimage.pipeline_manifest.xml"
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_a_mid_2018_manifest_spells_the_environment_in_camel_case() -> None:
    text = MANIFEST.replace("execution_environment", "executionEnvironment").replace(
        "num_mpi_servers", "numMpiServers"
    )
    assert parse_manifest(text.encode()).mpi_servers == 7


def test_serial_casa_is_zero_and_no_environment_is_unknown() -> None:
    serial = MANIFEST.replace('num_mpi_servers="4"', 'num_mpi_servers="0"').replace(
        '<node num_mpi_servers="3" host="cvpost002"/>', ""
    )
    assert parse_manifest(serial.encode()).mpi_servers == 0
    start, end = MANIFEST.index("<execution_environment>"), MANIFEST.index("</execution_environment>")
    old = MANIFEST[:start] + MANIFEST[end + len("</execution_environment>"):]
    older = parse_manifest(old.replace('<casaversion name="6.5.4-9"/>', "").encode())
    assert (older.mpi_servers, older.casa_version) == (None, None)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(MANIFEST[: len(MANIFEST) // 2], "not well-formed", id="truncated"),
        pytest.param("<OUSStatus/>", "not piperesults", id="another-document"),
        pytest.param("<piperesults/>", "no <ous>", id="no-ous"),
        pytest.param(MANIFEST.replace('name="session_3"', 'name="session three"'), "session_<N>",
                     id="session-name"),
        pytest.param(MANIFEST.replace('name="session_3"', 'name="session_2"'), "twice", id="twice"),
        pytest.param(MANIFEST.replace(f'<asdm name="{C}.ms"/>', "<asdm/>"), "no name", id="asdm-name"),
        pytest.param(MANIFEST.replace('num_mpi_servers="3"', 'num_mpi_servers="three"'), "not a number",
                     id="mpi"),
    ],
)
def test_a_malformed_manifest_says_what_is_wrong(content: str, problem: str) -> None:
    with pytest.raises(MalformedDocument, match=problem):
        parse_manifest(content.encode())


def test_a_manifest_naming_an_external_entity_is_refused_without_reading_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    text = f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file://{secret}">]>' + MANIFEST.split(
        "?>", 1
    )[1].replace('"6.5.4-9"', '"&x;"')
    with pytest.raises(MalformedDocument) as refused:
        parse_manifest(text.encode())
    assert "do not read me" not in str(refused.value)


SESSIONS = "['session_2', 'session_3', 'session_3']"
RESTORE = f"""__rethrow_casa_exceptions = True
h_init()
try:
    hifa_restoredata (vis=['{A}', '{B}', '{C}'], session={SESSIONS}, ocorr_mode='ca')
finally:
    h_save()
"""


def test_a_restore_script_gives_the_pipelines_key_and_its_arguments() -> None:
    script = parse_restore_script(RESTORE)
    assert script.task == "hifa_restoredata"
    assert not script.legacy
    assert script.eb_sessions == ((A, 2), (B, 3), (C, 3))
    assert script.sessions() == {2: (A,), 3: (B, C)}
    assert script.arguments == {"ocorr_mode": "'ca'"}  # as written
    assert script.argument("ocorr_mode") == "ca"
    assert script.extra_steps == ()  # the pipeline's own lines are not steps
    assert script_of(script.to_json()) == script


def test_a_total_power_script_with_its_context_lines_and_raster_scan_mode() -> None:
    text = f"""context = h_init()
context.set_state('ProjectSummary', 'proposal_code', '2022.1.00790.S')
context.set_state('PerformanceParameters', 'max_cube_size', -1)
try:
    hsd_restoredata(vis=['{A}'], session=['session_1'], ocorr_mode='ao', hm_rasterscan='time')
finally:
    h_save()
"""
    script = parse_restore_script(text)
    assert (script.task, script.argument("ocorr_mode"), script.argument("hm_rasterscan")) == (
        "hsd_restoredata", "ao", "time"
    )
    assert script.extra_steps == ()


def test_a_legacy_script_calls_hif_restoredata() -> None:
    script = parse_restore_script(RESTORE.replace("hifa_restoredata", "hif_restoredata"))
    assert script.legacy


def test_hand_added_steps_are_listed_in_order_one_line_each() -> None:
    text = RESTORE.replace(
        "try:\n",
        "try:\n    # SACM/JAO - Fixes\n    from recipes.almahelpers import fixsyscaltimes\n"
        f"    fixsyscaltimes(vis='{A}.ms')\n    fixplanets(vis='{A}.ms', field='Titan',\n"
        "               fixuvw=True)\n",
    ).replace("ocorr_mode='ca')", "ocorr_mode='ca', bdfflags=False)")
    script = parse_restore_script(text)
    assert script.extra_steps == (
        "from recipes.almahelpers import fixsyscaltimes",
        f"fixsyscaltimes(vis='{A}.ms')",
        f"fixplanets(vis='{A}.ms', field='Titan', fixuvw=True)",
    )
    assert script.arguments == {"ocorr_mode": "'ca'", "bdfflags": "False"}
    assert script.argument("bdfflags") is None  # not a string


def test_the_script_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"open({str(marker)!r}, 'w').write('x')\n" + RESTORE
    script = parse_restore_script(text)
    assert not marker.exists()
    assert script.extra_steps == (f"open({str(marker)!r}, 'w').write('x')",)
    # The module does not even import a way to run code.
    source = Path(sys.modules["etl.calibration.restore_script"].__file__ or "").read_text()
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    assert not {"exec", "eval", "compile"} & names


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("h_init(\n", "not Python", id="syntax"),
        pytest.param("h_init()\x00\n", "not Python", id="nul"),
        pytest.param("x = " + "(" * 300 + ")" * 300 + "\n", "not Python", id="too-deep"),
        pytest.param("h_init()\nh_save()\n", "0 times", id="no-restore"),
        pytest.param(RESTORE + RESTORE.split("\n", 1)[1], "2 times", id="two-restores"),
        pytest.param(RESTORE.replace(f", session={SESSIONS}", ""),
                     "without session", id="no-session"),
        pytest.param(RESTORE.replace("'session_3', 'session_3'", "'session_3'"), "3 vis but 2",
                     id="lengths"),
        pytest.param(RESTORE.replace("'session_2'", "'two'"), "session_<N>", id="label"),
        pytest.param(RESTORE.replace(f"vis=['{A}', ", f"vis=[name, '{A}', "), "not a literal",
                     id="not-literal"),
        pytest.param(RESTORE.replace("(vis=", "('x', vis="), "positional", id="positional"),
    ],
)
def test_a_malformed_script_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MalformedDocument, match=problem):
        parse_restore_script(text)


def test_documents_are_recognised_by_name_and_grouped_by_calibration() -> None:
    assert document_kind(f"member.{OUS}.hifa_calimage.pipeline_manifest.xml") == "manifest"
    assert document_kind(f"member.{OUS}.hifa_calimage.casa_piperestorescript.py") == "restore_script"
    assert document_kind(f"member.{OUS}.hifa_calimage.pprequest.xml") == "request"
    assert document_kind(f"PPR_{OUS}.xml") == "request"
    assert document_kind(f"member.{OUS}.hifa_calimage.casa_pipescript.py") is None
    assert calibration_stem(f"member.{OUS}.hifa_cal.pipeline_manifest.xml") == f"{OUS}.hifa_cal"
    assert calibration_stem(f"{OUS}.hifa_cal.pprequest.xml") == f"{OUS}.hifa_cal"
    assert calibration_stem(f"PPR_{OUS}.xml") == ""


def test_parse_document_dispatches_by_kind_and_refuses_non_utf8() -> None:
    assert PARSER_VERSION >= 1
    parsed = parse_document("restore_script", RESTORE.encode())
    assert script_of(parsed).eb_sessions[0] == (A, 2)
    request = (
        "<SciPipeRequest><ProcessingRequests><ProcessingRequest><ProcessingIntents>"
        "<Intents><Keyword>SESSION_1</Keyword><Value/></Intents>"
        "<Intents><Keyword>SESSION_2</Keyword><Value>uid://A002/Xc77d4f/X522</Value></Intents>"
        "</ProcessingIntents></ProcessingRequest></ProcessingRequests></SciPipeRequest>"
    )
    assert request_sessions_of(parse_document("request", request.encode())) == {
        1: (), 2: ("uid://A002/Xc77d4f/X522",)
    }
    with pytest.raises(MalformedDocument, match="not UTF-8"):
        parse_document("restore_script", b"h_init()\n\xff\n")


def test_an_import_nothing_calls_is_not_a_step_but_a_call_is() -> None:
    inert = RESTORE.replace(
        "try:\n", "try:\n    from recipes.almahelpers import fixsyscaltimes # SACM/JAO - Fixes\n"
    )
    assert parse_restore_script(inert).extra_steps == ()
    at_top = "import os\nfrom recipes import almahelpers as helpers\n" + RESTORE
    assert parse_restore_script(at_top).extra_steps == ()
    called = inert.replace("try:\n", f"try:\n    fixsyscaltimes(vis='{A}.ms')\n", 1)
    assert parse_restore_script(called).extra_steps == (
        f"fixsyscaltimes(vis='{A}.ms')", "from recipes.almahelpers import fixsyscaltimes",
    )
    used_module = "import recipes.almahelpers\nrecipes.almahelpers.fixsyscaltimes(vis='x.ms')\n" + RESTORE
    assert len(parse_restore_script(used_module).extra_steps) == 2
    for real_call in (f"fixplanets(vis='{A}.ms', field='Titan', fixuvw=True)", "hifa_importdata(vis=['x'])"):
        steps = parse_restore_script(RESTORE.replace("try:\n", f"try:\n    {real_call}\n")).extra_steps
        assert steps == (real_call,)


@pytest.mark.alone
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x = " + "-" * 30000 + "1", id="deep-unary"),
        pytest.param("x = " + "[" * 5000 + "]" * 5000, id="deep-list"),
        pytest.param(RESTORE + "x = 1\n" * 50_000, id="too-long"),
    ],
)
def test_a_hostile_script_is_malformed_quickly(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(MalformedDocument, match="restore script"):
        parse_restore_script(text)
    with pytest.raises(MalformedDocument):
        parse_document("restore_script", text.encode())
    assert time.monotonic() - started < 5


def test_a_document_beyond_the_size_bound_is_malformed_unread() -> None:
    with pytest.raises(MalformedDocument, match="not read"):
        parse_document("manifest", b"<piperesults>" + b" " * (17 * 1024 * 1024) + b"</piperesults>")
