"""Coupons over HTTP (优惠券): templates, issuing (what journeys and ops call), reports and threshold analysis.

Analysts and everyone else read (``coupons:view``); specialists, managers and admins create templates,
issue codes and pause or end templates (``coupons:create``). Money is exact decimal text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from jingyun import coupons
from jingyun.api.deps import PagingDep, StateDep, permit, reading
from jingyun.coupons.report import report, thresholds
from jingyun.coupons.views import issued_dict, report_dict, template_dict, thresholds_dict
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["coupons 优惠券"])
Viewer = Annotated[Principal, Depends(permit("coupons:view"))]
Creator = Annotated[Principal, Depends(permit("coupons:create"))]
Key = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="Template key 模板标识")]
Money = str | int | float


class TemplateIn(BaseModel):
    """A template; money in yuan (at most two decimals); validity by local dates or days from issue."""

    key: str = Field(min_length=1, max_length=64)
    kind: Literal["threshold", "percent", "free_shipping"]
    name: str | None = Field(default=None, max_length=200)
    threshold: Money | None = None
    amount_off: Money | None = None
    percent_off: Money | None = None
    cap: Money | None = None
    shipping: Money | None = None
    valid_from: str | None = Field(default=None, description="First local day, YYYY-MM-DD")
    valid_until: str | None = Field(default=None, description="Last local day (included), YYYY-MM-DD")
    valid_days: int | None = Field(default=None, ge=1, le=3660)
    budget: Money | None = None
    stock: int | None = Field(default=None, ge=1)
    per_user: int = Field(default=1, ge=1, le=1000)


class IssueIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=128)
    key: str | None = Field(default=None, min_length=1, max_length=200, description="Idempotency key 幂等键")


class StatusIn(BaseModel):
    status: Literal["active", "paused", "ended"]


class ReportIn(BaseModel):
    templates: list[str] | None = Field(default=None, max_length=200)
    holdout: list[str] | None = Field(default=None, max_length=1_000_000, description="Eligible but not issued 对照组")
    margin_rate: float | None = Field(default=None, gt=0, le=1)


class ThresholdsIn(ReportIn):
    bins: int = Field(default=10, ge=2, le=100)


class TemplatePage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@router.get("/coupons", summary="Coupon templates, newest first 优惠券模板列表", response_model=TemplatePage)
def list_coupons(state: StateDep, _: Viewer, page: PagingDep,
                 status: Annotated[Literal["active", "paused", "ended"] | None, Query()] = None) -> TemplatePage:
    items, total = coupons.list_templates(state.store, status=status, limit=page.limit, offset=page.offset)
    return TemplatePage(items=[template_dict(t, state.settings.timezone) for t in items], total=total,
                        limit=page.limit, offset=page.offset)


@router.post("/coupons", summary="Create a coupon template 创建优惠券模板", status_code=201)
def create_coupon(body: TemplateIn, state: StateDep, who: Creator) -> dict[str, Any]:
    data = {k: v for k, v in body.model_dump().items() if v is not None}
    t = coupons.create_template(state.store, state.settings, data, created_by=who.name)
    return template_dict(t, state.settings.timezone)


@router.post("/coupons/report", summary="Issued, redeemed, cost and incremental GMV against a holdout 优惠券报告")
def coupon_report(body: ReportIn, state: StateDep, _: Viewer) -> dict[str, Any]:
    rep = reading(state, lambda wh: report(state.store, state.settings, open_backend(state.settings, warehouse=wh),
                                           templates=body.templates, holdout=body.holdout, margin_rate=body.margin_rate))
    return report_dict(rep)


@router.post("/coupons/thresholds", summary="Which 满X减Y threshold redeems best and pays back 门槛分析")
def coupon_thresholds(body: ThresholdsIn, state: StateDep, _: Viewer) -> dict[str, Any]:
    res = reading(state, lambda wh: thresholds(state.store, state.settings, open_backend(state.settings, warehouse=wh),
                                               templates=body.templates, holdout=body.holdout,
                                               margin_rate=body.margin_rate, bins=body.bins))
    return thresholds_dict(res)


@router.get("/coupons/{key}", summary="One coupon template 优惠券模板")
def get_coupon(key: Key, state: StateDep, _: Viewer) -> dict[str, Any]:
    return template_dict(coupons.get_template(state.store, key), state.settings.timezone)


@router.get("/coupons/{key}/codes", summary="Codes issued from a template 已发券码")
def coupon_codes(key: Key, state: StateDep, _: Creator, page: PagingDep,
                 user_id: Annotated[str | None, Query(max_length=128)] = None) -> dict[str, Any]:
    items = coupons.codes(state.store, key, user_id=user_id, limit=page.limit, offset=page.offset)
    return {"items": [issued_dict(c, state.settings.timezone) for c in items], "limit": page.limit, "offset": page.offset,
            "issued": coupons.get_template(state.store, key).issued}


@router.post("/coupons/{key}/issue", summary="Issue one code to one person (idempotent on key) 发券", status_code=201)
def issue_coupon(key: Key, body: IssueIn, state: StateDep, who: Creator) -> dict[str, Any]:
    c = coupons.issue(state.store, state.settings, key, body.user_id, key=body.key, issued_by=who.name)
    return issued_dict(c, state.settings.timezone)


@router.post("/coupons/{key}/status", summary="Pause, resume or end a template 暂停/恢复/结束")
def coupon_status(key: Key, body: StatusIn, state: StateDep, who: Creator) -> dict[str, Any]:
    t = coupons.set_status(state.store, key, body.status, actor=who.name)
    return template_dict(t, state.settings.timezone)
