"""Connecting an engine so that a failure says which database failed: the source or the mirror.

Below the settings and the source: the mirror's engines (``etl.database``) and the source's
(``etl.source.engine``) connect through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from etl.errors import RetryLater
from etl.logs import mask_url


def make_connections(
    engine: Engine, role: str, error: type[RetryLater], prepare: Callable[[Any], None] | None = None
) -> None:
    """Connect ``engine`` so that a failure says which database failed (source or mirror), as
    ``error``, and ``prepare`` sees each new connection before SQLAlchemy's first query on it."""
    # The listener lives on as long as the engine's dialect, which outlives the engine: PostgreSQL's
    # dialect keeps itself in class-level caches of its reflection queries. A listener that held
    # the engine kept every disposed engine, and its statement cache, alive: a scheduler grew about
    # 10 MB a sync. So it holds only the URL's text.
    masked = mask_url(engine.url)

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            connection = dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.Error as exc:
            message = " ".join(str(exc).split())
            raise error(f"the {role} database {masked} is unavailable: {message}") from exc
        if prepare is not None:
            prepare(connection)
        return connection
