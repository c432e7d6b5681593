"""The README stays true: its settings table is the one generated from Settings, and its quick
start is exactly `make run` and `make test`."""

from __future__ import annotations

import re
from pathlib import Path

from sso.config import Settings
from sso.settings_doc import (
    END_MARKER,
    START_MARKER,
    env_var_name,
    extract_section,
    main,
    render_settings_table,
    replace_section,
)

README = Path(__file__).resolve().parent.parent / "README.md"
REGENERATE = "run `python -m sso.settings_doc --write README.md`"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_settings_table_is_generated_from_settings() -> None:
    assert extract_section(_readme()) == render_settings_table(), (
        f"README.md's settings table is out of date: {REGENERATE}"
    )


def test_settings_table_lists_every_setting() -> None:
    table = render_settings_table()
    for name, info in Settings.model_fields.items():
        assert f"| `{env_var_name(name)}` |" in table
        assert info.description, f"Settings.{name} has no description"
    # Secrets never show a default, even when one is set.
    assert "| `SSO_SECRET_KEY` | — |" in table


def test_write_rewrites_only_the_section(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(f"# Title\n\nbefore\n{START_MARKER}\nold table\n{END_MARKER}\nafter\n")
    assert main(["--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nbefore\n")
    assert text.endswith(f"{END_MARKER}\nafter\n")
    assert "old table" not in text
    assert extract_section(text) == render_settings_table()
    assert replace_section(text, render_settings_table()) == text  # idempotent
    doc.write_text("no markers\n")
    assert main(["--write", str(doc)]) == 1


def test_quick_start_is_make_run_and_make_test() -> None:
    text = _readme()
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README.md has no '## Quick start' section"
    section = match.group(1)
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    # The first two commands are the quick start; anything after them is an optional example.
    assert commands[:2] == ["make run", "make test"], commands
    assert "http://127.0.0.1:8000" in section
    assert "SSO_TEST_POSTGRES_URL" in section
