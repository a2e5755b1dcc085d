"""The runbook copy stays honest: every test it cites exists, every script it names exists (unless the line
says the script is still in progress), and every runbook script has an entry in the runbook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "operations" / "RUNBOOK.md", ROOT / "docs" / "operations" / "BACKUP.md"]
TEST_REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
SCRIPT_REFERENCE = re.compile(r"(?<![\w/])scripts/[\w/.-]+\.(?:py|sh)")
BARE_TEST_NAME = re.compile(r"`(test_\w+)`")


def _defines(path: Path, name: str) -> bool:
    return re.search(rf"^(?:async )?def {re.escape(name)}\(", path.read_text(), re.MULTILINE) is not None


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_cited_test_exists(doc: Path) -> None:
    text = doc.read_text()
    missing = []
    for match in TEST_REFERENCE.finditer(text):
        path = ROOT / match[1]
        if path.is_dir() or match[1].endswith("/"):
            continue
        if not path.is_file():
            missing.append(match[1])
        elif match[2] and not _defines(path, match[2]):
            missing.append(match[0])
    test_files = list((ROOT / "tests").rglob("test_*.py"))
    missing.extend(
        name for name in BARE_TEST_NAME.findall(text) if not any(_defines(path, name) for path in test_files)
    )
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_named_script_exists_unless_marked_in_progress(doc: Path) -> None:
    missing = [
        f"{doc.name}: {script}"
        for line in doc.read_text().splitlines()
        if "in progress" not in line
        for script in SCRIPT_REFERENCE.findall(line)
        if not (ROOT / script).is_file()
    ]
    assert missing == []


def test_every_runbook_script_is_documented() -> None:
    runbook = DOCS[0].read_text() + DOCS[1].read_text()
    owned = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "scripts").rglob("*")
        if path.suffix in (".py", ".sh") and path.parts[-2] not in ("ci", "deployment")
    ]
    assert owned, "no scripts found"
    assert [script for script in owned if script not in runbook] == []
