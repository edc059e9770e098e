"""What makes a request directory runnable by a person or a batch system: ``restore.json`` (what the
restore is, which CASA it needs and which it runs, the command and its inputs) and ``run-restore.sh``.

``run-restore.sh`` assumes nothing of where or how it runs: it names its request directory by its
absolute path (Slurm runs a copy of the script from its spool; ``ALMAMIRROR_REQUEST_DIR`` overrides
it for a moved directory), reads no terminal, sets ``SCIPIPE_ROOTDIR`` and starts in ``working/``.
It refuses at once, in one line, when the chosen CASA is not installed, and always leaves
``restore-result.json`` (start, end, exit status, the CASA log).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from etl.restore.casa import CasaChoice, RestoreFacts, choose_casa
from etl.restore.kinds import PIPELINE_PPR, PIPELINE_SCRIPT
from etl.restore.settings import CasaInstallation
from ppr.json_text import indented_json
from ppr.model import RestoreRequest

RESTORE_JSON: Final = "restore.json"
RUN_SCRIPT: Final = "run-restore.sh"
RESULT_JSON: Final = "restore-result.json"
RESTORE_JSON_VERSION: Final = 1
# Exit status of a refusal: the chosen CASA is not there (as a shell's "command not found").
NOT_INSTALLED_STATUS: Final = 127


@dataclass(frozen=True)
class RestoreRun:
    """One restore as a request directory runs it."""

    kind: str  # pipeline_ppr, pipeline_script, scriptforpi
    mous_uid: str
    project_code: str
    request_dir: Path  # absolute
    scipipe_rootdir: Path  # absolute: request_dir is SCIPIPE_ROOTDIR/<RelativePath>
    working: str  # relative to request_dir: where CASA starts
    casa_code: str  # what ``casa -c`` runs there
    casa: CasaChoice
    mpi_servers: int | None
    calibration: Mapping[str, Any]  # the calibration's CASA, pipeline and MPI servers
    inputs: Mapping[str, Any]
    created: str
    pipeline: bool = True  # CASA is started with --pipeline (a delivery of a manual calibration is not)


def casa_arguments(run: RestoreRun, log: str) -> list[str]:
    """The CASA command line, ``$CASA`` / ``$MPICASA`` standing for the chosen installation."""
    pipeline = ["--pipeline"] if run.pipeline else []
    casa = ["$CASA", "--nogui", "--nologger", *pipeline, "--logfile", log, "-c", run.casa_code]
    if run.casa.mpi and run.mpi_servers:
        # One MPI client and the calibration's number of servers.
        return ["$MPICASA", "-n", str(run.mpi_servers + 1), *casa]
    return casa


def restore_json(run: RestoreRun) -> dict[str, Any]:
    """restore.json's content: what ``run-restore.sh`` does, for people and batch tools."""
    return {
        "restore_json_version": RESTORE_JSON_VERSION,
        "kind": run.kind,
        "mous_uid": run.mous_uid,
        "project_code": run.project_code,
        "created_utc": run.created,
        "request_dir": str(run.request_dir),
        "scipipe_rootdir": str(run.scipipe_rootdir),
        "working_directory": run.working,
        "casa": {**run.casa.to_json(), "calibration": dict(run.calibration)},
        "command": {
            "script": RUN_SCRIPT,
            "casa": " ".join(casa_arguments(run, "<working>/casa-restore-<start>.log")),
        },
        "inputs": dict(run.inputs),
        "result": RESULT_JSON,
        "submitted": None,
    }


def restore_json_bytes(run: RestoreRun) -> bytes:
    return indented_json(restore_json(run))


def run_script(run: RestoreRun) -> bytes:
    """run-restore.sh: POSIX sh, every path absolute, the outcome in restore-result.json."""
    chosen = run.casa.chosen
    casa = "" if chosen is None else str(chosen.casa)
    mpicasa = "" if chosen is None else str(chosen.mpicasa)
    quoted = " ".join(_shell_word(word) for word in casa_arguments(run, "$LOG"))
    lines = [
        "#!/bin/sh",
        f"# Restore of MOUS {run.mous_uid} (project {run.project_code}, kind {run.kind}),",
        f"# written by almamirror at {run.created} UTC. restore.json says what it runs and why.",
        "# Runs unchanged by hand or under a batch system (sbatch, condor_submit): no terminal is read,",
        "# and the request directory is named by its absolute path, not the current directory.",
        "set -u",
        f"REQUEST=${{ALMAMIRROR_REQUEST_DIR:-{shlex.quote(str(run.request_dir))}}}",
        f"CASA={shlex.quote(casa)}",
        f"MPICASA={shlex.quote(mpicasa)}",
        f"NEEDED={shlex.quote(run.casa.needed or '')}",
        f"SCIPIPE_ROOTDIR={shlex.quote(str(run.scipipe_rootdir))}",
        "export SCIPIPE_ROOTDIR",
        f"RESULT=\"$REQUEST/{RESULT_JSON}\"",
        "now() { date -u +%Y-%m-%dT%H:%M:%SZ; }",
        "json() { printf '%s' \"$1\" | sed 's/\\\\/\\\\\\\\/g; s/\"/\\\\\"/g'; }",
        "result() {  # exit status, started, ended, CASA log, refusal",
        "  printf '{\"mous_uid\": \"%s\", \"kind\": \"%s\", \"started_utc\": \"%s\", \"ended_utc\": \"%s\", "
        "\"exit_status\": %s, \"casa\": \"%s\", \"casa_log\": \"%s\", \"refused\": \"%s\"}\\n' \\",
        f"    {shlex.quote(run.mous_uid)} {shlex.quote(run.kind)} \"$2\" \"$3\" \"$1\" "
        "\"$(json \"$CASA\")\" \"$(json \"$4\")\" \"$(json \"$5\")\" > \"$RESULT.partial\" "
        "&& mv \"$RESULT.partial\" \"$RESULT\"",
        "}",
        "refuse() {",
        "  echo \"run-restore.sh: $1\" >&2",
        f"  result {NOT_INSTALLED_STATUS} \"$(now)\" \"$(now)\" \"\" \"$1\"",
        f"  exit {NOT_INSTALLED_STATUS}",
        "}",
        f"[ -d \"$REQUEST/{run.working}\" ] || refuse \"$REQUEST/{run.working} is not a directory "
        "(set ALMAMIRROR_REQUEST_DIR if the request directory moved)\"",
        _casa_check(run),
        f"cd \"$REQUEST/{run.working}\" || exit 1",
        "STARTED=$(now)",
        "LOG=\"$REQUEST/" + run.working + "/casa-restore-$(date -u +%Y%m%dT%H%M%SZ).log\"",
        f"{quoted} </dev/null",
        "STATUS=$?",
        "result \"$STATUS\" \"$STARTED\" \"$(now)\" \"$LOG\" \"\"",
        "exit \"$STATUS\"",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _casa_check(run: RestoreRun) -> str:
    if run.casa.chosen is None:
        wanted = run.casa.to_install or run.casa.problem or run.casa.needed or "a CASA release"
        refusal = f"no CASA for this restore at this site: needs {wanted} ([restore.casa])"
        return f"refuse {shlex.quote(refusal)}"
    check = (
        "[ -x \"$CASA\" ] || refuse \"CASA $NEEDED is not installed: $CASA is missing "
        "(install it, or declare the site's CASA in [restore.casa] and write the request again)\""
    )
    if run.casa.mpi and run.mpi_servers:
        check += "\n[ -x \"$MPICASA\" ] || refuse \"MPI CASA is not installed: $MPICASA is missing\""
    return check


def _shell_word(word: str) -> str:
    """``$CASA``, ``$MPICASA`` and ``$LOG`` expand; everything else is quoted as it is."""
    if word in {"$CASA", "$MPICASA", "$LOG"}:
        return f"\"{word}\""
    return shlex.quote(word)


def executeppr_code(ppr_name: str) -> str:
    """The Python a pipeline CASA runs in working/ to restore from the PPR."""
    return (
        "import pipeline.infrastructure.executeppr as eppr; "
        f"eppr.executeppr({ppr_name!r}, importonly=False)"
    )


def inputs_of(
    ppr: str | None, asdms: Sequence[Mapping[str, Any]], products: Sequence[Mapping[str, Any]],
    script: str | None = None,
) -> dict[str, Any]:
    return {
        "ppr": ppr,
        "script": script,
        "asdms": [asdm["target"] for asdm in asdms],
        "products": [product["target"] for product in products],
    }


def pipeline_ppr_run(
    request: RestoreRequest,
    scipipe_rootdir: Path,
    request_dir: Path,
    working: str,
    ppr_name: str,
    site: Sequence[CasaInstallation],
    created: str,
    fetch_manifest: Mapping[str, Any],
) -> RestoreRun:
    """The restore of a request directory with a restore PPR: executeppr in working/, or the archived
    restore script there (kind pipeline_script) when the request carries one."""
    record = request.record
    script = request.restore_script[0] if request.restore_script is not None else None
    kind = PIPELINE_PPR if script is None else PIPELINE_SCRIPT
    facts = RestoreFacts(
        kind, "pipeline", record.casa_version if record else None,
        record.mpi_servers if record else None, record.hm_rasterscan if record else None,
    )
    return RestoreRun(
        kind=kind, mous_uid=request.mous_uid, project_code=request.project_code,
        request_dir=request_dir, scipipe_rootdir=scipipe_rootdir, working=working,
        casa_code=executeppr_code(ppr_name) if script is None else script, casa=choose_casa(facts, site),
        mpi_servers=facts.mpi_servers,
        calibration={
            "casa_version": facts.casa_version,
            "pipeline_version": record.pipeline_version if record else None,
            "mpi_servers": facts.mpi_servers,
        },
        inputs=inputs_of(
            f"{working}/{ppr_name}", fetch_manifest["asdms"], fetch_manifest["products"],
            None if script is None else f"{working}/{script}",
        ),
        created=created,
    )
