"""Where almamirror finds its own files: the Alembic migrations and the default settings.

A checkout (and the editable install ``./run`` makes of it) has them at the top of the repository:
``alembic.ini``, ``alembic/`` and ``config/almamirror.toml``, the only place they are edited. A built
wheel carries a copy of exactly those files in ``etl/bundled/`` (``setup.py`` makes it at build time),
so an installed almamirror needs no checkout.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"
# Only a build writes BUNDLED_ROOT; a source tree never has one, so the two cannot be confused.
ROOT = BUNDLED_ROOT if BUNDLED_ROOT.is_dir() else CHECKOUT_ROOT

ALEMBIC_INI = ROOT / "alembic.ini"
DEFAULTS_FILE = ROOT / "config" / "almamirror.toml"
