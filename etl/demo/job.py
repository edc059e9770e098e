"""The demo job: a mirror of the demo ALMA archive, ready for PPRs and reports, from nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from etl import migrations
from etl.database import create_mirror_engine, create_source_engine, mirror_url, source_url
from etl.demo import demo_archive_present, fill_demo_archive
from etl.settings import Settings
from etl.source.contract import build_contract
from etl.sync.pipeline import SyncSummary, run_sync

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoMirror:
    archive_created: bool
    archive: str  # what the archive holds, one line
    sync: SyncSummary


def prepare_demo_mirror(settings: Settings, scale: str, seed: int) -> DemoMirror:
    """Create the demo archive if the source has none, migrate the mirror and sync it."""
    source = create_source_engine(source_url(settings), settings)
    try:
        created = not demo_archive_present(source, settings.source.schema)
        if created:
            summary = fill_demo_archive(
                source, build_contract(settings.source.column_names), settings.source.schema,
                scale=scale, seed=seed,
            )
            archive = summary.describe()
        else:
            archive = "the existing archive in the source (almamirror source demo replaces it)"
    finally:
        source.dispose()
    mirror = create_mirror_engine(mirror_url(settings), "almamirror-migrate")
    try:
        migrations.upgrade(mirror)
    finally:
        mirror.dispose()
    return DemoMirror(archive_created=created, archive=archive, sync=run_sync(settings))
