"""Journeys in the console (用户旅程): the list, a journey's graph with live counts, the editor and the lift report.

- ``/journeys``: journeys by key with status and version, paginated, filtered by status.
- ``/journeys/{key}``: the steps as boxes in list order with the live counts (entered, waiting, at the step,
  converted, exited, from ``journey_entries``); the lift report (treated vs holdout, with the interval from
  the experiments statistics) for the chosen local days; the definition in the editor; the sends of the
  journey in the delivery log (``/messages?journey=KEY``).
- The editor (``/journeys/new`` and on a journey's page) takes YAML or JSON: **check** shows the first error
  with its field, **preview** simulates the last 30 days of data (sends nothing), **save** stores a new version
  (``journeys:create``); **request activation** files an approval request (managers approve; the approval turns
  the version on).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun.api.deps import reading
from jingyun.automation import registry
from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import Journey, load_text, to_data
from jingyun.automation.report import default_range, live_graph, report
from jingyun.automation.simulate import simulate
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import for_settings
from jingyun.warehouse.backends import open_backend
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("journeys:view"))]
Creator = Annotated[ConsoleCtx, Depends(page_ctx("journeys:create"))]
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
PAGE = 25
PREVIEW_DAYS = 30
SAMPLE = """key: my-journey
name: 新旅程 New journey
holdout: 0.10
trigger:
  type: event
  event: view_product
  absent: {any_of: [{event: order}], within: 30m}
steps:
  - {id: push, type: action, channel: push, template: abandoned_browse_push}
  - {id: converted, type: goal, event: order, within: 72h}
"""


def _yaml(journey: Journey) -> str:
    return yaml.safe_dump(to_data(journey), allow_unicode=True, sort_keys=False)


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(ctx: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                  status: Annotated[Literal["", "draft", "active", "paused"], Query()] = "") -> HTMLResponse:
    items, total = registry.listing(ctx.state.store, status=status or None, limit=PAGE, offset=(page - 1) * PAGE)
    rows = [j.to_dict(ctx.timezone) for j in items]
    return ctx.render("journeys.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                      status=status)


def _preview(ctx: ConsoleCtx, journey: Journey) -> dict[str, Any]:
    settings = ctx.state.settings

    def run(wh: Any) -> Any:
        backend = open_backend(settings, warehouse=wh)
        _, end = default_range(backend, settings.timezone)
        start = end - dt.timedelta(days=PREVIEW_DAYS - 1)
        [res] = simulate(backend, [journey], start, end, timezone=settings.timezone,
                         rules=GuardRules.from_settings(settings), store=ctx.state.store, defs=for_settings(settings))
        return {**res.to_dict(), "from": start.isoformat(), "to": end.isoformat()}

    out: dict[str, Any] = reading(ctx.state, run)
    return out


def _editor(ctx: ConsoleCtx, stored: registry.StoredJourney | None, *, text: str, error: dict[str, Any] | None = None,
            preview: dict[str, Any] | None = None, status_code: int = 200, **extra: Any) -> HTMLResponse:
    values: dict[str, Any] = {"stored": stored.to_dict(ctx.timezone) if stored else None, "text": text,
                              "error": error, "preview": preview, "graph": None, "report": None,
                              "versions": [], "may_create": ctx.may("journeys:create"), "date_from": "",
                              "date_to": "", "done": None, "request_id": None,
                              "source": "auto"}
    values.update(extra)
    if stored is not None:
        values["graph"] = live_graph(ctx.state.store, stored.journey)
        values["steps"] = [{"id": s.id, "type": s.type} for s in stored.journey.steps]
        values["versions"] = registry.versions(ctx.state.store, stored.key)
    return ctx.render("journey.html", status_code=status_code, **values)


@router.get("/journeys/new", response_class=HTMLResponse)
def new_journey(ctx: Creator) -> HTMLResponse:
    return _editor(ctx, None, text=SAMPLE)


@router.get("/journeys/{key}", response_class=HTMLResponse)
def journey_page(ctx: Viewer, key: Key,
                 date_from: Annotated[dt.date | None, Query(alias="from")] = None,
                 date_to: Annotated[dt.date | None, Query(alias="to")] = None,
                 source: Annotated[Literal["auto", "simulated", "live"], Query()] = "auto",
                 done: Annotated[Literal["saved", "unchanged", "requested"] | None, Query()] = None,
                 request_id: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    stored = registry.get(ctx.state.store, key)
    rep = None
    if date_from is not None or date_to is not None:
        settings = ctx.state.settings

        def run(wh: Any) -> Any:
            backend = open_backend(settings, warehouse=wh)
            end = date_to or default_range(backend, settings.timezone)[1]
            start = date_from or end - dt.timedelta(days=29)
            return report(backend, stored.journey, start, end, settings=settings, store=ctx.state.store,
                          source=source).to_dict()

        rep = reading(ctx.state, run)
    return _editor(ctx, stored, text=_yaml(stored.journey), report=rep, done=done, request_id=request_id,
                   date_from=date_from.isoformat() if date_from else "", date_to=date_to.isoformat() if date_to else "",
                   source=source)


@router.post("/journeys/editor", response_class=HTMLResponse)
def editor(ctx: Creator, text: Annotated[str, Form(max_length=200_000)],
           action: Annotated[Literal["check", "preview", "save"], Form()],
           key: Annotated[str, Form(max_length=64)] = "") -> Response:
    stored = registry.get(ctx.state.store, key) if key else None
    try:
        journey = load_text(text, "definition")
        if stored is not None and journey.key != stored.key:
            raise JingyunError("bad_journey", f"the definition's key {journey.key!r} is not {stored.key!r}; a new key "
                               "makes a new journey (use New journey)", "key")
        if action == "preview":
            return _editor(ctx, stored, text=text, preview=_preview(ctx, journey))
        if action == "save":
            saved, changed = registry.create(ctx.state.store, journey, by=ctx.principal.name)
            return RedirectResponse(ctx.url(f"/journeys/{saved.key}?done={'saved' if changed else 'unchanged'}"),
                                    status_code=303)
    except JingyunError as exc:
        return _editor(ctx, stored, text=text, status_code=400,
                       error={"code": exc.code, "field": exc.field, "message": exc.message})
    return _editor(ctx, stored, text=text, done="valid")


@router.post("/journeys/{key}/activation", response_class=HTMLResponse)
def request_activation_page(ctx: Creator, key: Key) -> Response:
    from jingyun.automation.activation import request_activation

    req = request_activation(ctx.state.store, ctx.state.settings, key, requester=ctx.principal.name)
    return RedirectResponse(ctx.url(f"/journeys/{key}?done=requested&request_id={req.id}"), status_code=303)
