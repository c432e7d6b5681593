"""Assemble a relying-party app: database, sessions, OpenID Connect login, pages, errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import Session, sessionmaker

from tangsel_rp.db import RPBase, make_engine, make_sessionmaker
from tangsel_rp.i18n import Catalogue
from tangsel_rp.oidc import RelyingParty
from tangsel_rp.routes import auth_router, user_dependencies
from tangsel_rp.sessions import ServerSessionMiddleware, SessionStore
from tangsel_rp.settings import RPSettings
from tangsel_rp.web import STATIC, STATIC_PATH, NavItem, Web


@dataclass
class Toolkit:
    """What an app's routes use: settings, database, the relying party, pages, and the
    dependencies giving the person logged in."""

    settings: RPSettings
    engine: Engine
    sessions: sessionmaker[Session]
    store: SessionStore
    rp: RelyingParty
    web: Web
    optional_user: Any
    current_user: Any
    role_required: Any


def build_app(
    settings: RPSettings,
    *,
    title: str,
    catalogue: Catalogue,
    app_name_key: str,
    template_dir: Path,
    metadata: Sequence[MetaData],
    nav: Sequence[NavItem] = (),
) -> tuple[FastAPI, Toolkit]:
    logging.basicConfig(level=settings.log_level.upper())
    engine = make_engine(settings.database_url)
    for meta in (RPBase.metadata, *metadata):
        meta.create_all(engine)
    sessions = make_sessionmaker(engine)
    store = SessionStore(sessions, settings.session_lifetime)
    rp = RelyingParty(settings, store)
    web = Web(settings, catalogue, app_name_key=app_name_key, template_dir=template_dir, nav=nav)
    optional_user, current_user, role_required = user_dependencies(rp)

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        ServerSessionMiddleware,
        store=store,
        cookie_name=settings.session_cookie,
        secure=settings.secure_cookies,
    )
    web.install(app)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="tangsel_rp_static")
    app.include_router(auth_router(rp, web))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    toolkit = Toolkit(
        settings, engine, sessions, store, rp, web, optional_user, current_user, role_required
    )
    app.state.toolkit = toolkit
    return app, toolkit
