"""The README stays true: its settings table is the one generated from Settings, and its quick
start is exactly `make run` and `make test`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


ROOT = README.parent


def _capacity() -> Any:  # bench/ holds scripts, not a package
    import importlib.util
    import sys

    if "bench_capacity" not in sys.modules:
        path = ROOT / "bench" / "capacity.py"
        spec = importlib.util.spec_from_file_location("bench_capacity", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_capacity"] = module  # its dataclass looks its module up there
        spec.loader.exec_module(module)
    return sys.modules["bench_capacity"]


def test_capacity_plan_quotes_the_latest_bench_results() -> None:
    capacity = _capacity()
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    bench = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert capacity.extract_section(doc) == capacity.render(bench), (
        "docs/operations.md's capacity figures are out of date: "
        "run `python bench/capacity.py --write docs/operations.md`"
    )


def test_capacity_figures_come_from_the_last_results_table() -> None:
    capacity = _capacity()
    bench = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    heading, rows = capacity.latest_run(bench)
    newer = (
        bench.rstrip("\n") + "\n\n### 2099-01-01 00:00 · `make bench`\n\nMachine: a faster one.\n\n"
    )
    header = "| " + " | ".join(rows[0]) + " |"
    lines = [header, "| " + " | ".join("---" for _ in rows[0]) + " |"]
    for row in rows:
        doubled = dict(row)
        per_cpu = capacity._number(row["per server CPU-s"])
        if per_cpu:
            doubled["per server CPU-s"] = f"{per_cpu * 2:,.0f}"
        lines.append("| " + " | ".join(doubled.values()) + " |")
    newer += "\n".join(lines) + "\n"
    assert capacity.latest_run(newer)[0] == "2099-01-01 00:00 · `make bench`"
    old, new = capacity.measured(rows), capacity.measured(capacity.latest_run(newer)[1])
    assert new["login"].per_cpu == 2 * old["login"].per_cpu
    assert "2099-01-01 00:00" in capacity.render(newer)
    doc = f"a\n{capacity.START_MARKER}\nold\n{capacity.END_MARKER}\nb\n"
    rewritten = capacity.replace_section(doc, capacity.render(newer))
    assert capacity.extract_section(rewritten) == capacity.render(newer)
    assert rewritten.startswith("a\n") and rewritten.endswith(f"{capacity.END_MARKER}\nb\n")


def test_readme_says_dynamic_registration_ships() -> None:
    """Discovery advertises `registration_endpoint` (RFC 7591): the profile table says so."""
    from sso.oidc.discovery import __file__ as discovery_source

    assert "registration_endpoint" in Path(discovery_source).read_text(encoding="utf-8")
    (row,) = [line for line in _readme().splitlines() if line.startswith("| Dynamic OP |")]
    assert "not yet" not in row and "/oauth2/register" in row


def test_clients_readme_gives_app_roles_with_real_commands() -> None:
    from typer.main import get_command

    from sso.cli import app

    text = (ROOT / "clients" / "README.md").read_text(encoding="utf-8")
    assert "cannot create app roles" not in text
    group = get_command(app).commands["roles"]  # type: ignore[attr-defined]
    quoted = re.findall(r"^sso roles (\w+) (.*?)(?:\s+#.*)?$", text, flags=re.M)
    assert {name for name, _ in quoted} >= {"create", "assign"}, quoted
    for name, args in quoted:
        command = group.commands[name]
        options = {opt for param in command.params for opt in param.opts}
        assert set(re.findall(r"--[\w-]+", args)) <= options, (name, args)
    assert "make demo" in text and "demo:" in (ROOT / "Makefile").read_text(encoding="utf-8")
