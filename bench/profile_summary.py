"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as text: where the samples
end (self time, grouped by library), and the provider's own functions by inclusive time.

    python bench/profile_summary.py bench/out/<stamp>/profile-client_credentials.raw
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

# Where a leaf frame's file lives -> the group it is reported under.
GROUPS: tuple[tuple[str, str], ...] = (
    ("sso/", "sso (provider code)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg", "psycopg (driver, incl. waiting for PostgreSQL)"),
    ("joserfc/", "joserfc + cryptography (JWT sign/verify)"),
    ("cryptography/", "joserfc + cryptography (JWT sign/verify)"),
    ("authlib/", "Authlib"),
    ("passlib/", "passlib + argon2 (password hash)"),
    ("argon2/", "passlib + argon2 (password hash)"),
    ("_argon2", "passlib + argon2 (password hash)"),
    ("starlette/", "Starlette / FastAPI / anyio / uvicorn"),
    ("fastapi/", "Starlette / FastAPI / anyio / uvicorn"),
    ("anyio/", "Starlette / FastAPI / anyio / uvicorn"),
    ("uvicorn/", "Starlette / FastAPI / anyio / uvicorn"),
    ("pydantic", "Starlette / FastAPI / anyio / uvicorn"),
    ("jinja2/", "Jinja2 (templates)"),
    ("asyncio/", "asyncio event loop"),
    ("uvloop", "asyncio event loop"),
    ("threading.py", "threads (queue hand-off, locks)"),
    ("queue.py", "threads (queue hand-off, locks)"),
    ("logging/", "logging"),
    ("json/", "json"),
)


def group_of(path: str) -> str:
    for needle, name in GROUPS:
        if needle in path:
            return name
    return "other stdlib / C"


def parse(lines: Iterable[str]) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in lines:
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw)
            frames.append((m.group("func"), m.group("file")) if m else (raw, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarize(lines: Iterable[str], top: int = 30) -> str:
    stacks = parse(lines)
    total = sum(n for _, n in stacks) or 1
    by_group: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for frames, n in stacks:
        func, path = frames[-1]
        by_group[group_of(path)] += n
        leaf[f"{func} ({path})"] += n
        seen = set()
        for func, path in frames:
            if "/sso/" in path or path.startswith("sso/"):
                key = f"{func} ({path[path.find('sso/') :]})"
                if key not in seen:
                    own[key] += n
                    seen.add(key)
    out = [f"samples: {total}", "", "self time by library (the frame a sample ended in):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_group.most_common()]
    out += ["", f"provider functions, inclusive (top {top}):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out += ["", f"hottest leaf frames (top {top}):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        sys.stdout.write(summarize(handle))
