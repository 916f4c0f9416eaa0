"""Analyses (分析): funnel, retention heat-map, paths Sankey, attribution and the channel
value-cost matrix, diagnosis waterfall — each one library call from :mod:`jingyun.analysis`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from jingyun.analysis import FunnelParams, PathsParams, RetentionParams, run_funnel, run_paths, run_retention
from jingyun.analysis.attribution import MODELS, AttributionParams, run_attribution
from jingyun.analysis.channels import ChannelParams, run_channels
from jingyun.analysis.common import Step
from jingyun.analysis.explain import DIMENSIONS as EXPLAIN_DIMS
from jingyun.analysis.explain import METRICS as EXPLAIN_METRICS
from jingyun.analysis.explain import ExplainParams, Period, run_explain
from jingyun.errors import JingyunError
from jingyun.security.masking import Masker, require_field_access
from jingyun.warehouse.backends import open_backend
from jingyun.warehouse.filters import Filter
from jingyun.web import datacache
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.filters import Filters, parse_filters
from jingyun.web.panels import Callout, Column, PanelData, Table, bar_option, base_option, line_option, panel, param_int

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]
DEFAULT_STEPS = "view_product,add_to_cart,checkout,pay"
FUNNEL_BY = ("", "platform", "users.channel", "users.member_level")
TABS = ("funnel", "retention", "paths", "attribution", "diagnosis")


@router.get("/analyses", response_class=HTMLResponse)
def analyses(ctx: Analyst) -> HTMLResponse:
    params = dict(ctx.request.query_params)
    f = parse_filters(ctx, params)
    tab = params.get("tab") if params.get("tab") in TABS else "funnel"
    with ctx.reader() as wh:
        events = [str(r[0]) for r in wh.rows("SELECT event FROM events GROUP BY event ORDER BY count(*) DESC LIMIT 40")]
    plan = tracking_plan(ctx)
    events += [e for e in sorted(plan) if e not in events]  # the picker offers the plan's events too
    return ctx.render("analyses.html", f=f, tab=tab, tabs=TABS, params=params, events=events, plan=plan,
                      steps=params.get("steps", DEFAULT_STEPS), funnel_by=FUNNEL_BY, models=MODELS,
                      explain_metrics=list(EXPLAIN_METRICS), explain_dims=EXPLAIN_DIMS)


def tracking_plan(ctx: ConsoleCtx) -> dict[str, list[str]]:
    """Per event of the workspace's tracking plan, its properties (required first): what the step picker's
    property filter offers."""
    from pathlib import Path

    from jingyun.schema.tracking import DEFAULT_PLAN, load_plan

    try:
        plan = load_plan(Path(ctx.state.settings.tracking_plan_path)) or load_plan(DEFAULT_PLAN)
    except JingyunError:  # a broken plan file is the tracking report's to say; the picker offers events only
        plan = None
    return {name: [*spec.required, *spec.optional] for name, spec in (plan.events.items() if plan else ())}


def _steps(params: Mapping[str, str]) -> tuple[str, ...]:
    steps = [s.strip() for s in params.get("steps", DEFAULT_STEPS).split(",") if s.strip()]
    if len(steps) < 2:
        raise JingyunError("bad_funnel", "a funnel needs at least 2 steps, separated by commas", "steps")
    return tuple(steps)


# a step's property filters as the step picker writes them: view_product[category=服饰;price>=100]
_STEP = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*$")
_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_OPS = {"=": "eq", "!=": "neq", ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}


def parse_step(text: str, index: int = 0) -> Step:
    """``event`` or ``event[prop=value;prop>=number]``: the funnel step with its own property filters."""
    m = _STEP.match(text)
    if not m:
        raise JingyunError("bad_step", f"{text!r}: write event or event[property=value]", f"steps[{index}]")
    filters = []
    for j, part in enumerate(p for p in (m.group(2) or "").split(";") if p.strip()):
        c = _COND.match(part)
        if not c:
            raise JingyunError("bad_filter", f"{part!r}: write property=value (or != >= <= > <)",
                               f"steps[{index}].filters[{j}]")
        raw = c.group(3)
        try:
            value: Any = float(raw) if c.group(2) in (">=", "<=", ">", "<") else raw
        except ValueError:
            raise JingyunError("bad_filter", f"{raw!r} is not a number", f"steps[{index}].filters[{j}]") from None
        filters.append(Filter(c.group(1), _OPS[c.group(2)], value))  # type: ignore[arg-type]
    return Step(m.group(1), tuple(filters))


def funnel_steps(params: Mapping[str, str]) -> tuple[Step, ...]:
    return tuple(parse_step(s, i) for i, s in enumerate(_steps(params)))


def _run_funnel(ctx: ConsoleCtx, p: FunnelParams, **kw: Any) -> Any:
    """The funnel as this viewer may see it: no breakdown by personal data, free-text values masked."""
    if p.by is not None:
        require_field_access(p.by.label, sees_raw=ctx.principal.sees_raw, field_name="by")
    with ctx.reader() as wh:  # the library's result per data version (web.datacache), masked below per viewer
        res = datacache.memo(wh, ("funnel", str(ctx.state.settings.home), repr(p), repr(sorted(kw.items()))),
                             lambda: run_funnel(open_backend(ctx.state.settings, warehouse=wh), p, **kw))
    if p.by is not None and not ctx.principal.sees_raw:
        masker = Masker(ctx.state.service.mask_salt)
        res = dataclasses.replace(res, breakdown=[dataclasses.replace(g, value=masker.any(g.value))
                                                  for g in res.breakdown])
    return res


@panel("funnel", "analysis:run")
def funnel(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    by = params.get("by") or None
    p = FunnelParams.create(funnel_steps(params), params.get("window", "24h"), f.date_from, f.date_to, by=by,
                            timezone=ctx.timezone)
    res = _run_funnel(ctx, p)
    names = [s.name for s in res.steps]
    opt = bar_option(names, [(ctx.t("col.users"), [s.users for s in res.steps])])
    opt["series"][0]["label"] = {"show": True, "position": "top", "formatter": "jy:int"}
    opt["series"].append({"type": "line", "name": ctx.t("col.step_conversion"), "yAxisIndex": 1,
                          "data": [round(s.step_conversion * 100, 2) for s in res.steps]})
    opt["yAxis"] = [{"type": "value"}, {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}}]
    opt["legend"] = {"top": 0}
    rows: list[list[Any]] = [[s.name, s.users, s.conversion, s.step_conversion, s.drop_off] for s in res.steps]
    cols = [Column(ctx.t("col.step")), Column(ctx.t("col.users"), "int"), Column(ctx.t("col.conversion"), "pct"),
            Column(ctx.t("col.step_conversion"), "pct"), Column(ctx.t("col.drop_off"), "int")]
    for g in res.breakdown:
        rows += [[f"{g.value} · {s.name}", s.users, s.conversion, s.step_conversion, s.drop_off] for s in g.steps]
    loss = res.bottleneck.largest_loss
    callouts = [Callout("bad", ctx.t("msg.bottleneck", step=f"{names[loss.index - 2]} → {loss.step}",
                                     rate=f"{loss.step_conversion * 100:.1f}%", lost=f"{loss.drop_off:,}"))]
    change = res.bottleneck.largest_change
    if change is not None:
        callouts.append(Callout("warn", ctx.t("msg.largest_change", step=change.step,
                                              change=f"{change.change * 100:+.1f}")))
    extra: dict[str, Any] = {"steps": [s.users for s in res.steps]}
    if params.get("compare"):  # the picker's 环比 / 同比 asked for: the same funnel over the compared days beside it
        _compare_funnel(ctx, f, p, res, opt, cols, rows, callouts, extra)
    if res.breakdown:
        bopt = bar_option([g.value for g in res.breakdown],
                          [(n, [round(g.steps[i].conversion * 100, 2) for g in res.breakdown])
                           for i, n in enumerate(names) if i], percent_axis=True)
        extra["breakdown_chart"] = bopt
    return PanelData(ctx.t("panel.funnel"), Table(cols, rows), opt, callouts, extra=extra)


def compare_label(ctx: ConsoleCtx, f: Filters) -> str:
    """How a compared period is named in legends and columns: 同比 2025-09-01–2025-09-30."""
    c = f.comparison()
    return f"{ctx.t('compare.' + f.compare)} {c.date_from}–{c.date_to}"


def _compare_funnel(ctx: ConsoleCtx, f: Filters, p: FunnelParams, res: Any, opt: dict[str, Any],
                    cols: list[Column], rows: list[list[Any]], callouts: list[Callout], extra: dict[str, Any]) -> None:
    """The library's funnel run again over the compared days (no breakdown): ghost bars of its users and a
    dashed line of its step conversion beside the current, and its numbers as table columns."""
    c = f.comparison()
    then = _run_funnel(ctx, dataclasses.replace(p, date_from=c.date_from, date_to=c.date_to, by=None),
                       compare=False, ttc=False)
    label = compare_label(ctx, f)
    opt["series"].insert(1, {"type": "bar", "name": ctx.t("cmp.series_users", label=label), "barGap": "-60%",
                             "z": 1, "itemStyle": {"color": "#cbd5e1", "opacity": 0.7},
                             "data": [s.users for s in then.steps]})
    opt["series"][0]["z"] = 2
    opt["series"].append({"type": "line", "name": ctx.t("cmp.series_step", label=label), "yAxisIndex": 1,
                          "lineStyle": {"type": "dashed"}, "itemStyle": {"color": "#94a3b8"},
                          "data": [round(s.step_conversion * 100, 2) for s in then.steps]})
    cols += [Column(ctx.t("cmp.col_users", label=label), "int"), Column(ctx.t("cmp.col_step", label=label), "pct"),
             Column(ctx.t("cmp.col_change"), "signed_pct")]
    for i, row in enumerate(rows):
        if i < len(then.steps):
            old = then.steps[i]
            row += [old.users, old.step_conversion, res.steps[i].step_conversion - old.step_conversion]
        else:  # breakdown rows: the comparison is the whole funnel's
            row += [None, None, None]
    now_conv, then_conv = res.steps[-1].conversion, then.steps[-1].conversion
    callouts.append(Callout("info", ctx.t("cmp.funnel_note", label=label, then=f"{then_conv * 100:.1f}%",
                                          now=f"{now_conv * 100:.1f}%")))
    extra["compared"] = {"from": c.date_from.isoformat(), "to": c.date_to.isoformat(),
                         "users": [s.users for s in then.steps]}


@panel("funnel_breakdown", "analysis:run")
def funnel_breakdown(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    by = params.get("by") or "platform"
    p = FunnelParams.create(funnel_steps(params), params.get("window", "24h"), f.date_from, f.date_to, by=by,
                            timezone=ctx.timezone)
    res = _run_funnel(ctx, p, compare=False, ttc=False)
    names = [s.name for s in res.steps]
    opt = bar_option([g.value for g in res.breakdown],
                     [(n, [round(g.steps[i].step_conversion * 100, 2) for g in res.breakdown])
                      for i, n in enumerate(names) if i], percent_axis=True)
    rows = [[g.value, *[s.step_conversion for s in g.steps[1:]], g.steps[-1].conversion] for g in res.breakdown]
    cols = [Column(ctx.t("col.group")), *[Column(f"→ {n}", "pct") for n in names[1:]],
            Column(ctx.t("col.conversion"), "pct")]
    return PanelData(ctx.t("panel.funnel_breakdown", by=by), Table(cols, rows), opt)


@panel("retention", "analysis:run")
def retention(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    days = param_int(params, "days", 7, 1, 30)
    period = params.get("period", "day")
    p = RetentionParams.create(params.get("cohort_event") or "app_start", params.get("return_event") or "app_start",
                               days, period=period, date_from=f.date_from, date_to=f.date_to, timezone=ctx.timezone)
    with ctx.reader() as wh:
        res = run_retention(open_backend(ctx.state.settings, warehouse=wh), p)
    cohorts = res.cohorts[-31:]
    # a cell whose period has not ended by the range's last day has no data yet: left empty, never 0 %
    data = [[k, i, round(c.rate[k] * 100, 1)] for i, c in enumerate(cohorts) for k in range(len(c.rate))
            if observed(c.cohort, k, res.period, f.date_to)]
    rates = [v for *_, v in data]
    opt = base_option()
    opt.update({
        "tooltip": {"position": "top"},
        "grid": {"left": 90, "right": 20, "top": 10, "bottom": 88},
        "xAxis": {"type": "category", "data": [f"+{k}" for k in range(res.periods + 1)], "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": [c.cohort for c in cohorts], "inverse": True},
        # the scale spans the rates present (a fixed 0–100 washes every cell after day 0 out)
        "visualMap": {"min": min(rates, default=0), "max": max(rates, default=100), "calculable": True,
                      "orient": "horizontal", "left": "center", "bottom": 0, "itemHeight": 120,
                      "formatter": "{value}%", "precision": 1, "inRange": {"color": ["#eff6ff", "#2563eb"]}},
        "series": [{"type": "heatmap", "data": data,
                    "label": {"show": True, "formatter": "jy:pct1", "fontSize": 10 if len(cohorts) > 16 else 11}}],
    })
    cols = [Column(ctx.t("col.cohort"), "date"), Column(ctx.t("col.size"), "int"),
            *[Column(f"+{k}", "pct") for k in range(res.periods + 1)]]
    rows = [[c.cohort, c.size, *[r if observed(c.cohort, k, res.period, f.date_to) else None
                                for k, r in enumerate(c.rate)]] for c in res.cohorts]
    extra: dict[str, Any] = {}
    if params.get("compare"):  # the picker's 环比 / 同比 asked for: the overall curve of both periods
        c = f.comparison()
        with ctx.reader() as wh:
            then = run_retention(open_backend(ctx.state.settings, warehouse=wh),
                                 dataclasses.replace(p, date_from=c.date_from, date_to=c.date_to))
        label = compare_label(ctx, f)
        now_curve, then_curve = overall_curve(res, f.date_to), overall_curve(then, c.date_to)
        current = ctx.t("cmp.current", range=f"{f.date_from}–{f.date_to}")
        copt = line_option([f"+{k}" for k in range(res.periods + 1)],
                           [(current, [None if v is None else round(v * 100, 2) for v in now_curve]),
                            (label, [None if v is None else round(v * 100, 2) for v in then_curve])])
        copt["series"][1].update({"lineStyle": {"type": "dashed"}, "itemStyle": {"color": "#94a3b8"}})
        for series in copt["series"]:
            series["showSymbol"] = True
        copt["yAxis"] = {"type": "value", "min": 0, "axisLabel": {"formatter": "{value}%"}}
        copt.pop("dataZoom", None)
        rows += [[current, sum(x.size for x in res.cohorts), *now_curve],
                 [label, sum(x.size for x in then.cohorts), *then_curve]]
        extra.update(second_chart=copt, second_title=ctx.t("cmp.retention_title", label=label),
                     compared={"from": c.date_from.isoformat(), "to": c.date_to.isoformat(), "curve": then_curve,
                               "current": now_curve})
    return PanelData(ctx.t("panel.retention"), Table(cols, rows), opt, chart_height=max(280, 22 * len(cohorts) + 120),
                     extra=extra)


def overall_curve(res: Any, last_day: dt.date) -> list[float | None]:
    """All cohorts together, period by period: retained persons over cohort members, counting only the cohorts
    whose period k had begun by ``last_day`` (a cohort too young for k is left out, never counted as lost)."""
    out: list[float | None] = []
    for k in range(res.periods + 1):
        seen = [c for c in res.cohorts if k < len(c.retained) and observed(c.cohort, k, res.period, last_day)]
        size = sum(c.size for c in seen)
        out.append(sum(c.retained[k] for c in seen) / size if size else None)
    return out


def waterfall_axis(levels: list[float]) -> tuple[float, float]:
    """Axis bounds for a waterfall: a little below the lowest level and above the highest, on round steps."""
    lo, hi = min(levels, default=0.0), max(levels, default=1.0)
    span = (hi - lo) or abs(hi) or 1.0
    step = 10 ** math.floor(math.log10(span / 5)) if span > 0 else 1.0
    lo_axis = math.floor((lo - span * 0.15) / step) * step
    hi_axis = math.ceil((hi + span * 0.1) / step) * step
    return (max(lo_axis, 0.0) if lo >= 0 else lo_axis), hi_axis


def observed(cohort: str, k: int, period: str, last_day: dt.date) -> bool:
    """Whether period ``k`` after a cohort starting on ``cohort`` has begun by ``last_day`` (the data's end)."""
    start = dt.date.fromisoformat(cohort[:10])
    if period == "week":
        return start + dt.timedelta(weeks=k) <= last_day
    if period == "month":
        month = start.month - 1 + k
        return dt.date(start.year + month // 12, month % 12 + 1, 1) <= last_day
    return start + dt.timedelta(days=k) <= last_day


@panel("paths", "analysis:run")
def paths(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    p = PathsParams.create(params.get("from_event") or "view_home", params.get("direction", "next"),
                           param_int(params, "depth", 3, 1, 6), top=param_int(params, "top", 6, 2, 20),
                           date_from=f.date_from, date_to=f.date_to, timezone=ctx.timezone)
    with ctx.reader() as wh:
        res = run_paths(open_backend(ctx.state.settings, warehouse=wh), p)
    opt = base_option()
    opt["tooltip"] = {"trigger": "item"}
    opt["series"] = [{"type": "sankey", "emphasis": {"focus": "adjacency"}, "nodeAlign": "left",
                      "data": [{"name": n.id} for n in res.nodes],
                      "links": [{"source": lk.source, "target": lk.target, "value": lk.sessions} for lk in res.links],
                      "label": {"formatter": "{b}"}, "lineStyle": {"color": "gradient", "curveness": 0.5}}]
    cols = [Column(ctx.t("col.from")), Column(ctx.t("col.to")), Column(ctx.t("col.sessions"), "int")]
    rows = [[lk.source, lk.target, lk.sessions] for lk in res.links]
    callouts = [Callout("info", ctx.t("msg.paths", n=f"{res.sessions:,}", event=res.from_event))]
    return PanelData(ctx.t("panel.paths"), Table(cols, rows), opt, callouts, chart_height=420)


@panel("attribution", "analysis:run")
def attribution(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    model = params.get("model", "last_touch")
    p = AttributionParams.create(model, date_from=f.date_from, date_to=f.date_to, timezone=ctx.timezone)
    with ctx.reader() as wh:
        res = run_attribution(open_backend(ctx.state.settings, warehouse=wh), p)
    chans = sorted(res.channels, key=lambda c: -c.revenue)
    opt = bar_option([c.channel for c in chans], [(ctx.t("col.conversions"), [round(c.conversions, 2) for c in chans]),
                                                  (ctx.t("col.revenue"), [round(c.revenue, 2) for c in chans])])
    # conversions (thousands) and revenue (hundreds of thousands) on their own axes, or one hides the other
    opt["yAxis"] = [{"type": "value", "name": ctx.t("col.conversions"), "axisLabel": {"formatter": "jy:int"}},
                    {"type": "value", "name": ctx.t("col.revenue"), "axisLabel": {"formatter": "jy:money"},
                     "splitLine": {"show": False}}]
    opt["series"][1]["yAxisIndex"] = 1
    opt["legend"] = {"top": 0}
    opt["grid"]["top"] = 48
    cols = [Column(ctx.t("col.channel")), Column(ctx.t("col.conversions"), "num"), Column(ctx.t("col.revenue"), "money"),
            Column(ctx.t("col.share"), "pct")]
    rows = [[c.channel, c.conversions, c.revenue, c.share] for c in chans]
    return PanelData(ctx.t("panel.attribution", model=ctx.t("model." + res.model)), Table(cols, rows), opt,
                     [Callout("info", ctx.t("msg.attribution", conv=f"{res.conversions:,}",
                                            touched=f"{res.touched_conversions:,}"))])


@panel("channels", "analysis:run")
def channels(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    p = ChannelParams.create(f.date_from, f.date_to, timezone=ctx.timezone)
    with ctx.reader() as wh:
        rep = run_channels(open_backend(ctx.state.settings, warehouse=wh), p)
    placed = [c for c in rep.channels if c.cac is not None and c.ltv is not None]
    colors = {"star": "#16a34a", "potential": "#2563eb", "watch": "#f59e0b", "problem": "#dc2626"}
    opt = base_option()
    opt["tooltip"] = {"trigger": "item"}
    opt["xAxis"] = {"type": "value", "name": ctx.t("col.cac"), "scale": True}
    opt["yAxis"] = {"type": "value", "name": ctx.t("col.ltv"), "scale": True}
    opt["series"] = [{
        "type": "scatter", "symbolSize": 18,
        "data": [{"name": c.channel, "value": [round(c.cac or 0, 2), round(c.ltv or 0, 2)],
                  "itemStyle": {"color": colors.get(c.quadrant or "", "#9ca3af")}} for c in placed],
        "label": {"show": True, "formatter": "{b}", "position": "right"},
        "markLine": {"symbol": "none", "lineStyle": {"type": "dashed", "color": "#6b7280"}, "label": {"show": False},
                     "data": [{"xAxis": rep.cost_threshold or 0}, {"yAxis": rep.value_threshold or 0}]},
    }]
    cols = [Column(ctx.t("col.channel")), Column(ctx.t("col.spend"), "money"), Column(ctx.t("col.new_customers"), "num"),
            Column(ctx.t("col.cac"), "money"), Column(ctx.t("col.ltv"), "money"), Column(ctx.t("col.roi"), "num"),
            Column(ctx.t("col.quadrant"))]
    rows = [[c.channel, c.spend, c.new_customers, c.cac, c.ltv, c.roi,
             ctx.t("quadrant." + c.quadrant) if c.quadrant else "—"] for c in rep.channels]
    return PanelData(ctx.t("panel.channels"), Table(cols, rows), opt, chart_height=380)


@panel("diagnosis", "analysis:run")
def diagnosis(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    metric = params.get("metric", "gmv")
    by = params.get("by", "channel,user_type")
    c = f.comparison()  # the date picker's 环比 / 同比
    p = ExplainParams.create(metric, Period(f.date_from, f.date_to), Period(c.date_from, c.date_to), by=by, top=5,
                             timezone=ctx.timezone)
    with ctx.reader() as wh:
        ex = run_explain(open_backend(ctx.state.settings, warehouse=wh), p)
    segs = sorted(ex.segments, key=lambda s: -abs(s.contribution))[:12]
    # waterfall: an invisible base bar under each step, previous → contributions → current
    labels, base, up, down = [ctx.t("label.previous")], [0.0], [ex.previous or 0.0], [0.0]
    level = ex.previous or 0.0
    for s in segs:
        labels.append(s.segment)
        low = min(level, level + s.contribution)
        base.append(round(low, 6))
        up.append(round(s.contribution, 6) if s.contribution >= 0 else 0.0)
        down.append(round(-s.contribution, 6) if s.contribution < 0 else 0.0)
        level += s.contribution
    rest = (ex.current or 0.0) - level
    if abs(rest) > 1e-9:
        labels.append(ctx.t("label.others"))
        base.append(round(min(level, level + rest), 6))
        up.append(round(rest, 6) if rest >= 0 else 0.0)
        down.append(round(-rest, 6) if rest < 0 else 0.0)
    labels.append(ctx.t("label.current"))
    base.append(0.0)
    up.append(ex.current or 0.0)
    down.append(0.0)
    opt = base_option()
    opt["xAxis"] = {"type": "category", "data": labels, "axisLabel": {"rotate": 30, "interval": 0}}
    # a floating baseline: the axis spans the levels the steps pass through (a −14,686 change on ~800k
    # would be slivers on an axis from 0), and its top holds the tallest bar so none overruns it
    lo_axis, hi_axis = waterfall_axis([b + u + dn for b, u, dn in zip(base, up, down, strict=True)] +
                                      [b for b in base[1:-1]])
    opt["yAxis"] = {"type": "value", "min": lo_axis, "max": hi_axis, "axisLabel": {"formatter": "jy:compact"}}
    opt["series"] = [
        {"type": "bar", "stack": "w", "data": base, "itemStyle": {"color": "transparent"}, "tooltip": {"show": False},
         "name": "base"},
        {"type": "bar", "stack": "w", "data": up, "name": ctx.t("label.increase"), "itemStyle": {"color": "#16a34a"}},
        {"type": "bar", "stack": "w", "data": down, "name": ctx.t("label.decrease"), "itemStyle": {"color": "#dc2626"}},
    ]
    for sr in opt["series"][1:]:
        sr["label"] = {"show": True, "position": "top", "formatter": "jy:compact_nonzero"}
    opt["legend"] = {"top": 0, "data": [ctx.t("label.increase"), ctx.t("label.decrease")]}
    cols = [Column(ctx.t("col.segment")), Column(ctx.t("label.previous"), "num"), Column(ctx.t("label.current"), "num"),
            Column(ctx.t("col.contribution"), "num"), Column(ctx.t("col.share_of_change"), "pct")]
    rows = [[s.segment, s.previous, s.current, s.contribution, s.share_of_change] for s in ex.segments]
    callouts = [Callout("info", ctx.t("msg.diagnosis", prev=ex.previous_period, cur=ex.current_period,
                                      change=f"{ex.change:,.2f}", pct=f"{(ex.change_pct or 0) * 100:+.1f}%"))]
    if ex.drivers:
        callouts.append(Callout("bad" if ex.change < 0 else "good",
                                ctx.t("msg.drivers", segs=", ".join(s.segment for s in ex.drivers[:3]))))
    return PanelData(ctx.t("panel.diagnosis", metric=ctx.t("metric." + ex.metric)), Table(cols, rows), opt, callouts,
                     chart_height=400)
