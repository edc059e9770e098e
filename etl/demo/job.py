"""The demo job: from nothing to a synced mirror of the demo ALMA archive and the seed MOUS's request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from etl import migrations
from etl.database import read_only_connection
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.scales import SEED_MOUS
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
    source: Engine, mirror: Engine, settings: Settings, scale: str, seed: int, output: Path
) -> DemoResult:
    """The whole demo: archive (if missing), migrated and synced mirror, the seed MOUS's request directory."""
    prepared = prepare_demo_mirror(source, mirror, settings, scale, seed)
    return DemoResult(prepared, seed_request(mirror, settings, output))


def prepare_demo_mirror(
    source: Engine, mirror: Engine, settings: Settings, scale: str, seed: int
) -> DemoMirror:
    """Create the demo archive if the source has none, migrate the mirror and sync it."""
    created = not demo_archive_present(source, settings.source.schema)
    if created:
        summary = fill_demo_archive(
            source, build_contract(settings.source.column_names), settings.source.schema,
            scale=scale, seed=seed,
        )
        archive = summary.describe()
    else:
        archive = "the existing archive in the source (almamirror source demo replaces it)"
    migrations.upgrade(mirror)
    synced = run_sync(mirror, source, settings.source)
    return DemoMirror(archive_created=created, archive=archive, sync=synced)


def seed_request(mirror: Engine, settings: Settings, output: Path) -> Path:
    """The restore request directory of the seed MOUS under ``output``."""
    from ppr.layout import build_request_directory
    from ppr.service import generate_ppr

    with read_only_connection(mirror) as connection:
        generated = generate_ppr(connection, SEED_MOUS, settings.ppr)
    return build_request_directory(output, generated.relative_path, generated.document, generated.request)
