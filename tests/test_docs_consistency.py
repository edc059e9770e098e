"""The README and docs/ hold together: every relative link leads to a file of the repository, and
every shell line of the README's quick start runs (against a stand-in virtualenv: cheaply)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

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
