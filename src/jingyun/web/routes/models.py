"""Models (模型): the registry of trained models, the CLV fit report (BG/NBD + Gamma-Gamma with its
holdout check) and the churn model's time-split validation against the rule baseline — each one
library call from :mod:`jingyun.models`, drawn as panels (table view, downloads) like every chart."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from jingyun.errors import JingyunError
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.panels import Callout, Column, PanelData, Table, bar_option, base_option, line_option, panel

router = APIRouter(route_class=ConsoleRoute)
Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]
KINDS = ("", "churn", "clv", "forecast", "recommend")


@router.get("/models", response_class=HTMLResponse)
def models_page(ctx: Analyst, kind: str = "") -> HTMLResponse:
    if kind not in KINDS:
        raise JingyunError("bad_kind", f"kind must be one of {', '.join(k for k in KINDS if k)}", "kind")
    return ctx.render("models.html", kind=kind, kinds=KINDS)


@panel("model_registry", "analysis:run", pinnable=False)
def model_registry(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Trained models, newest first: kind, the data they learned from, their headline metrics."""
    from jingyun.models.registry import StoreRegistry

    kind = params.get("kind") or None
    entries = sorted(StoreRegistry(ctx.state.store).list(kind), key=lambda e: e.created_at, reverse=True)

    def headline(metrics: dict[str, Any]) -> str:
        flat = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(flat.items())[:4])

    rows = [[e.model_id, ctx.t("models.kind." + e.kind), e.created_at, e.data_start, e.data_end,
             headline(e.metrics), json.dumps(e.params, ensure_ascii=False, default=str)[:200]] for e in entries]
    table = Table([Column(ctx.t("models.id")), Column(ctx.t("models.kind")), Column(ctx.t("models.created")),
                   Column(ctx.t("models.data_start"), "date"), Column(ctx.t("models.data_end"), "date"),
                   Column(ctx.t("models.metrics")), Column(ctx.t("models.params"))], rows)
    callouts = [] if rows else [Callout("info", ctx.t("models.none"))]
    return PanelData(ctx.t("models.registry"), table, None, callouts)


def _data_end(ctx: ConsoleCtx) -> dt.date:
    from jingyun.models.churn_features import data_end

    with ctx.reader() as wh:
        return data_end(wh)


def _day(params: Mapping[str, str], key: str) -> dt.date | None:
    text = params.get(key, "")
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise JingyunError("bad_date", f"{text!r} is not a date (YYYY-MM-DD)", key) from None


@panel("clv_report", "analysis:run")
def clv_report(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """BG/NBD + Gamma-Gamma fitted up to ``calibration_end`` (default: 90 days before the data ends), and
    how the purchases it predicted for the holdout compare with what people bought, by past frequency."""
    from jingyun.models.clv import ClvParams, fit_clv

    end = _data_end(ctx) - dt.timedelta(days=1)
    cal = _day(params, "calibration_end") or end - dt.timedelta(days=90)
    hold = _day(params, "holdout_end") or end
    with ctx.reader() as wh:
        res = fit_clv(wh, ClvParams(calibration_end=cal, holdout_end=hold))
    buckets = res.holdout
    opt = bar_option([b.frequency for b in buckets], [(ctx.t("models.actual"), [round(b.actual, 4) for b in buckets]),
                                                      (ctx.t("models.predicted"), [round(b.predicted, 4) for b in buckets])])
    opt["legend"] = {"top": 0}
    opt["xAxis"]["name"] = ctx.t("models.frequency")
    rows = [[b.frequency, b.customers, b.actual, b.predicted] for b in buckets]
    table = Table([Column(ctx.t("models.frequency")), Column(ctx.t("col.users"), "int"),
                   Column(ctx.t("models.actual"), "num"), Column(ctx.t("models.predicted"), "num")], rows)
    b, g = res.bgnbd.params, res.gamma_gamma.params
    callouts = [Callout("info", ctx.t("models.clv_fit", customers=f"{res.customers:,}",
                                      repeat=f"{res.repeat_customers:,}", cal=cal.isoformat(), hold=hold.isoformat(),
                                      r=f"{b.r:.3g}", alpha=f"{b.alpha:.3g}", a=f"{b.a:.3g}", b=f"{b.b:.3g}",
                                      p=f"{g.p:.3g}", q=f"{g.q:.3g}", gamma=f"{g.gamma:.3g}"))]
    return PanelData(ctx.t("models.clv"), table, opt if buckets else None, callouts)


@panel("churn_report", "analysis:run")
def churn_report(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """The churn model validated on a later cut-off than it trained on, beside the rule baseline, with its
    calibration (predicted vs observed churn per risk band)."""
    from jingyun.models.churn import ChurnParams, evaluate

    try:
        horizon = int(params.get("horizon_days", "60"))
    except ValueError:
        raise JingyunError("bad_param", "horizon_days is a number of days", "horizon_days") from None
    with ctx.reader() as wh:
        _, ev = evaluate(wh, ChurnParams(horizon_days=horizon, train_cutoffs=int(params.get("train_cutoffs", "3"))))
    m, r = ev.model, ev.rule
    rows: list[list[Any]] = [[ctx.t("models.model"), m.roc_auc, m.pr_auc, m.lift_top_decile, m.flagged,
                              m.precision_at_flagged, m.recall_at_flagged],
                             [ctx.t("models.rule"), r.roc_auc, r.pr_auc, r.lift_top_decile, r.flagged,
                              r.precision_at_flagged, r.recall_at_flagged]]
    table = Table([Column(""), Column("ROC AUC", "num"), Column("PR AUC", "num"), Column(ctx.t("models.lift"), "num"),
                   Column(ctx.t("models.flagged"), "int"), Column(ctx.t("models.precision"), "pct"),
                   Column(ctx.t("models.recall"), "pct")], rows)
    bins = [b for b in ev.calibration if b.count]
    x = [f"{b.lower:.1f}-{b.upper:.1f}" for b in bins]
    opt = line_option(x, [(ctx.t("models.predicted"), [round(b.mean_predicted * 100, 2) for b in bins]),
                          (ctx.t("models.observed"), [round(b.observed_rate * 100, 2) for b in bins])])
    opt["legend"] = {"top": 0}
    if not bins:
        opt = base_option()
    callouts = [Callout("good" if ev.auc_gain_over_rule > 0 else "warn",
                        ctx.t("models.churn_eval", cutoff=ev.test_cutoff.isoformat(), horizon=ev.horizon_days,
                              rows=f"{ev.test_rows:,}", rate=f"{ev.test_churn_rate * 100:.1f}%",
                              gain=f"{ev.auc_gain_over_rule:+.3f}"))]
    return PanelData(ctx.t("models.churn"), table, opt if bins else None, callouts)
