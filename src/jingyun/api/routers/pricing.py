"""Competitor prices and dynamic pricing over HTTP (竞品定价). ``pricing:view`` reads moves, proposals and
price history; ``pricing:manage`` imports prices, matches items, saves rules, proposes and applies."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from jingyun import pricing
from jingyun.api.deps import PagingDep, StateDep, permit, reading
from jingyun.localtime import local_iso
from jingyun.pricing.views import change_dict, move_dict, proposal_dict, rule_dict
from jingyun.security.roles import Principal
from jingyun.warehouse.backends import open_backend

router = APIRouter(prefix="/api/v1", tags=["pricing 竞品定价"])
Viewer = Annotated[Principal, Depends(permit("pricing:view"))]
Manager = Annotated[Principal, Depends(permit("pricing:manage"))]
Product = Annotated[str, Path(min_length=1, max_length=128, description="Our product id 商品ID")]


class ImportIn(BaseModel):
    csv: str = Field(min_length=1, max_length=20_000_000,
                     description="competitor,competitor_item,product_id,price,observed_at")


class MatchIn(BaseModel):
    competitor: str = Field(min_length=1, max_length=100)
    competitor_item: str = Field(min_length=1, max_length=200)
    product_id: str = Field(min_length=1, max_length=128)


class RuleIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    category: str | None = Field(default=None, max_length=100)
    min_move: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)
    min_cover_days: int = Field(default=14, ge=0, le=3650)
    max_cut: Decimal = Field(default=Decimal("0.03"), ge=0, le=1)
    margin_floor: Decimal = Field(default=Decimal("0.10"), ge=0, le=10)
    mode: Literal["dry_run", "auto"] = "dry_run"
    enabled: bool = True


class ProposeIn(BaseModel):
    dry_run: bool = Field(default=False, description="Auto rules only propose too 仅提案")


class ApplyIn(BaseModel):
    proposal_id: int | None = None


@router.post("/pricing/competitor-prices", summary="Import competitor prices (CSV text) 导入竞品价格")
def import_prices(body: ImportIn, state: StateDep, _: Manager) -> dict[str, Any]:
    rep = pricing.import_csv(state.store, body.csv + ("\n" if "\n" not in body.csv else ""),
                             tz=state.settings.timezone, source_name="api")
    return rep.to_dict()


@router.get("/pricing/matches", summary="Competitor items matched to our products 商品匹配")
def list_matches(state: StateDep, _: Viewer, product_id: Annotated[str | None, Query(max_length=128)] = None,
                 ) -> dict[str, Any]:
    return {"items": [{"competitor": c, "competitor_item": i, "product_id": p}
                      for c, i, p in pricing.matches(state.store, product_id=product_id)]}


@router.post("/pricing/matches", summary="Match a competitor item to our product 匹配商品", status_code=201)
def add_match(body: MatchIn, state: StateDep, _: Manager) -> dict[str, Any]:
    pricing.set_match(state.store, competitor=body.competitor, competitor_item=body.competitor_item,
                      product_id=body.product_id)
    return body.model_dump()


@router.get("/pricing/moves", summary="Competitor moves beyond a threshold 竞品价格异动")
def moves(state: StateDep, _: Viewer, threshold: Annotated[Decimal, Query(ge=0, le=1)] = Decimal("0.05"),
          ) -> dict[str, Any]:
    found = pricing.competitor_moves(state.store, threshold=threshold)
    return {"threshold": f"{threshold}", "items": [move_dict(m, state.settings.timezone) for m in found]}


@router.get("/pricing/rules", summary="Pricing rules 定价规则")
def list_rules(state: StateDep, _: Viewer) -> dict[str, Any]:
    return {"items": [rule_dict(r) for r in pricing.rules(state.store)]}


@router.post("/pricing/rules", summary="Create or change a pricing rule 保存定价规则", status_code=201)
def save_rule(body: RuleIn, state: StateDep, who: Manager) -> dict[str, Any]:
    r = pricing.save_rule(state.store, pricing.Rule(**body.model_dump()), created_by=who.name)
    return rule_dict(r)


@router.get("/pricing/proposals", summary="Price proposals, newest first 调价提案")
def list_proposals(state: StateDep, _: Viewer, page: PagingDep,
                   status: Annotated[Literal["pending", "approved", "rejected", "applied"] | None, Query()] = None,
                   product_id: Annotated[str | None, Query(max_length=128)] = None) -> dict[str, Any]:
    items, total = pricing.list_proposals(state.store, status=status, product_id=product_id, limit=page.limit,
                                          offset=page.offset)
    return {"items": [proposal_dict(p, state.settings.timezone) for p in items], "total": total,
            "limit": page.limit, "offset": page.offset}


@router.post("/pricing/proposals", summary="Run the rules over competitor moves 生成调价提案")
def propose(body: ProposeIn, state: StateDep, who: Manager) -> dict[str, Any]:
    made = reading(state, lambda wh: pricing.propose(state.store, state.settings,
                                                     open_backend(state.settings, warehouse=wh), requester=who.name,
                                                     dry_run_only=body.dry_run))
    return {"items": [proposal_dict(p, state.settings.timezone) for p in made]}


@router.post("/pricing/apply", summary="Make approved proposals live 执行调价")
def apply(body: ApplyIn, state: StateDep, who: Manager) -> dict[str, Any]:
    done = pricing.apply(state.store, proposal_id=body.proposal_id, actor=who.name)
    return {"items": [proposal_dict(p, state.settings.timezone) for p in done]}


@router.get("/pricing/products/{product_id}/history", summary="Our price beside the competitors' 价格历史")
def price_history(product_id: Product, state: StateDep, _: Viewer) -> dict[str, Any]:
    tz = state.settings.timezone
    return {"product_id": product_id,
            "changes": [change_dict(c, tz) for c in pricing.changes(state.store, product_id)],
            "competitors": [{"competitor": c, "competitor_item": i, "price": f"{p:.2f}", "observed_at": local_iso(at, tz)}
                            for c, i, _pid, p, at in pricing.observations(state.store, product_id=product_id)]}
