"""The distribution a site installs: what the wheel holds, and that its code runs outside the checkout.

The wheel is built the way ``python -m build`` builds it (an sdist, then a wheel from the sdist), offline
with the dev environment's setuptools, from a copy of the tree so that nothing is written into the
checkout. ``.ci/run`` also installs a wheel into a fresh virtualenv and runs the demo with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from etl import migrations, resources
from etl.cli import main
from tests.conftest import DatabaseFactory
from tests.helpers import connect

# The wheel built from an sdist and installed into a virtualenv: minutes of one worker, started first.
pytestmark = pytest.mark.long
PROJECT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
# The wheel's almamirror_resources package: these, as they sit at the top of the checkout.
BUNDLED_SOURCES = ("alembic.ini", "alembic", "config/almamirror.toml")
RESOURCES = "almamirror_resources/"
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.py[co]", ".*_cache", "demo-output",
    ".almamirror",
)
SEED_MOUS = "uid://A001/X129e/Xb6"


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command[:4]} exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree") / "almamirror"
    shutil.copytree(PROJECT, tree, ignore=NOT_SOURCE)
    dist = tmp_path_factory.mktemp("dist")
    build_sdist = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    _run([sys.executable, "-c", build_sdist, str(dist)], cwd=tree)
    (sdist,) = dist.glob("*.tar.gz")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--wheel-dir", str(dist), str(sdist)],
        cwd=dist,
    )
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked as pip would install it: a directory to put first on sys.path."""
    site = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _members(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def _checkout_files(name: str) -> dict[str, Path]:
    """Each file the build should bundle, by its path relative to the top of the checkout."""
    path = PROJECT / name
    if path.is_file():
        return {name: path}
    return {
        file.relative_to(PROJECT).as_posix(): file
        for file in sorted(path.rglob("*"))
        if file.is_file() and "__pycache__" not in file.parts
    }


def test_the_wheel_installs_only_almamirrors_own_packages(wheel: Path) -> None:
    top_level = {name.split("/")[0] for name in _members(wheel)}
    # Never a top-level alembic or config that would shadow (or be shadowed by) another distribution.
    assert top_level == {"etl", "ppr", RESOURCES.rstrip("/"), f"almamirror-{VERSION}.dist-info"}


def test_the_wheel_carries_the_migrations_and_defaults_exactly_as_in_the_checkout(wheel: Path) -> None:
    expected = {
        relative: path for name in BUNDLED_SOURCES for relative, path in _checkout_files(name).items()
    }
    assert "config/almamirror.toml" in expected
    assert any(relative.startswith("alembic/versions/") for relative in expected)
    assert any(relative.startswith("alembic/views/") and relative.endswith(".sql") for relative in expected)
    with zipfile.ZipFile(wheel) as archive:
        bundled = {
            name.removeprefix(RESOURCES): archive.read(name)
            for name in archive.namelist()
            if name.startswith(RESOURCES) and not name.endswith("/")
        }
    assert set(bundled) == set(expected)
    for relative, path in expected.items():
        assert bundled[relative] == path.read_bytes(), f"{relative} differs from the checkout's"


def test_the_wheel_carries_the_ppr_schema_and_type_markers(wheel: Path) -> None:
    members = _members(wheel)
    assert {"ppr/SciPipeRequest.xsd", "etl/py.typed", "ppr/py.typed"} <= members
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in members)


def test_the_wheel_carries_the_real_calibrations_files_byte_for_byte(wheel: Path) -> None:
    data = PROJECT / "etl" / "demo" / "real_restore"
    expected = {
        f"etl/demo/real_restore/{path.relative_to(data).as_posix()}": path
        for path in data.rglob("*") if path.is_file()
    }
    assert len(expected) == 13  # eleven products and two ASDMs
    with zipfile.ZipFile(wheel) as archive:
        for member, path in expected.items():
            assert archive.read(member) == path.read_bytes(), member
    # Data, not modules: the real CASA scripts are not importable parts of almamirror.
    assert not any(name.startswith("etl/demo/real_restore/") and name.endswith("__init__.py")
                   for name in _members(wheel))


def _environment(site: Path, home: Path, mirror: URL, source: URL | None = None) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("ALMAMIRROR_") and key != "PYTHONPATH"
    }
    env.update(
        PYTHONPATH=str(site),
        ALMAMIRROR_HOME=str(home),
        ALMAMIRROR_MIRROR_URL=mirror.render_as_string(hide_password=False),
    )
    if source is not None:
        env["ALMAMIRROR_SOURCE_URL"] = source.render_as_string(hide_password=False)
    return env


def test_the_installed_code_migrates_a_mirror_with_its_own_files(
    installed: Path, databases: DatabaseFactory, mirror_db: URL, tmp_path: Path
) -> None:
    empty = tmp_path / "anywhere"
    empty.mkdir()
    mirror = databases.create("wheel_upgrade")
    env = _environment(installed, tmp_path / "home", mirror)
    where = _run(
        [sys.executable, "-c", "import etl.resources as r; print(r.ALEMBIC_INI); print(r.DEFAULTS_FILE)"],
        cwd=empty, env=env,
    ).split()
    assert where == [
        str(installed / RESOURCES / "alembic.ini"),
        str(installed / RESOURCES / "config" / "almamirror.toml"),
    ]
    _run([sys.executable, "-m", "etl.cli", "-q", "db", "upgrade"], cwd=empty, env=env)
    assert "one head" in _run([sys.executable, "-m", "etl.cli", "db", "check"], cwd=empty, env=env)
    assert list(empty.iterdir()) == []
    # The views the wheel's SQL files made are the checkout's.
    assert _view_definitions(mirror) == _view_definitions(mirror_db)


def test_a_migration_reads_its_view_from_the_installed_package(
    installed: Path, databases: DatabaseFactory, tmp_path: Path
) -> None:
    site = tmp_path / "site-packages"
    shutil.copytree(installed, site)
    newest = max((site / RESOURCES / "alembic" / "views" / "mous_restore").glob("*.sql"))
    newest.unlink()
    env = _environment(site, tmp_path / "home", databases.create("wheel_without_view"))
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "-q", "db", "upgrade"], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=False,
    )
    # The revision that makes that version of the view stops on the missing file: nothing else supplied it.
    assert done.returncode != 0
    assert str(newest) in done.stderr


def _view_definitions(url: URL) -> dict[str, str]:
    with connect(url) as connection:
        query = text("SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()")
        return dict(connection.execute(query).all())


def test_the_installed_code_reports_and_writes_a_ppr_on_the_defaults(
    installed: Path, synced_mirror: URL, demo_source: URL, tmp_path: Path
) -> None:
    empty = tmp_path / "anywhere"
    empty.mkdir()
    env = _environment(installed, tmp_path / "home", synced_mirror, demo_source)
    report = _run(
        [sys.executable, "-m", "etl.cli", "-q", "report", "restorable", "--format", "csv"], cwd=empty, env=env
    )
    assert SEED_MOUS in report
    _run([sys.executable, "-m", "etl.cli", "-q", "ppr", SEED_MOUS, "-o", "restore.xml"], cwd=empty, env=env)
    # The [ppr] defaults of config/almamirror.toml reached the document.
    root = tomllib.loads((PROJECT / "config" / "almamirror.toml").read_text())["ppr"]["root_directory"]
    assert f"<RootDirectory>{root}</RootDirectory>" in (empty / "restore.xml").read_text()


def test_the_checkout_uses_the_files_developers_edit() -> None:
    assert resources.ROOT == PROJECT
    assert resources.ALEMBIC_INI == PROJECT / "alembic.ini"
    assert resources.DEFAULTS_FILE == PROJECT / "config" / "almamirror.toml"


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0
    assert capsys.readouterr().out == f"almamirror {VERSION}\n"


def test_migrations_leave_sys_path_alone() -> None:
    # alembic.ini's prepend_sys_path would put the current directory first on sys.path, once per call.
    before = list(sys.path)
    migrations.heads()
    migrations.heads()
    assert sys.path == before
