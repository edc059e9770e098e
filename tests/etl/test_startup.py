"""The command line starts without the database stack: --help and --version stay instant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etl import migrations
from etl.revision_check import fast_heads

HEAVY = ("sqlalchemy", "psycopg", "alembic", "pgserver", "rich", "lxml", "httpx", "matplotlib")


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return {name.split(".")[0] for name in done.stdout.split()}


def test_building_the_parser_loads_no_database_or_terminal_library() -> None:
    loaded = _modules_after("from etl.cli import build_parser\nbuild_parser()")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("argv", [["--version"], ["-V"], ["--help"], ["report", "--help"]])
def test_help_and_version_exit_before_any_heavy_import(argv: list[str]) -> None:
    code = f"from etl.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_short_v_is_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "-V"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("almamirror ")
    assert done.stdout.strip() != "almamirror"


def test_the_fast_head_reading_agrees_with_alembic() -> None:
    assert fast_heads() == frozenset(migrations.heads())


def test_a_migration_file_that_does_not_read_plainly_leaves_the_answer_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = compute()\ndown_revision = "0001"\n')
    assert fast_heads(tmp_path) is None
    (tmp_path / "0002_b.py").write_text('revision: str = "0002"\ndown_revision: str | None = "0001"\n')
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = ("0001",)\n')
    assert fast_heads(tmp_path) == {"0002", "0003"}

