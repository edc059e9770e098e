"""Fill the stand-in: generate the archive into spools, then TRUNCATE and COPY in one transaction."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import chain

from sqlalchemy import Connection, Engine, MetaData, func, inspect, literal, select, text

from etl.copy import copy_rows
from etl.demo.calibration_documents import attach_calibration_documents
from etl.demo.fixed_cases import FIXED_PROJECT_PLANS, build_fixed_projects
from etl.demo.model import Project
from etl.demo.ngas_catalogue import CATALOGUE, CATALOGUE_TABLE, catalogue_rows
from etl.demo.ngas_catalogue import COLUMNS as CATALOGUE_COLUMNS
from etl.demo.population import random_projects
from etl.demo.restore_products import attach_restore_products
from etl.demo.rows import COLUMNS, write_project
from etl.demo.scales import DEFAULT_SEED, DEMO_AS_OF, SCALES, ScaleSpec
from etl.demo.spool import Spools
from etl.demo.summary import DemoSummary
from etl.errors import UsageError
from etl.progress import Progress
from etl.source.admin import init_source, missing_tables, refuse_narrow_encoding, refuse_oracle
from etl.source.contract import CONTRACT, TABLE_NAMES, contract_table, source_execution_options

log = logging.getLogger(__name__)


def fill_demo_archive(
    engine: Engine,
    contract: MetaData,
    schema: str,
    scale: str = "small",
    seed: int = DEFAULT_SEED,
    as_of: datetime = DEMO_AS_OF,
) -> DemoSummary:
    """Replace the stand-in's contents with the demo archive for ``scale`` and ``seed``.

    The same scale, seed and ``as_of`` always give byte-identical rows. Every contract table is
    truncated and reloaded in one transaction: a failure leaves the previous contents in place.
    """
    refuse_oracle(engine, "fill a demo archive")
    refuse_narrow_encoding(engine, "fill a demo archive")
    spec = scale_spec(scale)
    started = time.monotonic()
    init_source(engine, contract, schema)
    spools = Spools((*TABLE_NAMES, CATALOGUE_TABLE))
    try:
        mous_count = _generate(spec, seed, as_of, spools)
        with engine.begin() as connection:
            # The stand-in NGAS's catalogue (not a contract table) goes with the archive it describes.
            CATALOGUE.metadata.create_all(
                connection.execution_options(**source_execution_options(schema)), checkfirst=True
            )
            _truncate(connection, contract, schema)
            rows = _copy_tables(connection, contract, schema, spools)
    finally:
        spools.close()
    summary = DemoSummary(spec.name, seed, rows, mous_count, time.monotonic() - started)
    log.info("source.demo scale=%s seed=%d mouses=%d seconds=%.1f", spec.name, seed, mous_count,
             summary.seconds)
    return summary


def scale_spec(scale: str) -> ScaleSpec:
    """The named scale; an unknown name is a usage error listing the known ones."""
    try:
        return SCALES[scale]
    except KeyError:
        raise UsageError(f"unknown demo scale '{scale}' (known: {', '.join(SCALES)})") from None


def demo_projects(spec: ScaleSpec, seed: int, as_of: datetime) -> Iterator[Project]:
    """The fixed-case projects, then the random population filling the scale's MOUS count."""
    fixed, _ = build_fixed_projects()
    fixed_mouses = sum(len(project.mouses()) for project in fixed)
    reserved = [plan.code for plan in FIXED_PROJECT_PLANS]
    population = random_projects(max(spec.mous_count - fixed_mouses, 0), seed, as_of, reserved)
    return chain(fixed, population)


def _generate(spec: ScaleSpec, seed: int, as_of: datetime, spools: Spools) -> int:
    progress = Progress("generating MOUSes", total=spec.mous_count, unit="MOUSes")
    count = 0
    for index, project in enumerate(demo_projects(spec, seed, as_of)):
        attach_calibration_documents(project)
        attach_restore_products(project)
        write_project(project, spools)
        # The fixed cases are few and the same everywhere: their files' checksums are stored.
        for row in catalogue_rows(project, store_body_checksums=index < len(FIXED_PROJECT_PLANS)):
            spools.add(CATALOGUE_TABLE, row)
        count += len(project.mouses())
        progress.update(count)
    progress.finish()
    return count


def _truncate(connection: Connection, contract: MetaData, schema: str) -> None:
    preparer = connection.dialect.identifier_preparer
    qualified = schema.lower()
    names = [contract_table(contract, name).name for name in TABLE_NAMES] + [CATALOGUE_TABLE]
    targets = ", ".join(preparer.quote_schema(qualified) + "." + preparer.quote(name) for name in names)
    connection.execute(text("TRUNCATE TABLE " + targets))


def _copy_tables(connection: Connection, contract: MetaData, schema: str, spools: Spools) -> dict[str, int]:
    rows: dict[str, int] = {}
    for name in TABLE_NAMES:
        spool = spools.tables[name]
        progress = Progress(name, total=spool.count, logger=log)
        rows[name] = copy_rows(
            connection, contract_table(contract, name), COLUMNS[name], spool.rows(),
            schema=schema.lower(), on_batch=progress.update,
        )
        seconds = round(time.monotonic() - progress.started, 1)
        progress.finish("source.demo.copy", table=name, rows=rows[name], seconds=seconds)
    spool = spools.tables[CATALOGUE_TABLE]
    progress = Progress(CATALOGUE_TABLE, total=spool.count)
    rows[CATALOGUE_TABLE] = copy_rows(
        connection, CATALOGUE, CATALOGUE_COLUMNS, spool.rows(), schema=schema.lower(),
        on_batch=progress.update,
    )
    seconds = round(time.monotonic() - progress.started, 1)
    progress.finish("source.demo.copy", table=CATALOGUE_TABLE, rows=rows[CATALOGUE_TABLE], seconds=seconds)
    return rows


def demo_archive_scale(engine: Engine, schema: str) -> tuple[int, str]:
    """The member OUSes the source holds (its AQUA_OUS rows, one per MOUS) and the nearest scale."""
    qa2 = contract_table(CONTRACT, "aqua_ous")
    with engine.connect() as connection:
        translated = connection.execution_options(**source_execution_options(schema))
        held = int(translated.execute(select(func.count()).select_from(qa2)).scalar_one())
    nearest = min(SCALES.values(), key=lambda spec: abs(math.log(max(held, 1) / spec.mous_count)))
    return held, nearest.name


def demo_archive_present(engine: Engine, schema: str) -> bool:
    """True when every contract table exists, OBS_UNIT_SET_STATUS has rows and so has the NGAS catalogue."""
    if missing_tables(engine, schema):
        return False
    status = contract_table(CONTRACT, "obs_unit_set_status")
    with engine.connect() as connection:
        if not inspect(connection).has_table(CATALOGUE_TABLE, schema=schema):
            return False  # an archive made before the stand-in NGAS had its catalogue
        translated = connection.execution_options(**source_execution_options(schema))
        return all(
            translated.execute(select(literal(1)).select_from(table).limit(1)).first() is not None
            for table in (status, CATALOGUE)
        )
