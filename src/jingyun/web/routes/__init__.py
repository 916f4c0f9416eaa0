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

    return [common, cockpit, analyses, users, experiments, quality, dashboards, jobs]
