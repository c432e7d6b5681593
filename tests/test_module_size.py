"""No module in ``sso/`` or ``clients/`` over 400 lines (DESIGN.md: aim under 300, split at
400, by what the parts do). Counted as ``wc -l`` counts them, on the files as ``ruff format``
leaves them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 400


def lines_of(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def too_long(roots: tuple[Path, ...], limit: int) -> list[str]:
    """``path: lines`` of every ``.py`` file under ``roots`` longer than ``limit``, longest first."""
    found: list[tuple[int, str]] = []
    for root in roots:
        for path in root.rglob("*.py"):
            if "__pycache__" in path.parts or ".venv" in path.parts:
                continue
            n = lines_of(path)
            if n > limit:
                found.append((n, path.relative_to(ROOT).as_posix()))
    return [f"{name}: {n}" for n, name in sorted(found, reverse=True)]


def test_no_module_over_400_lines() -> None:
    over = too_long((ROOT / "sso", ROOT / "clients"), LIMIT)
    assert not over, f"over {LIMIT} lines (split by what the parts do): " + ", ".join(over)


def test_the_check_names_the_files_over_the_limit() -> None:
    """The check itself: at the longest module's length it names nothing, one line below it
    names that module, with its path and length."""
    package = ROOT / "sso"
    longest = max((p for p in package.rglob("*.py") if "__pycache__" not in p.parts), key=lines_of)
    n = lines_of(longest)
    assert too_long((package,), n) == []
    assert f"{longest.relative_to(ROOT).as_posix()}: {n}" in too_long((package,), n - 1)
