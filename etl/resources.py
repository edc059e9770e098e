"""Where almamirror finds its own files: the Alembic migrations, the views' SQL and the default settings.

A checkout (and the editable install ``./run`` makes of it) has them at the top of the repository:
``alembic.ini``, ``alembic/`` (its ``views/`` holds each view's SQL) and ``config/almamirror.toml``, the
only place they are edited. A wheel declares that directory as the package ``almamirror_resources``
(setup.py), which holds exactly those files, so an installed almamirror needs no checkout.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
INSTALLED_PACKAGE = "almamirror_resources"


def _root() -> Path:
    if (CHECKOUT_ROOT / "alembic.ini").is_file():
        return CHECKOUT_ROOT
    # Installed: a directory of data beside etl, without modules (a namespace package to the importer).
    spec = find_spec(INSTALLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"almamirror's migrations and defaults ({INSTALLED_PACKAGE}) are missing")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


ROOT = _root()
ALEMBIC_INI = ROOT / "alembic.ini"
# Each version of each view, one file per version, loaded by the revisions (alembic/views/README.md).
VIEW_QUERIES = ROOT / "alembic" / "views"
DEFAULTS_FILE = ROOT / "config" / "almamirror.toml"
