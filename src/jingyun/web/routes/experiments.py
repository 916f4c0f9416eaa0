"""Experiments (实验): results table, uplift intervals, cumulative effect, SRM warning.

The list is the registry's experiments plus any experiment that has exposures
in the warehouse but no definition yet (shown with the default definition:
two equal arms, conversion to ``pay`` within 7 days) — the demo business's
``checkout_copy_v2`` is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from jingyun.errors import JingyunError
from jingyun.experiments.analyze import analyze_experiment
from jingyun.experiments.definition import Experiment
from jingyun.experiments.registry import get_experiment, list_experiments
from jingyun.web import enums
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.panels import Callout, Column, PanelData, Table, base_option, line_option, panel

router = APIRouter()
Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]


def experiment_keys(ctx: ConsoleCtx) -> list[str]:
    keys = [e.key for e in list_experiments(ctx.state.settings)]
    with ctx.reader() as wh:
        found = wh.rows("SELECT DISTINCT json_extract_string(properties, '$.experiment') FROM events "
                        "WHERE event = 'exp_exposure' ORDER BY 1")
    return sorted({*keys, *(str(r[0]) for r in found if r[0])})


def _experiment(ctx: ConsoleCtx, key: str) -> Experiment:
    try:
        return get_experiment(ctx.state.settings, key)
    except JingyunError:
        if key not in experiment_keys(ctx):
            raise JingyunError("not_found", f"no experiment {key!r}", "key", status=404) from None
        return Experiment(key).validate()


@router.get("/experiments", response_class=HTMLResponse)
def experiments(ctx: Analyst, key: str = "") -> HTMLResponse:
    keys = experiment_keys(ctx)
    return ctx.render("experiments.html", keys=keys, key=key if key in keys else (keys[0] if keys else ""))


@panel("experiment", "analysis:run")
def experiment(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    exp = _experiment(ctx, params.get("key", ""))
    with ctx.reader() as wh:
        res = analyze_experiment(wh, exp)
    rows: list[list[Any]] = []
    cats, mids, bars = [], [], []
    # metric labels and the verdict name the conversion event by its key ("转化率(pay)"): show its display name
    event, event_shown = f"({exp.conversion_event})", \
        f"({enums.label('event', exp.conversion_event, ctx.locale, ctx.state.settings)})"
    for m in res.metrics:
        label = (m.label_zh if ctx.locale == "zh-CN" else m.label_en).replace(event, event_shown)
        for v in m.variations:
            variation = enums.label("variation", v.variation, ctx.locale)
            rows.append([label, ctx.t("role." + m.role), variation, v.n_control, v.n_treatment, v.control_mean,
                         v.treatment_mean, v.uplift_rel, v.ci_rel[0], v.ci_rel[1],
                         v.p_value_adjusted if v.p_value_adjusted is not None else v.p_value, v.chance_to_win])
            cats.append(f"{label} · {variation}")
            mids.append(round(v.uplift_rel * 100, 3))
            bars.append([round(v.ci_rel[0] * 100, 3), round(v.ci_rel[1] * 100, 3)])
    opt = base_option()
    opt["tooltip"] = {"trigger": "axis"}
    opt["yAxis"] = {"type": "category", "data": cats, "inverse": True}
    opt["xAxis"] = {"type": "value", "axisLabel": {"formatter": "{value}%"}}
    # the interval as a floating bar (transparent base + width), the point estimate as a dot
    opt["series"] = [
        # stackStrategy "all": stack the width on the low end even when it is negative (ECharts >= 5.5)
        {"type": "bar", "stack": "ci", "stackStrategy": "all", "data": [b[0] for b in bars],
         "itemStyle": {"color": "transparent"},
         "name": "lo", "tooltip": {"show": False}},
        {"type": "bar", "stack": "ci", "stackStrategy": "all", "data": [round(b[1] - b[0], 3) for b in bars],
         "name": ctx.t("col.ci"),
         "itemStyle": {"color": "rgba(37,99,235,0.35)"}, "barWidth": 14},
        {"type": "scatter", "data": mids, "name": ctx.t("col.uplift"), "symbolSize": 12, "itemStyle": {"color": "#1e3a8a"}},
    ]
    opt["series"][1]["markLine"] = {"symbol": "none", "data": [{"xAxis": 0}], "lineStyle": {"color": "#6b7280"}}
    cols = [Column(ctx.t("col.metric")), Column(ctx.t("col.role")), Column(ctx.t("col.variation")),
            Column(ctx.t("col.n_control"), "int"), Column(ctx.t("col.n_treatment"), "int"),
            Column(ctx.t("col.control_mean"), "num"), Column(ctx.t("col.treatment_mean"), "num"),
            Column(ctx.t("col.uplift"), "signed_pct"), Column(ctx.t("col.ci_low"), "signed_pct"),
            Column(ctx.t("col.ci_high"), "signed_pct"), Column(ctx.t("col.p_value"), "num"),
            Column(ctx.t("col.chance_to_win"), "pct")]
    callouts: list[Callout] = []
    if res.srm.alarm:
        callouts.append(Callout("bad", ctx.t("msg.srm", p=f"{res.srm.p_value:.2g}",
                                             counts=", ".join(f"{enums.label('variation', k, ctx.locale)} {v:,}"
                                                                    for k, v in res.counts.items()))))
    verdict = (res.verdict.zh if ctx.locale == "zh-CN" else res.verdict.en).replace(event, event_shown)
    for key in res.counts:  # the library's sentence names arms by key ("treatment:…"): say them in the reader's language
        verdict = re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", enums.label("variation", key, ctx.locale), verdict)
    callouts.append(Callout("good" if res.verdict.recommendation == "ship" else "info", verdict))
    cum = [p for p in res.over_time]
    cum_opt = line_option([p.day for p in cum], [
        (ctx.t("col.uplift"), [round(p.uplift_rel * 100, 3) for p in cum]),
        (ctx.t("col.ci_low"), [round(p.ci_rel[0] * 100, 3) for p in cum]),
        (ctx.t("col.ci_high"), [round(p.ci_rel[1] * 100, 3) for p in cum])])
    cum_opt["yAxis"]["axisLabel"] = {"formatter": "{value}%"}
    for s in cum_opt["series"][1:]:
        s["lineStyle"] = {"type": "dashed", "width": 1}
    return PanelData(ctx.t("panel.experiment", key=exp.key), Table(cols, rows), opt, callouts,
                     chart_height=max(200, 40 * len(cats) + 80),
                     extra={"cumulative": cum_opt, "srm": res.srm.alarm, "counts": res.counts})
