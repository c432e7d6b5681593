"""The README's settings table, generated from :class:`sso.config.Settings` so it cannot drift.

``python -m sso.settings_doc`` prints the table; ``python -m sso.settings_doc --write README.md``
rewrites the part of the file between the ``<!-- settings:start -->`` and
``<!-- settings:end -->`` markers in place. ``tests/test_readme.py`` fails when the README's
table differs from what this module renders, so adding a setting means regenerating it.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sso.config import Settings

START_MARKER = "<!-- settings:start -->"
END_MARKER = "<!-- settings:end -->"
NO_DEFAULT = "—"


def _format_default(value: object) -> str:
    # Secrets and unset values have no default worth showing (and a secret must never be shown).
    if value is None or value is PydanticUndefined or isinstance(value, SecretStr):
        return NO_DEFAULT
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum):
        text = str(value.value)
    else:
        text = str(value)
    if text == "":
        return NO_DEFAULT
    return f"`{text}`"


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _default(info: FieldInfo) -> object:
    return info.get_default(call_default_factory=True)


def _choices(annotation: Any) -> list[str]:
    """The allowed values of a ``Literal[...]`` setting (empty for any other type)."""
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    return []


def env_var_name(field_name: str) -> str:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field_name}".upper()


def _in_reading_order() -> list[tuple[str, FieldInfo]]:
    """Settings' own fields first, then those of the parts it inherits (phone codes …)."""
    order: list[str] = []
    for cls in Settings.__mro__:
        order += [
            n
            for n in getattr(cls, "__annotations__", {})
            if n in Settings.model_fields and n not in order
        ]
    return [(name, Settings.model_fields[name]) for name in order]


def render_settings_table() -> str:
    """A Markdown table with one row per setting: variable, default, description."""
    lines = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, info in _in_reading_order():
        description = info.description or ""
        choices = _choices(info.annotation)
        if choices:
            description += " One of: " + ", ".join(f"`{choice}`" for choice in choices) + "."
        description = _cell(description)
        default = _cell(_format_default(_default(info)))
        lines.append(f"| `{env_var_name(name)}` | {default} | {description} |")
    return "\n".join(lines) + "\n"


def replace_section(document: str, table: str) -> str:
    """``document`` with the text between the settings markers replaced by ``table``."""
    start = document.find(START_MARKER)
    end = document.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"markers {START_MARKER} and {END_MARKER} not found in order")
    head = document[: start + len(START_MARKER)]
    return f"{head}\n{table}{document[end:]}"


def extract_section(document: str) -> str:
    """The text between the settings markers (without the markers), or raise ``ValueError``."""
    start = document.find(START_MARKER)
    end = document.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"markers {START_MARKER} and {END_MARKER} not found in order")
    return document[start + len(START_MARKER) : end].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sso.settings_doc", description="Print the settings table as Markdown."
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help="rewrite the section between the settings markers of FILE in place",
    )
    args = parser.parse_args(argv)
    table = render_settings_table()
    if args.write is None:
        sys.stdout.write(table)
        return 0
    path: Path = args.write
    try:
        document = path.read_text(encoding="utf-8")
        updated = replace_section(document, table)
    except (OSError, ValueError) as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 1
    if updated != document:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings table updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
