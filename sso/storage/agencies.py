"""Agencies (OPD) repository."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Agency


def get_by_code(session: Session, code: str) -> Agency | None:
    return session.scalar(select(Agency).where(Agency.code == code))


def get(session: Session, agency_id: int) -> Agency | None:
    return session.get(Agency, agency_id)


def list_all(session: Session) -> Sequence[Agency]:
    return session.scalars(select(Agency).order_by(Agency.code)).all()


def add(session: Session, agency: Agency) -> Agency:
    session.add(agency)
    session.flush()
    return agency
