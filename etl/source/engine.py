"""The engine that reads the ALMA source (Oracle) or its PostgreSQL stand-in.

The settings bind it (``etl.database.create_source_engine``): this module takes plain values, so that the
source never imports the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

from etl.connections import make_connections
from etl.errors import SourceUnavailable
from etl.source.postgres import prepare_connection
from etl.urls import is_oracle


def make_source_engine(url: URL, arraysize: int) -> Engine:
    """An engine for reading the source; Oracle gets a fetch array of ``arraysize`` rows and LOBs
    fetched as text, a PostgreSQL stand-in the lenient loaders of ``etl.source.postgres``."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    prepare: Callable[[Any], None] | None = None
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"application_name": "almamirror-source"}
        prepare = prepare_connection
    if is_oracle(url):
        import oracledb

        # Thin mode (the default: no Oracle client libraries) and CLOBs as str, not LOB locators:
        # a LOB locator costs one round trip per row on a remote link.
        oracledb.defaults.fetch_lobs = False
        options.update(arraysize=arraysize, auto_convert_lobs=True)
    engine = create_engine(url, **options)
    make_connections(engine, "source", SourceUnavailable, prepare)
    return engine
