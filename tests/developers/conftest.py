"""Fixtures of the developer-portal tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.runtime import Runtime
from tests.developers.helpers import developer
from tests.factories import create_user


@pytest.fixture
def dewi(runtime: Runtime, db: Session) -> User:
    """A citizen with a verified email: may register apps."""
    return developer(runtime, db, "dewi")


@pytest.fixture
def siti(runtime: Runtime, db: Session) -> User:
    """A citizen who logs in to the developers' apps."""
    return create_user(runtime, db, username="siti", given_name="Siti", family_name="Rahma")


@pytest.fixture
def other_http(app: FastAPI) -> Iterator[TestClient]:
    """A second browser (another person's cookies)."""
    with TestClient(app, base_url="http://testserver") as client:
        yield client
