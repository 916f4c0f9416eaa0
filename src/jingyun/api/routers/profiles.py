"""Tags, RFM, lifecycle, audience sizing and the 360° profile over HTTP (标签、分层与用户画像).

Aggregates (RFM groups, lifecycle stages, audience sizes) carry no personal
data. The profile does: it is built by :func:`jingyun.segments.profile.build_profile`
and then de-identified here with the service's own masking and salt
(:func:`jingyun.security.masking.deidentify`, driven by the data dictionary),
so a pseudonym in a profile equals the one in ``/users/{id}`` and in exports.
Every profile read is audited (``read_personal``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from jingyun.api.deps import PagingDep, StateDep, jsonable, permit, reading, request_id
from jingyun.api.schemas import InstantWire, Wire, query_model, result_model
from jingyun.errors import JingyunError
from jingyun.localtime import LocalTime, localize
from jingyun.security.masking import Masker
from jingyun.security.roles import Principal
from jingyun.segments import audience, saved
from jingyun.segments.common import as_naive_utc, ensure_segment_tables
from jingyun.segments.lifecycle import LifecycleParams, LifecycleResult, compute_lifecycle, preset
from jingyun.segments.profile import Profile, build_profile
from jingyun.segments.rfm import RfmParams, RfmResult, compute_rfm
from jingyun.segments.tags import TagDef, load_tags

router = APIRouter(prefix="/api/v1", tags=["segments 人群"])
Viewer = Annotated[Principal, Depends(permit("segments:view"))]
Analyst = Annotated[Principal, Depends(permit("analysis:run"))]
ProfileReader = Annotated[Principal, Depends(permit("profile:read"))]
AsOf = Annotated[InstantWire | None, Query()]

# every option of the library's parameter objects is a query parameter (lists repeat it: ?bins=5&
# recency_thresholds=30&recency_thresholds=60…); only a service's limits are named here
RfmQuery = query_model(RfmParams, "RfmQuery", overrides={
    "bins": Wire(field=Field(ge=2, le=10)),
    "window_days": Wire(field=Field(ge=1, le=36500)),
    **{f"{part}_thresholds": Wire(field=Field(min_length=1, max_length=9))
       for part in ("recency", "frequency", "monetary")},
})
# a preset (retail, saas) gives the defaults; a field the query sets overrides it
LifecycleQuery = query_model(LifecycleParams, "LifecycleQuery", unset=(
    "new_max_days", "growing_max_days", "high_value_share", "churn_risk_days", "churned_days", "as_of"), overrides={
    "new_max_days": Wire(field=Field(ge=0, le=3650)),
    **{name: Wire(field=Field(ge=1, le=3650)) for name in ("growing_max_days", "churn_risk_days", "churned_days")},
    "high_value_share": Wire(field=Field(gt=0, lt=1)),
})
ProfileOut = result_model(Profile, "ProfileOut", extra={"deidentified": (bool, ...)})


class TagOut(BaseModel):
    name: str
    kind: str
    group: str
    zh: str
    en: str
    description_zh: str
    description_en: str
    owner: str
    refresh: str
    type: str
    campaign: bool
    spec: dict[str, Any]


class TagPage(BaseModel):
    items: list[TagOut]
    total: int
    limit: int
    offset: int


class AudienceIn(BaseModel):
    """A rule tree (see docs/segments.md): ``{"and": [...]}``, ``{"attr": ..., "op": ..., "value": ...}``…"""

    rule: dict[str, Any] = Field(max_length=20)
    as_of: str | None = Field(default=None, max_length=40)


class ValueCount(BaseModel):
    value: str | None
    persons: int


class Coverage(BaseModel):
    persons: int = Field(description="People holding the tag 覆盖人数")
    values: list[ValueCount] = Field(description="The 20 most held values 最常见取值")


class TagDetail(BaseModel):
    tag: TagOut
    coverage: Coverage


class SizeOut(BaseModel):
    size: int | str = Field(description='People matching; "<10" below the small-count threshold for roles '
                                        "without raw access 人群规模(小样本显示为<10)")
    universe: int
    share: float | None
    suppressed: bool
    as_of: LocalTime
    seconds: float
    warning: str | None
    sql: str


def _tag(t: TagDef) -> TagOut:
    return TagOut(**jsonable(t))


def _as_of(value: str | None) -> dt.datetime | None:
    return as_naive_utc(value) if value else None


@router.get("/tags", summary="Tag definitions 标签列表", response_model=TagPage)
def list_tags(state: StateDep, _: Viewer, page: PagingDep,
              group: Annotated[str | None, Query(max_length=30, description="demographic, behaviour… 分组")] = None
              ) -> TagPage:
    tags = [t for t in load_tags(state.settings).values() if group is None or t.group == group]
    items = [_tag(t) for t in tags[page.offset:page.offset + page.limit]]
    return TagPage(items=items, total=len(tags), limit=page.limit, offset=page.offset)


@router.get("/tags/{name}", summary="One tag with its coverage 标签详情", response_model=TagDetail)
def get_tag(state: StateDep, _: Viewer, name: Annotated[str, Path(min_length=1, max_length=100)]) -> dict[str, Any]:
    tags = load_tags(state.settings)
    if name not in tags:
        raise JingyunError("not_found", f"no tag {name!r}; see GET /api/v1/tags", "name", status=404)

    def coverage(wh: Any) -> dict[str, Any]:
        if not wh.rows("SELECT 1 FROM information_schema.tables WHERE table_name = 'user_tags'"):
            return {"persons": 0, "values": []}
        persons = int(wh.scalar("SELECT count(DISTINCT person_id) FROM user_tags WHERE tag = ?", [name]))
        values = wh.rows("SELECT value, count(*) FROM user_tags WHERE tag = ? GROUP BY value ORDER BY 2 DESC, 1 LIMIT 20",
                         [name])
        return {"persons": persons, "values": [{"value": v, "persons": int(n)} for v, n in values]}

    return {"tag": _tag(tags[name]).model_dump(), "coverage": reading(state, coverage)}


@router.get("/rfm", summary="RFM groups with sizes and value shares RFM分群",
            response_model=result_model(RfmResult))
def rfm(state: StateDep, _: Analyst, query: Annotated[RfmQuery, Query()]) -> dict[str, Any]:  # type: ignore[valid-type]
    params: RfmParams = query.to_params().validate()  # type: ignore[attr-defined]
    return jsonable(localize(reading(state, lambda wh: compute_rfm(wh, params)), state.settings.timezone))


@router.get("/lifecycle", summary="Users per lifecycle stage 生命周期阶段", response_model=result_model(LifecycleResult))
def lifecycle(state: StateDep, _: Analyst,
              query: Annotated[LifecycleQuery, Query()],  # type: ignore[valid-type]
              preset_name: Annotated[str, Query(alias="preset", pattern="^(retail|saas)$")] = "retail") -> dict[str, Any]:
    params = preset(preset_name, **query.values())  # type: ignore[attr-defined]
    return jsonable(localize(reading(state, lambda wh: compute_lifecycle(wh, params)), state.settings.timezone))


@router.post("/audience/estimate", summary="Size of a rule tree, without saving it 人群规模估算", response_model=SizeOut)
def estimate(body: AudienceIn, state: StateDep, principal: Viewer) -> SizeOut:
    audience.guard(body.rule, sees_raw=principal.sees_raw)
    est = reading(state, lambda wh: saved.estimate(wh, body.rule, as_of=_as_of(body.as_of)))
    return SizeOut(**jsonable(est.shown(sees_raw=principal.sees_raw, threshold=state.service.min_count)))


@router.get("/profiles/{user_id}", summary="The 360° profile, de-identified unless your role sees personal data 用户360画像",
            response_model=ProfileOut)
def profile(request: Request, state: StateDep, principal: ProfileReader,
            user_id: Annotated[str, Path(min_length=1, max_length=200)],
            limit: Annotated[int, Query(ge=1, le=100, description="Recent events/orders shown 最近记录数")] = 10,
            as_of: AsOf = None) -> dict[str, Any]:
    # user_tags / model_scores may not exist yet: created (empty) by the writer, readers never write
    with state.writer.lock:
        ensure_segment_tables(state.writer.wh)
    # built unmasked, then masked here: one salt and one rule set for every read path of the service
    p = reading(state, lambda wh: build_profile(wh, user_id, limit=limit, as_of=_as_of(as_of)))
    if not principal.sees_raw:
        p = p.deidentified(Masker(state.service.mask_salt, dt.date.today()))
    data: dict[str, Any] = {f: getattr(p, f) for f in p.__dataclass_fields__}
    state.auditor.log(actor=principal.name, role=principal.role, action="read_personal", target=f"person:{p.person_id}",
                      detail={"deidentified": not principal.sees_raw, "route": "profiles"}, request_id=request_id(request))
    return jsonable(localize({**data, "deidentified": not principal.sees_raw}, state.settings.timezone))
