"""One router per capability; :func:`all_routers` is what ``create_app`` mounts."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from jingyun.api.routers.admin import router as admin
    from jingyun.api.routers.analysis import router as analysis
    from jingyun.api.routers.auth import router as auth
    from jingyun.api.routers.health import router as health
    from jingyun.api.routers.ingest import router as ingest
    from jingyun.api.routers.quarantine import router as quarantine
    from jingyun.api.routers.schema import router as schema
    from jingyun.api.routers.segments import router as segments
    from jingyun.api.routers.users import router as users

    return [health, auth, ingest, users, segments, analysis, quarantine, schema, admin]
