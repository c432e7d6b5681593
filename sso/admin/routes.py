"""The admin UI at /admin (issue 5): one router made of the areas' routers."""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

AREAS = (
    "dashboard",
    "imports",
    "user_new",  # /admin/users/new before /admin/users/{user_id}
    "users",
    "user_actions",
    "agencies",
    "roles",
    "clients",
    "system",
    "audit",
    "tokens",
    "handover",
    "upstreams",
    "webhooks",
)
for _name in AREAS:
    router.include_router(import_module(f"sso.admin.{_name}").router)
