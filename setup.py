"""The wheel's packages: almamirror's own, and its migrations and defaults where developers edit them.

Everything else is declared in pyproject.toml. ``alembic.ini``, ``alembic/`` and ``config/almamirror.toml``
stay at the top of the repository, where developers edit them and ``alembic upgrade head`` finds them. The
top of the repository is declared as the package ``almamirror_resources`` whose package data are exactly
those files (pyproject.toml), so a wheel carries them under that name and an installed almamirror finds
them there (etl/resources.py). pyproject.toml can map a package to a directory but cannot add it to the
packages it finds, hence the list here.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

RESOURCES = "almamirror_resources"
# One folder of SQL files per view (alembic/views/README.md).
VIEW_FOLDERS = tuple(
    f"{RESOURCES}.alembic.views.{folder.name}"
    for folder in sorted((Path(__file__).resolve().parent / "alembic" / "views").iterdir())
    if folder.is_dir()
)
# Its folders, named so that setuptools does not take them for packages it was not told of (and warn).
RESOURCE_FOLDERS = (
    RESOURCES, f"{RESOURCES}.alembic", f"{RESOURCES}.alembic.versions", f"{RESOURCES}.alembic.views",
    *VIEW_FOLDERS, f"{RESOURCES}.config",
)
# Real pipeline products (some of them CASA scripts) and ASDMs: etl's package data, never modules.
DATA_FOLDERS = ("etl.demo.real_restore", "etl.demo.real_restore.products", "etl.demo.real_restore.asdm")


class BuildPy(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        # The top of the repository is a package for its data only: this very file is not a module of it.
        if package in RESOURCE_FOLDERS or package in DATA_FOLDERS:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=[*find_packages(include=["etl*", "ppr*"]), *DATA_FOLDERS, *RESOURCE_FOLDERS],
    package_dir={RESOURCES: "."},
    cmdclass={"build_py": BuildPy},
)
