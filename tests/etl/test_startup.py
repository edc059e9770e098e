"""The command line starts without the database stack: --help and --version stay instant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

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



# What a report that reads only the views and the run table must not load: the ORM and the mapped
# classes are a fifth of its start-up; Alembic and lxml are for other commands.
REPORT_NEVER = ("sqlalchemy.orm", "etl.mirror.derived", "etl.mirror.bookkeeping", "etl.mirror.archive",
                "alembic", "lxml", "pgserver")


@pytest.mark.parametrize("report", ["restorable", "newly-restorable"])
def test_a_report_on_the_views_loads_no_orm_models(
    report: str, synced_mirror: URL, test_home: Path
) -> None:
    from tests.terminal import cli_env

    code = (
        "import sys\nfrom etl.cli import main\n"
        f"status = main(['report', {report!r}, '--no-pager'])\n"
        "print('MODULES', ' '.join(sys.modules), file=sys.stderr)\nsys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(synced_mirror, test_home),
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stderr.rsplit("MODULES ", 1)[1].split())
    assert not loaded & set(REPORT_NEVER), sorted(loaded & set(REPORT_NEVER))


def test_the_light_run_table_names_columns_of_sync_run() -> None:
    from etl.mirror import SyncRun, table_of
    from etl.report.latest_run import sync_run_clause

    assert sync_run_clause.name == table_of(SyncRun).name
    assert set(sync_run_clause.c.keys()) <= set(table_of(SyncRun).c.keys())
