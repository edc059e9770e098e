"""etl.calibration is neutral ground: the sync and the PPR generator share it, so it imports neither.

Besides itself it may use etl.archive_names, the archive's naming rules (standard library only, as
tests/etl/test_archive_names.py checks)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[3] / "etl" / "calibration"


def test_the_parsers_import_only_the_standard_library_lxml_and_themselves() -> None:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        others = sorted(
            name for name in names
            if name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] != "lxml"
            and not name.startswith("etl.calibration")
            and name != "etl.archive_names"
        )
        if others:
            found[path.name] = others
    assert found == {}
