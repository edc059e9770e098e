"""The demo job: from nothing to a synced mirror of the demo ALMA archive and the seed MOUS's request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from etl import migrations
from etl.database import read_only_connection
from etl.demo.fill import demo_archive_present, demo_archive_scale, fill_demo_archive, scale_spec
from etl.demo.scales import SEED_MOUS
from etl.errors import UsageError
from etl.settings import Settings
from etl.source.contract import build_contract
from etl.sync.pipeline import SyncSummary, run_sync

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DemoMirror:
    archive_created: bool
    archive: str  # what the archive holds, one line
    sync: SyncSummary


@dataclass(frozen=True)
class DemoResult:
    mirror: DemoMirror
    seed_request: Path


def run_demo(
    source: Engine,
    mirror: Engine,
    settings: Settings,
    scale: str | None,
    seed: int,
    output: Path,
    rebuild: bool = False,
) -> DemoResult:
    """The whole demo: archive (if missing), migrated and synced mirror, the seed MOUS's request directory."""
    prepared = prepare_demo_mirror(source, mirror, settings, scale, seed, rebuild)
    return DemoResult(prepared, seed_request(mirror, settings, output))


def prepare_demo_mirror(
    source: Engine,
    mirror: Engine,
    settings: Settings,
    scale: str | None,
    seed: int,
    rebuild: bool = False,
) -> DemoMirror:
    """Create the demo archive if the source has none (or ``rebuild``), migrate the mirror and sync it.

    ``scale`` None uses whatever archive the source holds; a scale that differs from the one the
    source holds is a UsageError that offers ``--rebuild``, before anything is written.
    """
    schema = settings.source.schema
    created = rebuild or not demo_archive_present(source, schema)
    if not created and scale is not None:
        refuse_another_scale(source, schema, scale)
    if created:
        summary = fill_demo_archive(
            source, build_contract(settings.source.column_names), schema, scale=scale or "small", seed=seed,
        )
        archive = summary.describe()
    else:
        archive = "the existing archive in the source (almamirror demo --rebuild replaces it)"
    migrations.upgrade(mirror)
    synced = run_sync(mirror, source, settings.source)
    return DemoMirror(archive_created=created, archive=archive, sync=synced)


def refuse_another_scale(source: Engine, schema: str, scale: str) -> None:
    held, nearest = demo_archive_scale(source, schema)
    if nearest != scale:
        wanted = scale_spec(scale)
        raise UsageError(
            f"the source already holds an archive of {held:,} MOUSes (the {nearest} demo scale), not "
            f"the {scale} one (≈{wanted.mous_count:,}); pass --rebuild to replace it with the {scale} "
            "archive, or leave out --scale to use it"
        )


def seed_request(mirror: Engine, settings: Settings, output: Path) -> Path:
    """The restore request directory of the seed MOUS under ``output``."""
    from ppr.layout import build_request_directory
    from ppr.service import generate_ppr

    with read_only_connection(mirror) as connection:
        generated = generate_ppr(connection, SEED_MOUS, settings.ppr)
    return build_request_directory(output, generated.relative_path, generated.document, generated.request)
