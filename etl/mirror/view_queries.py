"""Each version of each view's query, one SQL file per version, as the revisions create and restore them.

``alembic/views/<view>/<revision>.sql`` is the query of ``<view>`` as revision ``<revision>`` made it
(alembic/views/README.md). A revision's upgrade loads its own version and its downgrade the one it
replaced, by name, so no revision copies a view's text and the newest file is the view as it is.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.schema import CreateView
from sqlalchemy.sql.selectable import TextualSelect

from etl.resources import VIEW_QUERIES


def query_file(view: str, revision: str) -> Path:
    """The file holding the query of ``view`` as revision ``revision`` made it."""
    return VIEW_QUERIES / view / f"{revision}.sql"


def create_view(view: str, revision: str) -> CreateView:
    """CREATE VIEW with the query of ``view`` as of ``revision`` (the view must not exist)."""
    return CreateView(_query(view, revision), view)


def replace_view(view: str, revision: str) -> CreateView:
    """CREATE OR REPLACE VIEW: keeps the views that depend on it, so only columns appended may be new."""
    return CreateView(_query(view, revision), view, or_replace=True)


def _query(view: str, revision: str) -> TextualSelect:
    # Read when the revision runs, not when Alembic imports it to walk the history.
    return text(query_file(view, revision).read_text(encoding="utf-8")).columns()
