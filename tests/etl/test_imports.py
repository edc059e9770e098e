"""The layers point one way: loading never imports the sync, the source never imports the settings, the
settings never import the source (nor ``etl.database``, which makes engines from them), and the reports
never import the PPR generator (what both need, UIDs and the spool's request directories, is below both).

Each rule is checked twice: no import statement in the lower package names the higher one (lazy imports
inside functions included), and importing every module of the lower package in a fresh interpreter
loads none of the higher one's modules, even indirectly.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ETL = Path(__file__).parents[2] / "etl"
# Where the settings are read: config/almamirror.toml and the environment, into Settings.
CONFIG = ("etl.settings", "etl.restore.settings")

NEVERS = {
    "load never imports sync": (("etl.load",), ("etl.sync",)),
    "source never imports config": (("etl.source",), CONFIG),
    "config never imports source": (CONFIG, ("etl.source", "etl.database")),
    "report never imports ppr": (("etl.report",), ("ppr",)),
}


def _files(module: str) -> list[Path]:
    path = ETL.parent.joinpath(*module.split("."))
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ETL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, wherever the statement is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _names(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages)


@pytest.mark.parametrize("never", NEVERS)
def test_no_import_statement_of_the_lower_layer_names_the_higher(never: str) -> None:
    lower, higher = NEVERS[never]
    files = [path for module in lower for path in _files(module)]
    assert files, lower
    offenders = {
        _module_name(path): sorted(name for name in _imported(path) if _names(name, higher))
        for path in files
    }
    assert {module: found for module, found in offenders.items() if found} == {}


@pytest.mark.parametrize("never", NEVERS)
def test_importing_the_lower_layer_loads_nothing_of_the_higher_even_indirectly(never: str) -> None:
    lower, higher = NEVERS[never]
    modules = sorted({_module_name(path) for module in lower for path in _files(module)})
    # A package's own name or a dotted name below it: "ppr" is no prefix of the standard "pprint".
    below = tuple(f"{package}." for package in higher)
    probe = (
        f"import importlib, sys\n"
        f"for name in {modules!r}:\n"
        f"    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m in {higher!r} or m.startswith({below!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", (modules, done.stdout)


def test_settings_that_mask_a_url_load_neither_the_source_nor_the_engines() -> None:
    """A wrong NGAS URL is reported masked: the masking is below the settings, not in etl.database."""
    probe = (
        "import sys\n"
        "from etl.errors import ConfigurationError\n"
        "from etl.settings import load_settings\n"
        "try:\n"
        "    load_settings(environ={'ALMAMIRROR_NGAS_URL': 'ftp://ops:pw-123@ngas.example.org'})\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('etl.source', 'etl.database'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    problem, loaded = done.stdout.strip().splitlines()
    assert "'ftp://ops:***@ngas.example.org' is not an NGAS server URL" in problem
    assert "pw-123" not in done.stdout
    assert loaded == "[]"


def test_the_log_masks_a_url_without_loading_sqlalchemy_or_the_engines() -> None:
    """Every layer masks what it logs: etl.logs.mask_url stands below all of them, on the standard library."""
    probe = (
        "import sys\n"
        "from etl.logs import mask_url\n"
        "print(mask_url('postgresql://ops:pw-123@db.example.org/mirror?sslpassword=key-456'))\n"
        "heavy = ('sqlalchemy', 'etl.source', 'etl.database')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    masked, loaded = done.stdout.strip().splitlines()
    assert masked == "postgresql://ops:***@db.example.org/mirror?sslpassword=***"
    assert loaded == "[]"
