"""Reading a staff CSV (NIP, name, email, agency code, position) as a stream: UTF-8 (with or
without a BOM), comma or semicolon, a header row naming the columns in Indonesian or English.
A file that cannot be read is refused as a whole, saying why: a spreadsheet rather than CSV,
not UTF-8, columns missing, a broken line, too many rows, or no rows at all."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sso.core.errors import InvalidInput

COLUMNS = {
    "nip": "nip",
    "name": "name",
    "nama": "name",
    "email": "email",
    "surel": "email",
    "agency_code": "agency_code",
    "agency": "agency_code",
    "kode_opd": "agency_code",
    "opd": "agency_code",
    "position": "position",
    "jabatan": "position",
}
REQUIRED = ("nip", "name", "email", "agency_code", "position")


@dataclass(frozen=True)
class Row:
    line: int
    nip: str
    name: str
    email: str
    agency_code: str
    position: str


# Signatures of files that are spreadsheets, not text: XLSX/ODS (zip) and old XLS (OLE2).
_NOT_CSV = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
_UTF16 = (b"\xff\xfe", b"\xfe\xff")


def parse_file(path: Path, max_rows: int) -> list[Row]:
    """The rows of the file at ``path``, read as a stream; InvalidInput says why not."""
    with path.open("rb") as raw:
        _check_start(raw.read(8))
    with path.open(encoding="utf-8-sig", newline="") as text:
        return _parse_text(text, max_rows)


def _check_start(head: bytes) -> None:
    if head.startswith(_NOT_CSV):
        raise InvalidInput("admin.import.not_csv")
    if head.startswith(_UTF16):
        raise InvalidInput("admin.import.not_utf8")


def _parse_text(stream: IO[str], max_rows: int) -> list[Row]:
    try:
        first = stream.readline()
        delimiter = ";" if first.count(";") > first.count(",") else ","
        return _records(csv.reader(_chain(first, stream), delimiter=delimiter), max_rows)
    except UnicodeDecodeError as exc:
        raise InvalidInput("admin.import.not_utf8") from exc


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _records(reader: Any, max_rows: int) -> list[Row]:
    try:
        header = [COLUMNS.get(h.strip().casefold().replace(" ", "_"), "") for h in next(reader)]
    except StopIteration as exc:
        raise InvalidInput("admin.import.empty") from exc
    except csv.Error as exc:
        raise InvalidInput("admin.import.unreadable", line=1) from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput("admin.import.missing_columns", columns=", ".join(missing))
    where = {name: header.index(name) for name in REQUIRED}
    rows: list[Row] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= max_rows:
                raise InvalidInput("admin.import.too_many_rows", max=max_rows)
            cells = {k: (record[i].strip() if i < len(record) else "") for k, i in where.items()}
            rows.append(Row(reader.line_num, **{k: v[:300] for k, v in cells.items()}))
    except csv.Error as exc:
        raise InvalidInput("admin.import.unreadable", line=reader.line_num) from exc
    if not rows:
        raise InvalidInput("admin.import.empty")
    return rows
