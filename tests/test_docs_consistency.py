"""The README and docs/ hold together: every relative link and every repository path named leads to a
file of the repository, every shell line of the README's quick start runs (against a stand-in
virtualenv: cheaply), and the figures quoted from the demo archive are the ones it gives."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.test_run_script import checkout

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    return [
        found["target"] for found in LINK.finditer(document.read_text(encoding="utf-8"))
        if not re.match(r"[a-z][a-z0-9+.-]*:", found["target"]) and not found["target"].startswith("#")
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file(document: Path) -> None:
    missing = [
        target for target in relative_links(document)
        if not (document.parent / target.split("#", 1)[0]).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_no_document_names_a_file_outside_the_repository(document: Path) -> None:
    # The shared/ directory of the team's workspace is not part of the repository.
    assert not re.findall(r"(?<![\w/])shared/[\w./-]+", document.read_text(encoding="utf-8"))


def quick_start_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_the_quick_start_lines_run(tmp_path: Path) -> None:
    lines = quick_start_lines()
    assert lines == ["./run demo", "./run test"]
    here, record = checkout(tmp_path)
    for line in lines:
        done = subprocess.run(["/bin/sh", "-c", line], cwd=here, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, (line, done.stderr)
    calls = record.read_text().splitlines()
    assert "almamirror demo" in calls
    assert "python -m pytest --numprocesses auto --dist loadgroup" in calls


def test_shell_scripts_in_the_docs_start_with_their_shebang() -> None:
    for document in DOCUMENTS:
        for block in re.findall(r"```sh\n(.*?)```", document.read_text(encoding="utf-8"), re.DOTALL):
            assert "#!/" not in block or block.startswith("#!/"), (document.name, block[:80])


def test_systemd_lines_carry_no_inline_comment() -> None:
    for document in DOCUMENTS:
        for block in re.findall(r"```ini\n(.*?)```", document.read_text(encoding="utf-8"), re.DOTALL):
            for line in block.splitlines():
                if "=" in line and not line.lstrip().startswith(("#", ";")):
                    assert " #" not in line, (document.name, line)


def test_ci_installs_chromium_for_the_screenshot_test() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = script.index("apt-get install -y -qq chromium")
    assert "[ ! -x /usr/bin/chromium ]" in script[:install]  # only when missing
    assert install < script.index("./run test")


# A repository path named in running text (`etl/revision_check.py`, bench/startup.py, docs/fetch.md),
# not only in a link: it must exist too.
REPOSITORY_PATH = re.compile(r"(?<![\w./~-])((?:etl|ppr|tests|bench|docs|config|alembic|\.ci)/[\w./-]*[\w/])")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_repository_path_named_in_the_text_exists(document: Path) -> None:
    named = {found[1] for found in REPOSITORY_PATH.finditer(document.read_text(encoding="utf-8"))}
    missing = sorted(path for path in named if "*" not in path and not (ROOT / path).exists())
    assert missing == []


def test_the_scale_help_gives_each_demo_scale_its_real_size() -> None:
    from etl.cli import build_parser
    from etl.demo.scales import SCALES

    demo = next(action for action in build_parser()._actions if action.dest == "command").choices["demo"]
    scale = next(action for action in demo._actions if action.dest == "scale")
    for spec in SCALES.values():
        assert f"{spec.name}: {spec.mous_count:,} MOUSes" in (scale.help or "")


def test_the_example_summary_is_the_small_demo_archives(synced_mirror: URL, test_home: Path) -> None:
    """docs/reporting.md quotes `report restorable`'s summary line on the small demo archive: the same
    counts as the command gives today."""
    from tests.terminal import cli_env

    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "report", "restorable", "--no-pager"],
        env=cli_env(synced_mirror, test_home), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()[-1]
    head = summary.split(" not (", 1)[0] + " not ("  # "58 MOUSes: 44 restorable (…), 14 not ("
    assert head in (ROOT / "docs" / "reporting.md").read_text(encoding="utf-8"), summary
