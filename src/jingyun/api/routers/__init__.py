"""One router per capability; :func:`all_routers` is what ``create_app`` mounts."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from jingyun.api.routers.admin import router as admin
    from jingyun.api.routers.analysis import router as analysis
    from jingyun.api.routers.auth import router as auth
    from jingyun.api.routers.channels import router as channels
    from jingyun.api.routers.experiments import router as experiments
    from jingyun.api.routers.health import router as health
    from jingyun.api.routers.ingest import router as ingest
    from jingyun.api.routers.metrics import router as metrics
    from jingyun.api.routers.models import router as models
    from jingyun.api.routers.profiles import router as profiles
    from jingyun.api.routers.quarantine import router as quarantine
    from jingyun.api.routers.schema import router as schema
    from jingyun.api.routers.segments import router as segments
    from jingyun.api.routers.users import router as users

    known = [health, auth, ingest, users, segments, profiles, analysis, channels, metrics, experiments, models,
            quarantine, schema, admin]
    # a capability added later only needs its own module with a ``router``: it is mounted after the known ones
    import importlib
    import pkgutil

    import jingyun.api.routers as package

    seen = {id(r) for r in known}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        extra = getattr(importlib.import_module(f"jingyun.api.routers.{info.name}"), "router", None)
        if isinstance(extra, APIRouter) and id(extra) not in seen:
            known.append(extra)
            seen.add(id(extra))
    return known
