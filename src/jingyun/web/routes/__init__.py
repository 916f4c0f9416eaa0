"""One router per page group; importing a module registers its panels."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from jingyun.web.routes.analyses import router as analyses
    from jingyun.web.routes.cockpit import router as cockpit
    from jingyun.web.routes.common import router as common
    from jingyun.web.routes.dashboards import router as dashboards
    from jingyun.web.routes.experiments import router as experiments
    from jingyun.web.routes.jobs import router as jobs
    from jingyun.web.routes.quality import router as quality
    from jingyun.web.routes.users import router as users

    known = [common, cockpit, analyses, users, experiments, quality, dashboards, jobs]
    # a capability added later only needs its own module with a ``router``: it is mounted after the known ones
    import importlib
    import pkgutil

    import jingyun.web.routes as package

    seen = {id(r) for r in known}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        extra = getattr(importlib.import_module(f"jingyun.web.routes.{info.name}"), "router", None)
        if isinstance(extra, APIRouter) and id(extra) not in seen:
            known.append(extra)
            seen.add(id(extra))
    return known
