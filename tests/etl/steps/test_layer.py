"""``etl.steps`` stands below loading, deriving and the sync, which all import it: it imports none of
them, neither by an import statement nor indirectly (checked in a fresh interpreter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

STEPS = Path(__file__).parents[3] / "etl" / "steps"
ABOVE = ("etl.load", "etl.derive", "etl.sync")


def _above(name: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in ABOVE)


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_steps_names_loading_deriving_or_the_sync() -> None:
    modules = sorted(STEPS.glob("*.py"))
    assert len(modules) > 1
    assert {path.name: sorted(filter(_above, _imported(path))) for path in modules} == {
        path.name: [] for path in modules
    }


def test_importing_the_steps_loads_nothing_above_them() -> None:
    names = sorted(f"etl.steps.{path.stem}" for path in STEPS.glob("*.py") if path.stem != "__init__")
    probe = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({ABOVE!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
