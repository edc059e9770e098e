"""Build step: the wheel carries the migrations and the default settings.

Everything else is declared in pyproject.toml. ``alembic.ini``, ``alembic/`` and
``config/almamirror.toml`` stay at the top of the repository, where developers edit them and
``alembic upgrade head`` finds them; a build copies them unchanged into ``etl/bundled/``, where an
installed almamirror looks first (etl/resources.py). An editable install reads them from the checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("alembic.ini", "alembic", "config/almamirror.toml")
BUNDLED_INTO = Path("etl", "bundled")


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        if not self.editable_mode:
            # setuptools keeps build/lib between builds: a module or migration deleted since the last
            # build would otherwise still ship.
            for package in {name.partition(".")[0] for name in self.packages}:
                shutil.rmtree(Path(self.build_lib) / package, ignore_errors=True)
        super().run()
        if not self.editable_mode:
            self._copy_bundle(Path(self.build_lib) / BUNDLED_INTO)

    @staticmethod
    def _copy_bundle(target: Path) -> None:
        for name in BUNDLED:
            source, destination = HERE / name, target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
            else:
                shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildPyWithBundle})
