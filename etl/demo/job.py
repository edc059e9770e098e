"""The demo job: from nothing to a synced mirror of the demo ALMA archive and the seed MOUS's request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from etl import migrations
from etl.database import read_only_connection, source_url
from etl.demo.fill import demo_archive_present, demo_archive_scale, fill_demo_archive, scale_spec
from etl.demo.scales import SEED_MOUS
from etl.errors import UsageError
from etl.settings import ArchiveSettings, Settings
from etl.source.contract import build_contract
from etl.sync.pipeline import SyncSummary, run_sync
from ppr.fetch.run import FetchObserver, FetchSummary

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
    # The real calibration's MOUS (etl/demo/real_mous.py); None in an archive made before it existed.
    real_request: Path | None = None


@contextmanager
def demo_with_stand_in(
    source: Engine,
    mirror: Engine,
    settings: Settings,
    scale: str | None,
    seed: int,
    output: Path,
    rebuild: bool = False,
) -> Iterator[tuple[DemoResult, ArchiveSettings]]:
    """The whole demo (archive if missing, migrated and synced mirror, the seed MOUS's request
    directory), with the stand-in NGAS the sync read kept up for the block, and ``[archive]``
    settings pointing at it: the fetches of the request directories use it rather than each starting
    another (a process, its imports and its catalogue connection)."""
    with _prepare_demo_mirror(source, mirror, settings, scale, seed, rebuild) as (prepared, archive):
        seed_directory = seed_request(mirror, settings, output)
        yield DemoResult(prepared, seed_directory, real_request(mirror, settings, output)), archive


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
    with _prepare_demo_mirror(source, mirror, settings, scale, seed, rebuild) as (prepared, _archive):
        return prepared


@contextmanager
def _prepare_demo_mirror(
    source: Engine,
    mirror: Engine,
    settings: Settings,
    scale: str | None,
    seed: int,
    rebuild: bool,
) -> Iterator[tuple[DemoMirror, ArchiveSettings]]:
    """``prepare_demo_mirror``, the stand-in NGAS it synced from still up for the block."""
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
    # The sync reads each calibration's record (manifest, restore script, PPR) from the demo's NGAS.
    with stand_in_archive(settings) as ngas:
        synced = run_sync(mirror, source, settings.source, archive=ngas)
        yield DemoMirror(archive_created=created, archive=archive, sync=synced), ngas


def refuse_another_scale(source: Engine, schema: str, scale: str) -> None:
    held, nearest = demo_archive_scale(source, schema)
    if nearest != scale:
        wanted = scale_spec(scale)
        raise UsageError(
            f"the source already holds an archive of {held:,} MOUSes (the {nearest} demo scale), not "
            f"the {scale} one (≈{wanted.mous_count:,}); pass --rebuild to replace it with the {scale} "
            "archive, or leave out --scale to use it"
        )


def seed_request(mirror: Engine, settings: Settings, output: Path, mous_uid: str = SEED_MOUS) -> Path:
    """The restore request directory of the seed MOUS (or ``mous_uid``) under ``output``."""
    from ppr.layout import build_request_directory
    from ppr.service import generate_ppr

    with read_only_connection(mirror) as connection:
        generated = generate_ppr(connection, mous_uid, settings.ppr)
    return build_request_directory(output, generated.relative_path, generated.document, generated.request)


def real_request(mirror: Engine, settings: Settings, output: Path) -> Path | None:
    """The request directory of the real calibration's MOUS, or None when the archive lacks it."""
    from etl.demo.real_files import REAL_MOUS
    from ppr.errors import UnknownMous

    try:
        return seed_request(mirror, settings, output, REAL_MOUS)
    except UnknownMous:
        log.info("demo.no_real_mous mous_uid=%s", REAL_MOUS)
        return None


def exporter_command() -> str:
    """``[archive] asdm_command`` of the demo: the stand-in's exporter, run by this Python."""
    import shlex
    import sys

    return f"{shlex.quote(sys.executable)} -m etl.cli archive export-asdm {{eb_uid}}"


@contextmanager
def stand_in_archive(settings: Settings) -> Iterator[ArchiveSettings]:
    """The stand-in NGAS on free loopback ports for the block: ``[archive]`` settings pointing at it."""
    from dataclasses import replace

    from etl.demo.ngas_process import start_stand_in

    source = source_url(settings).render_as_string(hide_password=False)
    environment = {"ALMAMIRROR_SOURCE_URL": source, "ALMAMIRROR_HOME": str(settings.embedded.home)}
    site_file = str(settings.config_files[1]) if len(settings.config_files) > 1 else None
    with start_stand_in(environment, config_file=site_file) as stand_in:
        log.info("demo.stand_in url=%s", stand_in.url)
        yield replace(settings.archive, ngas_urls=(stand_in.url,), asdm_command=exporter_command())


def fetch_demo_request(
    archive: ArchiveSettings, directory: Path, observer: FetchObserver | None = None
) -> FetchSummary:
    """Fetch ``directory`` completely from the stand-in NGAS that ``archive`` points at."""
    from ppr.fetch import FetchOptions, fetch_request

    return fetch_request(directory, archive, FetchOptions(), observer)
