"""Every readiness item of a site: the source, the mirror, the archive, in that order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from etl.check.archive import KnownFile, check_archive, known_file, listed_file
from etl.check.items import Item
from etl.check.mirror import check_mirror
from etl.check.source import check_source
from etl.database import read_only_connection
from etl.errors import AlmaMirrorError
from etl.settings import Settings


@dataclass(frozen=True)
class Readiness:
    items: tuple[Item, ...]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if not item.ok)


def check_readiness(source: Engine, mirror: Engine, settings: Settings) -> Readiness:
    """Check everything a night needs; read-only on the source, the mirror and the archive."""
    items = check_source(source, settings.source)
    items += check_mirror(mirror)
    items += check_archive(settings.archive, _probe(mirror) or _listed(source, settings))
    return Readiness(tuple(items))


def _probe(mirror: Engine) -> KnownFile | None:
    """The file to ask NGAS about; None when the mirror cannot say (not reachable, not migrated, empty)."""
    try:
        with read_only_connection(mirror) as connection:
            return known_file(connection)
    except (AlmaMirrorError, DBAPIError):
        return None


def _listed(source: Engine, settings: Settings) -> KnownFile | None:
    """Before the first sync: a file the source lists (None when it cannot say; its item says why)."""
    from etl.load.extract import source_snapshot

    try:
        with source_snapshot(source, settings.source.schema) as connection:
            return listed_file(connection, settings.source.column_names)
    except (AlmaMirrorError, DBAPIError):
        return None
