"""Drill-down to people (下钻到用户): from a funnel step, a retention cell, a segment tile or a KPI
diagnosis driver to the list of people behind it, and from there to a saved segment, an export or
a profile.

Every drill is a rule of the audience builder (:mod:`jingyun.segments.audience`), so the list, the
export and the segment saved from it are one object — the same rule the API and ``jingyun segment``
store — and the list shows exactly the people the saved segment holds when it is saved (both are the
rule compiled as of the data's last fact). Rules look back ``within_days`` from that moment, so a
drill into a past range counts the people who did it *since* the range began.

The list is paginated and masked per role at the edge (``api.routers.users.present``: the
security.masking gate); the export is ``users:export``, masked the same way and audited (``export``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from jingyun.api.deps import request_id
from jingyun.api.routers.users import present
from jingyun.errors import JingyunError
from jingyun.segments import saved
from jingyun.segments.audience import compile_rule, guard
from jingyun.segments.store import SegmentStore, tree_rule
from jingyun.warehouse import Warehouse
from jingyun.warehouse.users import page_users
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.filters import parse_filters

router = APIRouter(route_class=ConsoleRoute)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("segments:view"))]
Exporter = Annotated[ConsoleCtx, Depends(page_ctx("users:export"))]

PAGE_SIZE = 50
# what the list shows of each person (after masking: a de-identified row has age_band, no birth_date)
LIST_COLUMNS = ("user_id", "name", "phone", "gender", "age_band", "birth_date", "channel", "member_level",
                "province", "city", "registered_at")
# diagnosis dimensions that are people's attributes (the others — platform, category — describe orders)
ATTR_DIMS = ("channel", "province", "member_level", "city", "gender")
SOURCES = ("rule", "segment", "funnel", "retention", "diagnosis")


@dataclass(frozen=True)
class Drill:
    """Where the people come from: the rule that selects them and how to say it."""

    rule: dict[str, Any]
    title: str
    note: str = ""


def _days_since(as_of: dt.datetime, day: dt.date) -> int:
    """A ``within_days`` window, as of ``as_of``, that begins on the local ``day`` (at least 1)."""
    return max(1, (as_of.date() - day).days + 1)


def _event(name: str, days: int, step: Any = None) -> dict[str, Any]:
    """An event-count leaf; a funnel step's property filters become its ``where``."""
    node: dict[str, Any] = {"event": name, "within_days": days}
    if step is not None and step.filters:
        node["where"] = [{"prop": f.field, "op": f.op, "value": f.value} for f in step.filters]
    return node


def build_drill(ctx: ConsoleCtx, params: Mapping[str, str], as_of: dt.datetime) -> Drill:
    """The drill's rule from the query string (``src`` and its parameters); a bad one is a 4xx naming its field."""
    src = params.get("src", "rule")
    if src not in SOURCES:
        raise JingyunError("bad_source", f"src must be one of {', '.join(SOURCES)}", "src")
    if src == "rule":
        try:
            rule = json.loads(params.get("rule", ""))
        except json.JSONDecodeError:
            raise JingyunError("bad_json", "the rule is not JSON", "rule", status=422) from None
        if not isinstance(rule, dict):
            raise JingyunError("bad_rule", "a rule is a JSON object", "rule", status=422)
        return Drill(tree_rule(rule), ctx.t("drill.title_rule"))
    if src == "segment":
        from jingyun.web.routes.users import _segment

        seg = _segment(ctx, params.get("name", ""))  # another department's: 404 like a missing one
        return Drill({"segment": seg.name}, ctx.t("drill.title_segment", name=seg.name))
    f = parse_filters(ctx, params)
    if src == "funnel":
        steps = [s.strip() for s in params.get("steps", "").split(",") if s.strip()]
        if len(steps) < 2:
            raise JingyunError("bad_funnel", "a funnel needs at least 2 steps, separated by commas", "steps")
        try:
            step = int(params.get("step", ""))
        except ValueError:
            raise JingyunError("bad_step", "step is the number of the step (2 = the second)", "step") from None
        if not 2 <= step <= len(steps):
            raise JingyunError("bad_step", f"step must be between 2 and {len(steps)}", "step")
        from jingyun.web.routes.analyses import parse_step

        days = _days_since(as_of, f.date_from)
        sa, sb = parse_step(steps[step - 2], step - 2), parse_step(steps[step - 1], step - 1)
        a, b = sa.event, sb.event
        return Drill({"and": [_event(a, days, sa), {"not": _event(b, days, sb)}]},
                     ctx.t("drill.title_funnel", a=a, b=b, since=f.date_from.isoformat()),
                     ctx.t("drill.note_funnel"))
    if src == "retention":
        cohort_event = params.get("cohort_event", "") or "register"
        return_event = params.get("return_event", "") or "login"
        try:
            cohort = dt.date.fromisoformat(params.get("cohort", ""))
            day = int(params.get("day", ""))
        except ValueError:
            raise JingyunError("bad_cell", "a retention cell is a cohort day (YYYY-MM-DD) and a day number",
                               "cohort") from None
        if day < 0:
            raise JingyunError("bad_cell", "the day number is 0 or more", "day")
        back = cohort + dt.timedelta(days=day)
        return Drill({"and": [_event(cohort_event, _days_since(as_of, cohort)),
                              _event(return_event, _days_since(as_of, back))]},
                     ctx.t("drill.title_retention", a=cohort_event, b=return_event, cohort=cohort.isoformat(), n=day),
                     ctx.t("drill.note_retention"))
    # diagnosis: the people of one driver (a value of a people dimension) who ordered since the range began
    dim, value = params.get("dim_name", ""), params.get("value", "")
    if dim not in ATTR_DIMS:
        raise JingyunError("bad_dimension", f"people are drilled by {', '.join(ATTR_DIMS)}; "
                           f"{dim or '(none)'} describes orders, not people", "dim_name")
    if not value:
        raise JingyunError("bad_value", "name the driver's value", "value")
    return Drill({"and": [{"attr": dim, "op": "eq", "value": value},
                          {"orders": "count", "within_days": _days_since(as_of, f.date_from), "op": "gte",
                           "value": 1}]},
                 ctx.t("drill.title_diagnosis", dim=ctx.t("attr." + dim), value=value,
                       since=f.date_from.isoformat()))


def _compiled(ctx: ConsoleCtx, wh: Warehouse, params: Mapping[str, str]) -> tuple[Drill, str]:
    store = SegmentStore(ctx.state.settings, ctx.state.store)
    rctx = saved.context(wh, store)
    assert rctx.as_of is not None
    drill = build_drill(ctx, params, rctx.as_of)
    guard(drill.rule, sees_raw=ctx.principal.sees_raw)  # no list that singles out a person for masked roles
    return drill, compile_rule(drill.rule, rctx).sql


def _page(params: Mapping[str, str]) -> int:
    try:
        return max(1, int(params.get("page", "1")))
    except ValueError:
        raise JingyunError("bad_page", "page is a number from 1", "page") from None


def _rows(ctx: ConsoleCtx, raw: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    shown = [present(ctx.state, ctx.principal, r) for r in raw]
    cols = [c for c in LIST_COLUMNS if any(c in r for r in shown)]
    return cols, shown


@router.get("/users/people", response_class=HTMLResponse)
def people(ctx: Viewer) -> HTMLResponse:
    """The people behind a drill, a page of 50, masked per role; save as a segment, export, open a profile."""
    params = dict(ctx.request.query_params)
    page = _page(params)
    with ctx.reader() as wh:
        drill, sql = _compiled(ctx, wh, params)
        persons = int(wh.scalar(f"SELECT count(*) FROM ({sql}) s") or 0)  # what a saved segment's size counts
        total, raw = page_users(wh, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, members=sql)
    cols, rows = _rows(ctx, raw)
    query = {k: v for k, v in params.items() if k != "page"}
    pages = max(1, math.ceil(total / PAGE_SIZE))  # one row per account: a merged person has several
    return ctx.render("people.html", drill=drill, rule_json=json.dumps(drill.rule, ensure_ascii=False),
                      cols=cols, rows=rows, total=persons, accounts=total, page=page, pages=pages, query=urlencode(query),
                      deidentified=not ctx.principal.sees_raw, departments=_departments(ctx),
                      any_department=_saves_workspace(ctx), f=parse_filters(ctx, {}))


def _saves_workspace(ctx: ConsoleCtx) -> bool:
    return ctx.may("segments:create") and ctx.principal.saves_workspace


def _departments(ctx: ConsoleCtx) -> list[str]:
    from jingyun.web.routes.users import _save_departments

    return _save_departments(ctx) if ctx.may("segments:create") else []


@router.get("/users/people.csv")
def people_csv(ctx: Exporter) -> Response:
    """Every person behind the drill as CSV (UTF-8 with BOM), masked per role, audited as ``export``."""
    params = dict(ctx.request.query_params)
    with ctx.reader() as wh:
        drill, sql = _compiled(ctx, wh, params)
        _, raw = page_users(wh, limit=1_000_000, offset=0, members=sql)
    cols, rows = _rows(ctx, raw)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(cols)
    for r in rows:
        out.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="export", target="users:drill",
                          detail={"rows": len(rows), "deidentified": not ctx.principal.sees_raw,
                                  "rule": drill.rule, "via": "console"}, request_id=request_id(ctx.request))
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="people.csv"'})


def people_href(**params: Any) -> str:
    """The drill link for a source and its parameters (what pages put behind a step, cell or tile)."""
    return "/console/users/people?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]


@router.get("/drill/funnel", response_class=HTMLResponse)
def funnel_drill(ctx: Analyst) -> HTMLResponse:
    """Under the funnel: each step's drop-off with a link to the people lost there, the weakest marked
    (the library's bottleneck: the largest loss)."""
    from jingyun.analysis import FunnelParams
    from jingyun.web.routes.analyses import _run_funnel, _steps, funnel_steps

    params = dict(ctx.request.query_params)
    f = parse_filters(ctx, params)
    steps = _steps(params)
    p = FunnelParams.create(funnel_steps(params), params.get("window", "24h"), f.date_from, f.date_to,
                            timezone=ctx.timezone)
    res = _run_funnel(ctx, p, compare=False, ttc=False)
    weakest = res.bottleneck.largest_loss.index
    rows = [{"index": i + 1, "name": s.name, "users": s.users, "drop_off": s.drop_off,
             "href": people_href(src="funnel", steps=",".join(steps), step=i + 1, **{"from": f.date_from.isoformat(),
                                                                                      "to": f.date_to.isoformat()})}
            for i, s in enumerate(res.steps)]
    return ctx.render("parts/funnel_drill.html", rows=rows, weakest=weakest)


@router.get("/drill/diagnosis", response_class=HTMLResponse)
def diagnosis_drill(ctx: Analyst) -> HTMLResponse:
    """Under the diagnosis waterfall: the top drivers and drags, each people dimension's value linking to the
    people of that value who ordered in the range (a KPI card's diagnosis → its people)."""
    from jingyun.analysis.explain import ExplainParams, Period, run_explain
    from jingyun.warehouse.backends import open_backend

    params = dict(ctx.request.query_params)
    f = parse_filters(ctx, params)
    p = ExplainParams.create(params.get("metric", "gmv"), Period(f.date_from, f.date_to),
                             by=params.get("by", "channel,user_type"), top=5, timezone=ctx.timezone)
    with ctx.reader() as wh:
        ex = run_explain(open_backend(ctx.state.settings, warehouse=wh), p)
    span = {"from": f.date_from.isoformat(), "to": f.date_to.isoformat()}
    rows = [{"segment": s.segment, "contribution": s.contribution,
             "links": [(dim, value, people_href(src="diagnosis", dim_name=dim, value=value, **span))
                       for dim, value in s.values.items() if dim in ATTR_DIMS]}
            for s in [*ex.drivers, *ex.drags]]
    return ctx.render("parts/diagnosis_drill.html", rows=rows)


@router.get("/drill/retention", response_class=HTMLResponse)
def retention_drill(ctx: Analyst) -> HTMLResponse:
    """Under the retention heat-map: each observed cell's retained count, linking to its people."""
    from jingyun.analysis import RetentionParams, run_retention
    from jingyun.warehouse.backends import open_backend
    from jingyun.web.panels import param_int
    from jingyun.web.routes.analyses import observed

    params = dict(ctx.request.query_params)
    f = parse_filters(ctx, params)
    days = param_int(params, "days", 7, 1, 30)
    cohort_event = params.get("cohort_event") or "app_start"
    return_event = params.get("return_event") or "app_start"
    p = RetentionParams.create(cohort_event, return_event, days, period="day", date_from=f.date_from,
                               date_to=f.date_to, timezone=ctx.timezone)
    with ctx.reader() as wh:
        res = run_retention(open_backend(ctx.state.settings, warehouse=wh), p)
    rows = [{"cohort": c.cohort, "size": c.size,
             "cells": [(k, n, people_href(src="retention", cohort_event=cohort_event, return_event=return_event,
                                          cohort=c.cohort, day=k))
                       if observed(c.cohort, k, res.period, f.date_to) else (k, None, "")
                       for k, n in enumerate(c.retained)]}
            for c in res.cohorts[-31:]]
    return ctx.render("parts/retention_drill.html", rows=rows, periods=res.periods)
