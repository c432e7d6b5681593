"""Catalogue rules: who sees which dataset, who publishes, what a valid CSV is."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer
from tangsel_rp.user import RPUser

from data_portal.models import LICENCES, VISIBILITIES, Dataset, DatasetVersion, Person


class DatasetError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their agency (None for citizens and anonymous visitors) and whether
    they may publish for it."""

    agency_code: str | None = None
    agency_name: str | None = None
    publisher: bool = False
    id: str = ""

    def sees(self, dataset: Dataset) -> bool:
        return dataset.visibility == "public" or (
            self.agency_code is not None and dataset.agency_code == self.agency_code
        )

    def publishes_for(self, dataset: Dataset) -> bool:
        return self.publisher and self.agency_code == dataset.agency_code


def viewer_of(user: RPUser | None, publisher_role: str) -> Viewer:
    if user is None:
        return Viewer()
    return Viewer(
        agency_code=user.agency_code,
        agency_name=user.agency_name,
        publisher=user.has_role(publisher_role) and user.agency_code is not None,
        id=user.sub,
    )


def remember_person(db: Session, user: RPUser) -> None:
    person = db.get(Person, user.sub)
    if person is None:
        person = Person(sub=user.sub)
        db.add(person)
    person.name = user.name[:200]
    person.agency_code, person.agency_name = user.agency_code, user.agency_name
    person.roles = sorted(user.roles)
    person.seen_at = utcnow()


def _visible(viewer: Viewer):  # type: ignore[no-untyped-def]
    if viewer.agency_code is None:
        return Dataset.visibility == "public"
    return or_(Dataset.visibility == "public", Dataset.agency_code == viewer.agency_code)


def list_datasets(db: Session, viewer: Viewer, q: str = "") -> list[Dataset]:
    stmt = select(Dataset).where(_visible(viewer)).order_by(Dataset.updated_at.desc(), Dataset.id)
    if q.strip():
        like = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(Dataset.title.ilike(like), Dataset.description.ilike(like)))
    return list(db.scalars(stmt))


def get_visible(db: Session, dataset_id: int, viewer: Viewer) -> Dataset:
    """The dataset, or DatasetError("error.not_found"): a restricted dataset of another agency
    is "not found" rather than "forbidden", so its existence does not leak."""
    dataset = db.get(Dataset, dataset_id)
    if dataset is None or not viewer.sees(dataset):
        raise DatasetError("error.not_found")
    return dataset


def create_dataset(
    db: Session, viewer: Viewer, *, title: str, description: str, licence: str, visibility: str
) -> Dataset:
    if not viewer.publisher or viewer.agency_code is None:
        raise DatasetError("error.forbidden")
    title, description = title.strip(), description.strip()
    if not 1 <= len(title) <= 200:
        raise DatasetError("form.title_invalid")
    if len(description) > 5000:
        raise DatasetError("form.too_long")
    if licence not in LICENCES:
        raise DatasetError("form.licence_invalid")
    if visibility not in VISIBILITIES:
        raise DatasetError("form.visibility_invalid")
    now = utcnow()
    dataset = Dataset(
        title=title,
        description=description,
        licence=licence,
        visibility=visibility,
        agency_code=viewer.agency_code,
        agency_name=viewer.agency_name or viewer.agency_code,
        created_by=viewer.id,
        created_at=now,
        updated_at=now,
    )
    db.add(dataset)
    db.flush()
    return dataset


def inspect_csv(content: bytes, max_bytes: int) -> tuple[list[str], int]:
    """(header, number of data rows) of a UTF-8 CSV with a header row; DatasetError if not."""
    if not content.strip():
        raise DatasetError("upload.empty")
    if len(content) > max_bytes:
        raise DatasetError("upload.too_large")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError("upload.not_utf8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise DatasetError("upload.not_csv") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DatasetError("upload.no_header")
    header = [cell.strip() for cell in rows[0]]
    if len(set(header)) != len(header):
        raise DatasetError("upload.duplicate_columns")
    data = [row for row in rows[1:] if row]
    if any(len(row) != len(header) for row in data):
        raise DatasetError("upload.ragged")
    return header, len(data)


def add_version(
    db: Session, dataset: Dataset, viewer: Viewer, filename: str, content: bytes, max_bytes: int
) -> DatasetVersion:
    """A new version (number = last + 1). Two uploads at once cannot get the same number:
    the unique (dataset, number) constraint refuses the second, which then retries."""
    if not viewer.publishes_for(dataset):
        raise DatasetError("error.forbidden")
    columns, row_count = inspect_csv(content, max_bytes)
    name = (filename or "data.csv").replace("/", "_").replace("\\", "_")[-200:]
    for _attempt in range(3):
        number = (
            db.scalar(
                select(func.max(DatasetVersion.number)).where(
                    DatasetVersion.dataset_id == dataset.id
                )
            )
            or 0
        ) + 1
        version = DatasetVersion(
            dataset_id=dataset.id,
            number=number,
            filename=name,
            content=content,
            size=len(content),
            row_count=row_count,
            columns=columns,
            uploaded_by=viewer.id,
            uploaded_at=utcnow(),
        )
        try:
            with db.begin_nested():
                db.add(version)
        except IntegrityError:
            continue
        dataset.updated_at = utcnow()
        return version
    raise DatasetError("upload.busy")


def latest_version(db: Session, dataset_id: int) -> DatasetVersion | None:
    return db.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.number.desc())
        .limit(1)
    )


def version(db: Session, dataset_id: int, number: int) -> DatasetVersion | None:
    return db.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number
        )
    )


def version_summaries(db: Session, dataset_id: int) -> list[DatasetVersion]:
    return list(
        db.scalars(
            select(DatasetVersion)
            .options(defer(DatasetVersion.content))
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.number.desc())
        )
    )
