"""The cockpit (经营驾驶舱): KPI cards, trend with anomaly markers, scorecard, alerts, drill-down.

Each card is its own panel request, so cards fill in as they are computed and
the slowest KPI never holds the page. Targets are set per calendar period (a
month in the shipped file): for a custom range, a whole-period target of an
additive metric (amounts, counts) is prorated by days; averages and ratios are not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from jingyun.analysis.anomaly import AnomalyDay, detect
from jingyun.errors import JingyunError
from jingyun.metrics import kpi
from jingyun.metrics.kpi import PERSPECTIVE_NAMES, Scorecard, Target, scorecard
from jingyun.metrics.model import Dictionary
from jingyun.metrics.periods import Period, period_of
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import open_backend
from jingyun.web import datacache, enums, i18n
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.filters import DIMENSIONS, Filters, dimension_values, parse_filters
from jingyun.web.metrics_view import Series, dictionary, series, targets
from jingyun.web.panels import Callout, Column, Measure, PanelData, Table, bar_option, line_option, panel

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("authenticated"))]
TREND_METRICS = ("gmv", "orders", "visitors", "conversion_rate", "aov", "new_users", "dau", "refund_rate")
_ADDITIVE = ("count", "sum")


def metric_name(ctx: ConsoleCtx, metric: str) -> str:
    m = dictionary(ctx.state.settings).metric(metric)
    return m.zh if ctx.locale == "zh-CN" else m.en


def target_name(ctx: ConsoleCtx, t: Target) -> str:
    return t.name_zh if ctx.locale == "zh-CN" else t.name_en


@router.get("/", response_class=HTMLResponse)
def cockpit(ctx: Viewer) -> HTMLResponse:
    params = dict(ctx.request.query_params)
    f = parse_filters(ctx, params)
    ts = targets(ctx.state.settings)
    metric = params.get("metric") if params.get("metric") in TREND_METRICS else "gmv"
    return ctx.render("cockpit.html", f=f, targets=ts.targets, dims=DIMENSIONS, metric=metric,
                      trend_metrics=[(m, metric_name(ctx, m)) for m in TREND_METRICS],
                      dim_values=dimension_values(ctx, f.dim) if f.dim else [])


@panel("kpi", "authenticated")
def kpi_card(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    ts = targets(ctx.state.settings)
    by_id = {t.id: t for t in ts.targets}
    t = by_id.get(params.get("id", ""))
    if t is None:
        raise JingyunError("not_found", f"no KPI target {params.get('id')!r}", "id")
    d = dictionary(ctx.state.settings)
    with ctx.reader() as wh:
        # The card's numbers are the dictionary's metric (metrics.kpi.kpi_card), never the page's own.
        c = f.comparison()  # 环比 or 同比, by the date picker's toggle
        key = ("kpi", str(ctx.state.settings.home), repr((t, f.date_from, f.date_to, ctx.timezone, f.dim, f.value,
                                                          c.date_from, c.date_to)))
        k = datacache.memo(wh, key, lambda: kpi.kpi_card(
            open_backend(ctx.state.settings, warehouse=wh), d, ts, t, f.date_from, f.date_to, timezone=ctx.timezone,
            by=f.dim, value=f.value, compare=(c.date_from, c.date_to)))
    unit, actual, before, goal, att, change = k.unit, k.actual, k.previous, k.goal, k.attainment, k.change
    status: str = k.status
    # Targets are set for the whole company: a slice (one channel) is never judged against them. The card
    # shows the slice's number and its change, with no colour and a note, until a target exists for it.
    sliced = f.value is not None
    if sliced:
        att, status = None, "no_target"
    spark = [(day.isoformat(), v) for day, v in zip(k.days, k.values, strict=True)]
    chart = None
    if spark:
        chart = {"animation": False, "grid": {"left": 0, "right": 0, "top": 2, "bottom": 2},
                 "xAxis": {"type": "category", "show": False, "data": [s[0] for s in spark]},
                 "yAxis": {"type": "value", "show": False, "scale": True},
                 "tooltip": {"trigger": "axis"},
                 "series": [{"type": "line", "data": [s[1] for s in spark], "showSymbol": False, "smooth": True,
                             "areaStyle": {"opacity": 0.15}, "lineStyle": {"width": 1.5}}]}
    table = Table([Column(ctx.t("col.date"), "date"), Column(ctx.t("col.value"), "unit")],
                  [[day, Measure(v, unit)] for day, v in spark])
    card = {"id": t.id, "metric": t.metric, "name": target_name(ctx, t), "unit": unit, "actual": actual,
            "actual_text": i18n.by_unit(actual, unit, ctx.locale), "target": goal,
            "target_text": "—" if sliced else i18n.by_unit(goal, unit, ctx.locale), "op": "" if sliced else t.op,
            "attainment": att,
            "attainment_text": i18n.percent(att), "status": status, "change": change,
            "change_text": i18n.signed_percent(change), "previous": before,
            # the change's colour says good or bad news, from the dictionary's direction (a falling refund
            # rate is good), not whether the number went up
            "change_good": i18n.good_change(change, k.direction),
            "slice_note": ctx.t("msg.slice_no_target", dim=ctx.t("dim." + (f.dim or "")), val=enums.label(f.dim or "", f.value, ctx.locale) if f.value else "")
            if sliced else "",
            "direction": k.direction, "applicable": k.applicable,
            "perspective": PERSPECTIVE_NAMES.get(t.perspective, t.perspective), "owner": t.owner}
    return PanelData(target_name(ctx, t), table, chart, chart_height=48, extra={"card": card, "f": f},
                     template="parts/kpi_card.html")


def _daily(ctx: ConsoleCtx, wh: Warehouse, d: Dictionary, metric: str, f: Filters) -> Series:
    """The trend's metric per day, kept per data version like the KPI cards (web.datacache; warmed by web.warm)."""
    key = ("trend", str(ctx.state.settings.home), repr((metric, f.date_from, f.date_to, f.dim, f.value, ctx.timezone)))
    return datacache.memo(wh, key, lambda: series(open_backend(ctx.state.settings, warehouse=wh), d, metric, f,
                                                  ctx.timezone)[1])


@panel("trend", "authenticated")
def trend(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    f = parse_filters(ctx, params)
    metric = params.get("metric", "gmv")
    if metric not in TREND_METRICS:
        raise JingyunError("bad_metric", f"metric must be one of {', '.join(TREND_METRICS)}", "metric")
    d = dictionary(ctx.state.settings)
    with ctx.reader() as wh:
        s = _daily(ctx, wh, d, metric, f)
    name = metric_name(ctx, metric)
    if not s.days:
        return PanelData(name, Table([], []), None, [Callout("info", ctx.t("msg.no_data"))])
    values = np.array([np.nan if v is None else float(v) for v in s.values])
    days = detect(s.days, values) if len(s.days) >= 14 else []
    x = [day.isoformat() for day in s.days]
    opt = line_option(x, [(name, [None if v is None else round(v, 6) for v in s.values])])
    if days:
        opt["series"].append({"type": "line", "name": ctx.t("label.expected"), "data": [a.expected for a in days],
                              "showSymbol": False, "lineStyle": {"type": "dashed", "width": 1}})
        opt["series"][0]["markPoint"] = {"symbol": "pin", "symbolSize": 36, "data": [
            {"coord": [a.date, a.value], "value": "!", "itemStyle": {"color": "#dc2626"}} for a in days if a.anomaly]}
        opt["legend"] = {"top": 0}
    compared: list[Any] = []
    if params.get("compare"):  # the picker's 环比 / 同比 asked for: the other period drawn day by day beneath
        c = f.comparison()
        with ctx.reader() as wh:
            cs = _daily(ctx, wh, d, metric, c)
        by_day = dict(zip(cs.days, cs.values, strict=True))
        compared = [by_day.get(c.date_from + dt.timedelta(days=i)) for i in range(len(x))]
        compared = [None if v is None else round(float(v), 6) for v in compared]
        opt["series"].append({"type": "line", "name": f"{ctx.t('compare.' + f.compare)} {c.date_from}–{c.date_to}",
                              "data": compared, "showSymbol": False, "lineStyle": {"type": "dotted", "width": 1},
                              "itemStyle": {"color": "#94a3b8"}})
        opt["legend"] = {"top": 0}
    unit = d.metric(metric).unit
    rows = [[a.date, Measure(a.value, unit), Measure(a.expected, unit), a.z, ctx.t("label.yes") if a.anomaly else ""]
            for a in days] if days else [[day, Measure(v, unit), None, None, ""] for day, v in zip(x, s.values, strict=True)]
    table = Table([Column(ctx.t("col.date"), "date"), Column(ctx.t("col.value"), "unit"),
                   Column(ctx.t("col.expected"), "unit"), Column(ctx.t("col.z"), "num"),
                   Column(ctx.t("col.anomaly"))], rows)
    flagged = [a for a in days if a.anomaly]
    callouts = [Callout("warn", ctx.t("msg.anomalies", n=len(flagged), days=", ".join(a.date for a in flagged[:5])))] \
        if flagged else []
    return PanelData(ctx.t("panel.trend", metric=name), table, opt, callouts,
                     extra={"anomalies": len(flagged), "compared": compared})


@panel("breakdown", "authenticated")
def breakdown(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Drill-down from a card: the metric over the range by a dimension."""
    f = parse_filters(ctx, params)
    metric = params.get("metric", "gmv")
    by = params.get("by") or f.dim or "users.channel"
    if by not in DIMENSIONS:
        raise JingyunError("bad_dimension", f"by must be one of {', '.join(DIMENSIONS)}", "by")
    d = dictionary(ctx.state.settings)
    d.metric(metric)
    with ctx.reader() as wh:
        from jingyun.metrics.compute import ComputeParams, compute

        try:
            res = compute(open_backend(ctx.state.settings, warehouse=wh), d, ComputeParams(metric, f.date_from, f.date_to, "total", by, ctx.timezone))
        except JingyunError as exc:
            if exc.code != "bad_dimension":
                raise
            return PanelData(metric_name(ctx, metric), Table([], []), None, [Callout("info", ctx.t("msg.not_applicable"))])
    pts = sorted(res.points, key=lambda p: -(p.value or 0))
    cats = [enums.label(by, p.by_value, ctx.locale) if p.by_value else "(none)" for p in pts]
    vals = [None if p.value is None else round(p.value, 6) for p in pts]
    opt = bar_option(cats, [(metric_name(ctx, metric), vals)], horizontal=True)
    opt["yAxis"]["inverse"] = True
    unit = d.metric(metric).unit
    table = Table([Column(ctx.t("dim." + by)), Column(metric_name(ctx, metric), "unit")],
                  [[c, Measure(v, unit)] for c, v in zip(cats, vals, strict=True)])
    return PanelData(ctx.t("panel.breakdown", metric=metric_name(ctx, metric), dim=ctx.t("dim." + by)), table, opt,
                     chart_height=max(220, 28 * len(cats) + 60))


_SCORECARDS: dict[tuple[str, str, str], Scorecard] = {}


def cached_scorecard(wh: Warehouse, ctx: ConsoleCtx, period: Period) -> Scorecard:
    """The scorecard for a period, recomputed only when data was ingested since (the ingest log's
    last finish time is the data version): even batched into one query (~150 ms) it is too slow to
    repeat on every page view."""
    stamp = str(wh.scalar("SELECT max(finished_at) FROM _ingest_log"))
    key = (str(ctx.state.settings.home), period.label, stamp)
    if key not in _SCORECARDS:
        if len(_SCORECARDS) > 64:
            _SCORECARDS.clear()
        _SCORECARDS[key] = scorecard(open_backend(ctx.state.settings, warehouse=wh), dictionary(ctx.state.settings), targets(ctx.state.settings),
                                     period, ctx.timezone)
    return _SCORECARDS[key]


@panel("scorecard", "authenticated")
def scorecard_panel(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """The balanced scorecard for the calendar month the range ends in (targets are monthly).

    With a dimension filter it is the slice's scorecard: each target's metric for that one value
    (``kpi.kpi_card`` with ``by``/``value``, the numbers the cards show), and no attainment or status,
    since the targets are the company's."""
    f = parse_filters(ctx, params)
    period = period_of("month", f.date_to)
    if f.value is not None:
        return _slice_scorecard(ctx, f, period)
    with ctx.reader() as wh:
        card = cached_scorecard(wh, ctx, period)
    rows: list[list[Any]] = []
    names, atts, colors = [], [], []
    color = {"green": "#16a34a", "yellow": "#f59e0b", "red": "#dc2626", "no_data": "#9ca3af"}
    for group in card.perspectives:
        for r in group.targets:
            t = r.target
            rows.append([ctx.t("perspective." + group.perspective), target_name(ctx, t),
                         Measure(t.value, r.unit), Measure(r.actual, r.unit), r.attainment,
                         ctx.t("status." + r.status), t.weight, r.previous.change_pct])
            names.append(target_name(ctx, t))
            atts.append(None if r.attainment is None else round(r.attainment * 100, 2))
            colors.append(color[r.status])
    opt = bar_option(names, [(ctx.t("col.attainment"), [{"value": a, "itemStyle": {"color": c}}
                                                         for a, c in zip(atts, colors, strict=True)])],
                     horizontal=True, percent_axis=True)
    opt["yAxis"]["inverse"] = True
    opt["series"][0]["markLine"] = {"symbol": "none", "data": [{"xAxis": 100}], "lineStyle": {"color": "#16a34a"},
                                    "label": {"show": False}}
    table = Table(_score_columns(ctx), rows)
    level: dict[str, Literal["good", "warn", "bad", "info"]] = {"green": "good", "yellow": "warn", "red": "bad"}
    callouts = [Callout(level.get(card.status, "info"),
                        ctx.t("msg.score", period=card.period.label, score=i18n.percent(card.score),
                              status=ctx.t("status." + card.status)))]
    return PanelData(ctx.t("panel.scorecard", period=card.period.label), table, opt, callouts,
                     chart_height=max(240, 30 * len(names) + 60), extra={"score": card.score, "status": card.status})


def _score_columns(ctx: ConsoleCtx) -> list[Column]:
    return [Column(ctx.t("col.perspective")), Column(ctx.t("col.kpi")), Column(ctx.t("col.target"), "unit"),
            Column(ctx.t("col.actual"), "unit"), Column(ctx.t("col.attainment"), "pct"),
            Column(ctx.t("col.status")), Column(ctx.t("col.weight"), "pct"),
            Column(ctx.t("col.vs_prev"), "signed_pct")]


def _slice_scorecard(ctx: ConsoleCtx, f: Filters, period: Period) -> PanelData:
    """The month's targets measured on one slice (``dim`` = ``val``): values and changes, no judgement."""
    ts = targets(ctx.state.settings)
    d = dictionary(ctx.state.settings)
    rows: list[list[Any]] = []
    with ctx.reader() as wh:
        backend = open_backend(ctx.state.settings, warehouse=wh)
        for t in ts.for_period(period):
            k = kpi.kpi_card(backend, d, ts, t, period.start, min(period.end, f.date_to), timezone=ctx.timezone,
                             by=f.dim, value=f.value)
            rows.append([ctx.t("perspective." + t.perspective), target_name(ctx, t), Measure(k.goal, k.unit),
                         Measure(k.actual, k.unit), None,
                         ctx.t("status.no_target" if k.applicable else "msg.not_applicable"), t.weight, k.change])
    note = ctx.t("msg.slice_no_target", dim=ctx.t("dim." + (f.dim or "")), val=enums.label(f.dim or "", f.value, ctx.locale) if f.value else "")
    return PanelData(ctx.t("panel.scorecard", period=period.label) + f" · {enums.label(f.dim or '', f.value, ctx.locale)}", Table(_score_columns(ctx), rows),
                     None, [Callout("info", note)], template="parts/table_only.html",
                     extra={"score": None, "status": "no_target"})


_ANOMALIES: dict[tuple[str, str, str], list[tuple[str, AnomalyDay]]] = {}


@panel("alerts", "authenticated", pinnable=False)
def alerts(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Open alerts: out-of-line days of the headline metrics in the range, and (admins) access alerts."""
    f = parse_filters(ctx, params)
    d = dictionary(ctx.state.settings)
    rows: list[list[Any]] = []
    with ctx.reader() as wh:
        # three series and three robust fits: kept per data version like the scorecard
        key = (str(ctx.state.settings.home), f.query(), str(wh.scalar("SELECT max(finished_at) FROM _ingest_log")))
        if key not in _ANOMALIES:
            found = []
            backend = open_backend(ctx.state.settings, warehouse=wh)
            for metric in ("gmv", "orders", "conversion_rate"):
                _, s = series(backend, d, metric, f, ctx.timezone)
                if len(s.days) >= 14:
                    found += [(metric, a) for a in detect(s.days, np.array([np.nan if v is None else float(v)
                                                                            for v in s.values])) if a.anomaly]
            if len(_ANOMALIES) > 256:
                _ANOMALIES.clear()
            _ANOMALIES[key] = found
    for metric, a in _ANOMALIES[key]:
        unit = d.metric(metric).unit
        rows.append([a.date, metric_name(ctx, metric), ctx.t("dir." + (a.direction or "high")), Measure(a.value, unit),
                     Measure(a.expected, unit)])
    if ctx.may("audit:read"):
        from sqlalchemy import select

        from jingyun.store.models import Alert

        with ctx.state.store.session() as ses:
            for al in ses.scalars(select(Alert).where(Alert.acknowledged.is_(False)).order_by(Alert.ts.desc()).limit(10)):
                rows.append([al.ts.date().isoformat(), ctx.t("alert." + al.kind), al.actor, None, None])
    rows.sort(key=lambda r: str(r[0]), reverse=True)
    table = Table([Column(ctx.t("col.date"), "date"), Column(ctx.t("col.alert")), Column(ctx.t("col.direction")),
                   Column(ctx.t("col.value"), "unit"), Column(ctx.t("col.expected"), "unit")], rows)
    return PanelData(ctx.t("panel.alerts"), table, None, [] if rows else [Callout("good", ctx.t("msg.no_alerts"))],
                     template="parts/table_only.html")

