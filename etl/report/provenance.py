"""Which CASA and pipeline calibrated each MOUS, serial or MPI: what a restore of it needs.

Read from ``restorable_mous``' provenance columns, which the sync takes from each calibration's
pipeline manifest (revision 0006). MOUSes without an archived record (``calibration_record`` absent)
are not listed: nothing says how they were calibrated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, Text, func, or_, select

from etl.errors import UsageError
from etl.output import PLAIN, Layout, TableView
from etl.report.base import Report, fetch, plural, write_report
from etl.report.views import restorable_mous

COLUMNS = (
    "mous_uid", "project_code", "array_family", "casa_version", "pipeline_version", "mpi_servers",
    "calibration_record", "restorable", "reason_code",
)
UNKNOWN = "unknown"
# On a narrow terminal the pipeline version goes first; the UID and the CASA version stay.
LAYOUT = Layout(drop_first=("reason_code", "restorable", "pipeline_version", "array_family", "project_code"))


@dataclass(frozen=True)
class ProvenanceFilter:
    casa: str | None = None  # a CASA version or its leading components: 6.5 matches 6.5.4-9
    mpi: bool | None = None  # True: MPI CASA only; False: serial CASA only

    def describe(self) -> str:
        casa = f" with CASA {self.casa}" if self.casa else ""
        mode = {True: " in MPI CASA", False: " in serial CASA", None: ""}[self.mpi]
        return casa + mode


def same_casa_form(version: str) -> str:
    """``6.5.4-9`` and ``6.5.4.9`` are one version (CASA 5's and CASA 6's way of writing the build)."""
    return version.replace("-", ".")


def check_casa_version(text: str | None) -> str | None:
    """A CASA version to match (``6.5``, ``6.5.4-9``); anything else is a usage error."""
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]+([.-][0-9]+)*", text.strip()):
        raise UsageError(f"--casa '{text}' is not a CASA version; expected e.g. 6.5, 6.5.4-9 or 6.5.4.9")
    return text.strip()


def show_provenance(
    connection: Connection, chosen: ProvenanceFilter, fmt: str, stream: TextIO, view: TableView = PLAIN
) -> None:
    """``report provenance``: MOUSes by the CASA and pipeline that calibrated them, and MPI use."""
    write_report(provenance_report(connection, chosen), fmt, stream, view)


def provenance_report(connection: Connection, chosen: ProvenanceFilter) -> Report:
    rows = fetch(connection, provenance_query(chosen))
    return Report(rows, COLUMNS, provenance_summary(rows, chosen), layout=LAYOUT)


def provenance_query(chosen: ProvenanceFilter) -> Select[Any]:
    view = restorable_mous
    conditions: list[ColumnElement[bool]] = [view.c.calibration_record != "absent"]
    if chosen.casa is not None:
        # CASA 5 wrote 5.4.0-70, CASA 6 writes 6.5.4.9: the build number's separator says nothing.
        version = func.replace(view.c.casa_version, "-", ".", type_=Text)
        wanted = same_casa_form(chosen.casa)
        conditions.append(or_(version == wanted, version.startswith(f"{wanted}.", autoescape=True)))
    if chosen.mpi is True:
        conditions.append(view.c.mpi_servers > 0)
    elif chosen.mpi is False:
        conditions.append(view.c.mpi_servers == 0)
    return (
        select(*(view.c[name] for name in COLUMNS))
        .where(*conditions)
        .order_by(
            view.c.casa_version.desc().nulls_last(), view.c.pipeline_version, view.c.project_code,
            view.c.mous_uid,
        )
    )


def provenance_summary(rows: Sequence[Mapping[str, Any]], chosen: ProvenanceFilter) -> str:
    """'12 MOUSes with a calibration record: CASA 6.5.4-9 3 (MPI 1), 5.6.1-8 9'."""
    line = f"{plural(len(rows), 'MOUS', 'MOUSes')} with a calibration record{chosen.describe()}"
    versions = Counter(str(row["casa_version"] or UNKNOWN) for row in rows)
    mpi = Counter(str(row["casa_version"] or UNKNOWN) for row in rows if (row["mpi_servers"] or 0) > 0)
    if not versions:
        return line
    parts = [
        f"{version} {count:,}" + (f" (MPI {mpi[version]:,})" if mpi[version] else "")
        for version, count in sorted(versions.items(), key=lambda item: _version_key(item[0]), reverse=True)
    ]
    return f"{line}: CASA {', '.join(parts)}"


def _version_key(version: str) -> tuple[int, ...]:
    """6.5.4-9 → (6, 5, 4, 9); 'unknown' sorts last."""
    numbers = re.findall(r"[0-9]+", version)
    return tuple(int(number) for number in numbers) if numbers else (-1,)
