"""The PPR core stays pure: no database, no source contract, no loading code."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

PPR_DIR = Path(__file__).parents[2] / "ppr"
CORE_MODULES = ("errors", "build", "validate", "layout", "check", "model")
# Besides the standard library and ppr itself, the core may use only these (etl.safe_files: the
# file writes that follow no planted link, standard library and etl.errors only; etl.archive_names:
# the archive's naming rules and the UID parser, standard library and etl.errors only;
# etl.restore.spool: how a request directory is named and found, which the reports read too).
ALLOWED_IMPORTS = {
    "lxml", "etl.errors", "etl.settings", "etl.restore.settings", "etl.calibration", "etl.safe_files",
    "etl.archive_names", "etl.restore.spool",
}
# The source contract, the loader, the derivations, the sync and the demo archive: never imported by ppr.
LOADING_PACKAGES = ("etl.source", "etl.load", "etl.derive", "etl.sync", "etl.demo")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _allowed(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0]
    return (
        top in sys.stdlib_module_names
        or top == "ppr"
        or any(name == allowed or name.startswith(f"{allowed}.") for allowed in ALLOWED_IMPORTS)
    )


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_only_the_standard_library_lxml_and_etl_errors_and_settings(module: str) -> None:
    imported = _imports(PPR_DIR / f"{module}.py")
    assert imported, module
    assert sorted(name for name in imported if not _allowed(name)) == []


def test_no_ppr_module_imports_the_source_contract_or_the_loader() -> None:
    offenders = {
        str(path.relative_to(PPR_DIR)): sorted(
            name for name in _imports(path) if name.startswith(LOADING_PACKAGES)
        )
        for path in PPR_DIR.rglob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_every_ppr_module_loads_no_source_or_loader_code_even_indirectly() -> None:
    import subprocess

    modules = sorted(
        ".".join(("ppr", *path.relative_to(PPR_DIR).with_suffix("").parts))
        for path in PPR_DIR.rglob("*.py")
        if path.stem != "__init__"
    )
    probe = (
        f"import sys, {', '.join(modules)}; "
        f"print(sorted(m for m in sys.modules if m.startswith({LOADING_PACKAGES!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "ppr.query" in modules
    assert "ppr.service" in modules
    assert done.stdout.strip() == "[]"


def test_generating_a_ppr_from_the_cli_loads_neither_the_source_contract_nor_apscheduler(
    synced_mirror: Any, test_home: Path, tmp_path: Path
) -> None:
    """The ppr command needs the mirror only: settings parsing must not pull in the loader's modules."""
    import os
    import subprocess

    output = tmp_path / "ppr.xml"
    probe = (
        "import sys; from etl.cli import main; "
        "status = main(['-q', 'ppr', 'uid://A001/X129e/Xb6', '-o', "
        f"{str(output)!r}, '--allow-proprietary']); "
        "loaded = sorted(m for m in sys.modules if m.startswith(('apscheduler', 'etl.source', 'etl.load', "
        "'etl.derive', 'etl.sync', 'etl.demo.'))); "
        "print(status, loaded, file=sys.stderr)"
    )
    environment = {
        **os.environ,
        "ALMAMIRROR_MIRROR_URL": synced_mirror.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(test_home),
    }
    environment.pop("ALMAMIRROR_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment
    )
    # The demo command's --scale choices come from etl.demo.scales, a module of constants only.
    assert done.stderr.strip().splitlines()[-1] == "0 ['etl.demo.scales']", done.stderr
    assert output.read_bytes().startswith(b"<?xml")
