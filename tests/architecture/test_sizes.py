"""Files small enough to read: no source module over 500 lines (a module that grows past it does several
jobs), and a README a newcomer reads in five minutes (under 200 lines; the rest lives in docs/)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 500
MAX_README_LINES = 200


def test_no_source_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "src").rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_the_readme_is_under_200_lines_with_docs_beside_it() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < MAX_README_LINES
    assert any((ROOT / "docs").glob("*.md"))
