"""Experiments over HTTP (实验): assignment with exposure logging, the calculator, analysis, power, decisions.

``GET /assign`` is the SDK endpoint: the variation comes from
:func:`jingyun.experiments.assign` (deterministic hashing, no state), and an
assigned user's ``exp_exposure`` event goes through the service's one
ingestion writer (group commit, identity resolution, dedup) — the answer
comes after that commit, so every variation served is in the analysis.
Ingestion gateways (ingest-scoped API keys) may call it as well as people.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, jsonable, permit, reading
from jingyun.api.schemas import Wire, query_model, result_model
from jingyun.api.writer import Job
from jingyun.errors import JingyunError
from jingyun.experiments.analyze import AnalysisOptions, analyze_experiment
from jingyun.experiments.assignment import assign
from jingyun.experiments.calc import CalcResult, calculate
from jingyun.experiments.power import PowerResult, sample_size_mean, sample_size_proportion
from jingyun.experiments.registry import conclude_experiment, experiment_to_dict, get_experiment, list_experiments
from jingyun.experiments.results import ExperimentResult
from jingyun.experiments.srm import SrmResult
from jingyun.experiments.stats import EffectResult
from jingyun.experiments.warehouse import segment_memberships
from jingyun.localtime import LocalTime
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1", tags=["experiments 实验"])
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
Key = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$", description="Experiment key 实验标识")]
Correction = Literal["holm", "bh", "none"]


class AssignOut(BaseModel):
    experiment: str
    user_id: str
    variation: str
    in_experiment: bool
    reason: str = Field(description="assigned | not_running | not_targeted | not_in_traffic")
    bucket: float | None
    exposure_logged: bool


class ArmIn(BaseModel):
    """Conversions (``n`` and ``conversions``) or a mean (``n``, ``mean`` and ``sd``)."""

    name: str | None = Field(default=None, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_\-]+$")
    n: int = Field(ge=1, le=10**12)
    conversions: float | None = Field(default=None, ge=0, le=1e12)
    mean: float | None = Field(default=None, ge=-1e15, le=1e15)
    sd: float | None = Field(default=None, ge=0, le=1e15)

    def spec(self, field: str) -> str:
        prefix = f"{self.name}=" if self.name else ""
        if self.conversions is not None and self.mean is None and self.sd is None:
            return f"{prefix}{self.n}:{self.conversions!r}"
        if self.conversions is None and self.mean is not None and self.sd is not None:
            return f"{prefix}{self.n}:{self.mean!r}:{self.sd!r}"
        raise JingyunError("bad_arm", "give either conversions, or mean and sd", field, status=422)


class CalcIn(BaseModel):
    control: ArmIn
    treatments: list[ArmIn] = Field(min_length=1, max_length=20)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Correction = "holm"
    sequential: bool = False


class CalcControl(BaseModel):
    name: str
    n: int
    mean: float | None


CalcVariation = result_model(EffectResult, "CalcVariation", extra={"name": (str, ...)})
SrmOut = result_model(SrmResult)


class CalcOut(BaseModel):
    """The calculator's answer (experiments.calc.CalcResult): each variation's effect against control."""

    kind: str
    control: CalcControl
    variations: list[CalcVariation]  # type: ignore[valid-type]
    srm: SrmOut  # type: ignore[valid-type]
    alpha: float
    correction: Correction
    sequential: bool


# every option of the analysis (AnalysisOptions) is a query parameter
OptionsQuery = query_model(AnalysisOptions, "AnalysisOptionsQuery", overrides={
    "alpha": Wire(field=Field(gt=0, lt=1)), "n_star": Wire(field=Field(gt=0, le=1e12))})


class ConcludeIn(BaseModel):
    decision: Literal["ship", "rollback", "iterate"]
    reason: str = Field(min_length=1, max_length=2000)


class VariationOut(BaseModel):
    name: str
    weight: float


class DecisionOut(BaseModel):
    decision: str
    reason: str
    at: LocalTime
    by: str


class ExperimentOut(BaseModel):
    """An experiment (experiments.definition.Experiment) as ``experiment_to_dict`` writes it, times local."""

    key: str
    name: str
    hypothesis: str
    status: str
    variations: list[VariationOut]
    traffic: float
    targeting: dict[str, Any] = Field(description="attribute -> {op: value}, and segment 定向")
    primary_metric: str
    secondary_metrics: list[str]
    guardrail_metrics: list[str]
    conversion_event: str
    window_days: int
    seed: str
    start: LocalTime | None
    stop: LocalTime | None
    created_at: LocalTime | None
    decisions: list[DecisionOut]


class ExperimentPage(BaseModel):
    items: list[ExperimentOut]
    total: int
    limit: int
    offset: int


@router.get("/assign", summary="Deterministic variation for a user, exposure logged 实验分流", response_model=AssignOut)
async def assign_user(
    state: StateDep, _: Annotated[Principal, Depends(permit("experiments:assign"))],
    user_id: Annotated[str, Query(min_length=1, max_length=200, description="User id 用户ID")],
    experiment: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$", description="实验标识")],
    attr: Annotated[list[str] | None, Query(max_length=20, description="key=value attributes for targeting 用户属性")] = None,
) -> AssignOut:
    exp = await asyncio.to_thread(get_experiment, state.settings, experiment)
    attrs: dict[str, str] = {}
    for pair in attr or []:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise JingyunError("bad_attr", f"write attributes as key=value, got {pair[:50]!r}", "attr", status=422)
        attrs[k] = v
    targeting: dict[str, Any] = dict(attrs)
    if exp.targeting.segment is not None:  # audience targeting: the user's saved-segment memberships
        targeting["segments"] = await asyncio.to_thread(reading, state, lambda r: segment_memberships(r, user_id))
    events: list[dict[str, Any]] = []
    a = assign(user_id, exp, targeting, log=events.append)
    logged = False
    if events:
        row = {**events[0], "ts": events[0]["ts"].isoformat(timespec="microseconds") + "Z"}
        job = Job(table="events", items=[row], texts=[json.dumps(row, ensure_ascii=False)], pre_rejected={})
        outcome = (await asyncio.wrap_future(state.writer.submit(job)))[0]
        logged = outcome.status != "rejected"
    return AssignOut(experiment=a.experiment, user_id=a.user_id, variation=a.variation, in_experiment=a.in_experiment,
                     reason=a.reason, bucket=a.bucket, exposure_logged=logged)


def calc_dict(res: CalcResult) -> dict[str, Any]:
    return {
        "kind": res.kind,
        "control": {"name": res.control.name, "n": res.control.statistic.n, "mean": res.control.statistic.mean},
        "variations": [{**jsonable(r), "name": r.variation} for r in res.variations],
        "srm": jsonable(res.srm),
        "alpha": res.options.alpha, "correction": res.options.correction, "sequential": res.options.sequential,
    }


@router.post("/experiments/calc", summary="Analyse a test run elsewhere from summary numbers 外部实验计算器",
             response_model=CalcOut)
def calc(body: CalcIn, _: Analyst) -> dict[str, Any]:
    res = calculate(body.control.spec("control"), [t.spec(f"treatments.{i}") for i, t in enumerate(body.treatments)],
                    AnalysisOptions(body.alpha, body.correction, body.sequential, cuped=False))
    return calc_dict(res)


@router.get("/experiments", summary="Experiments in this workspace 实验列表", response_model=ExperimentPage)
def experiments(state: StateDep, _: Analyst, page: PagingDep,
                status: Annotated[str | None, Query(max_length=20, description="draft, running, stopped, concluded")] = None
                ) -> ExperimentPage:
    items = [e for e in list_experiments(state.settings) if status is None or e.status == status]
    shown = [ExperimentOut(**jsonable(experiment_to_dict(e))) for e in items[page.offset:page.offset + page.limit]]
    return ExperimentPage(items=shown, total=len(items), limit=page.limit, offset=page.offset)


@router.get("/experiments/power", summary="Sample size per arm and duration 样本量计算",
            response_model=result_model(PowerResult))
def power(
    _: Analyst,
    baseline: Annotated[float, Query(ge=-1e12, le=1e12, description="Baseline rate (or mean with sd) 基线")],
    mde: Annotated[float, Query(ge=-1e12, le=1e12, description="Minimum detectable effect 最小可检测效应")],
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    power: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    relative: bool = False,
    sd: Annotated[float | None, Query(gt=0, le=1e12, description="SD: a mean metric instead of a rate 标准差")] = None,
    arms: Annotated[int, Query(ge=2, le=20)] = 2,
    daily_traffic: Annotated[float | None, Query(gt=0, le=1e12, description="Users per day 日流量")] = None,
) -> dict[str, Any]:
    if mde == 0:
        raise JingyunError("bad_mde", "the minimum detectable effect must not be 0", "mde", status=422)
    if sd is None:
        r = sample_size_proportion(baseline, mde, alpha=alpha, power=power, relative=relative, arms=arms,
                                   daily_traffic=daily_traffic)
    else:
        r = sample_size_mean(baseline, sd, mde, alpha=alpha, power=power, relative=relative, arms=arms,
                             daily_traffic=daily_traffic)
    return jsonable(r)


@router.get("/experiments/{key}", summary="One experiment with its decision log 实验详情", response_model=ExperimentOut)
def experiment(key: Key, state: StateDep, _: Analyst) -> dict[str, Any]:
    return jsonable(experiment_to_dict(get_experiment(state.settings, key)))


@router.get("/experiments/{key}/analysis", summary="Results from the warehouse: uplift, intervals, SRM, verdict 实验分析",
            response_model=result_model(ExperimentResult))
def analysis(key: Key, state: StateDep, _: Analyst,
             query: Annotated[OptionsQuery, Query()]) -> dict[str, Any]:  # type: ignore[valid-type]
    exp = get_experiment(state.settings, key)
    options: AnalysisOptions = query.to_params().validate()  # type: ignore[attr-defined]
    return jsonable(reading(state, lambda wh: analyze_experiment(wh, exp, options)))


@router.post("/experiments/{key}/conclude", summary="Record the decision and close the experiment (manager, admin) 实验决策",
             response_model=ExperimentOut)
def conclude(key: Key, body: ConcludeIn, request: Request, state: StateDep,
             principal: Annotated[Principal, Depends(permit("experiments:conclude"))]) -> dict[str, Any]:
    e = conclude_experiment(state.settings, key, body.decision, body.reason, by=principal.name)
    return jsonable(experiment_to_dict(e))
