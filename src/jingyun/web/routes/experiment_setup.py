"""Experiment setup (新建实验): define an A/B(/n) test with the library's parameters — key, name,
hypothesis, variations and weights (control first), traffic share, conversion event, window, primary
metric — validated by :meth:`jingyun.experiments.definition.Experiment.validate` and saved by
``experiments.registry.create_experiment`` (the rows ``jingyun exp create`` writes and
``/api/v1/experiments`` lists). Its analysis is the experiments page (``/console/experiments?key=``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun.errors import JingyunError
from jingyun.experiments.registry import create_experiment
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
Analyst = Annotated[ConsoleCtx, Depends(page_ctx("analysis:run"))]
METRICS = ("conversion", "revenue", "orders", "aov")


def _form(ctx: ConsoleCtx, status_code: int = 200, error: JingyunError | None = None,
          values: dict[str, str] | None = None) -> HTMLResponse:
    with ctx.reader() as wh:
        events = [str(r[0]) for r in wh.rows("SELECT event FROM events GROUP BY event ORDER BY count(*) DESC LIMIT 60")]
    v = {"variations": "control=0.5\ntreatment=0.5", "traffic": "1", "window_days": "7", "conversion_event": "pay",
         "primary_metric": "conversion", "status": "running", **(values or {})}
    return ctx.render("experiment_setup.html", status_code=status_code, error=error, v=v, events=events,
                      metrics=METRICS)


@router.get("/experiments/new", response_class=HTMLResponse)
def new_experiment(ctx: Analyst) -> HTMLResponse:
    return _form(ctx)


def parse_variations(text: str) -> list[tuple[str, float]]:
    """``name=weight`` per line or comma (control first), as ``jingyun exp create -v``."""
    out: list[tuple[str, float]] = []
    for part in [p.strip() for chunk in text.splitlines() for p in chunk.split(",") if p.strip()]:
        name, eq, weight = part.partition("=")
        try:
            out.append((name.strip(), float(weight) if eq else 1.0))
        except ValueError:
            raise JingyunError("bad_weights", f"{part!r}: write name=weight, e.g. treatment=0.5", "variations",
                               status=422) from None
    return out


@router.post("/experiments/new", response_model=None)
def create(ctx: Analyst, key: Annotated[str, Form(max_length=100)], variations: Annotated[str, Form(max_length=2000)],
           name: Annotated[str, Form(max_length=200)] = "", hypothesis: Annotated[str, Form(max_length=2000)] = "",
           traffic: Annotated[str, Form(max_length=20)] = "1", window_days: Annotated[str, Form(max_length=10)] = "7",
           conversion_event: Annotated[str, Form(max_length=100)] = "pay",
           primary_metric: Annotated[str, Form(max_length=50)] = "conversion",
           status: Annotated[str, Form(max_length=20)] = "running") -> Response:
    values = {"key": key, "variations": variations, "name": name, "hypothesis": hypothesis, "traffic": traffic,
              "window_days": window_days, "conversion_event": conversion_event, "primary_metric": primary_metric,
              "status": status}
    try:
        try:
            share = float(traffic)
        except ValueError:
            raise JingyunError("bad_traffic", "traffic is a share between 0 and 1, e.g. 0.5", "traffic",
                               status=422) from None
        try:
            days = int(window_days)
        except ValueError:
            raise JingyunError("bad_window", "window_days is a whole number of days", "window_days",
                               status=422) from None
        if primary_metric not in METRICS:
            raise JingyunError("bad_metric", f"primary metric must be one of {', '.join(METRICS)}", "primary_metric",
                               status=422)
        if status not in ("draft", "running"):
            raise JingyunError("bad_status", "a new experiment starts as draft or running", "status", status=422)
        exp = create_experiment(ctx.state.settings, key.strip(), variations=parse_variations(variations),
                                name=name.strip(), hypothesis=hypothesis.strip(), traffic=share, window_days=days,
                                conversion_event=conversion_event.strip() or "pay", primary_metric=primary_metric,
                                status=status)
    except JingyunError as exc:
        code = exc.status if 400 <= exc.status < 500 else 422
        return _form(ctx, status_code=422 if code == 400 else code, error=exc, values=values)
    return RedirectResponse("/console/experiments?" + urlencode({"key": exp.key}), status_code=303)
