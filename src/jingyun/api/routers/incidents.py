"""Incidents over HTTP (应急事件): the playbook library, open, list, show, tick a step, note, change the level,
close with the post-incident review (复盘).

Anyone may report an incident and add notes (``incidents:open``); managers (``incidents:manage`` — every
position a playbook names as first responder is a manager in the console) tick steps, change the level and close. Times carry the
workspace offset; ``overdue`` is computed at the time of the answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from jingyun import incidents
from jingyun.api.deps import PagingDep, ServiceState, StateDep, not_found, permit
from jingyun.errors import JingyunError
from jingyun.incidents import Incident
from jingyun.localtime import LocalTime
from jingyun.security.roles import Principal
from jingyun.store.models import utcnow

router = APIRouter(prefix="/api/v1", tags=["incidents 应急事件"])
Viewer = Annotated[Principal, Depends(permit("incidents:view"))]
Reporter = Annotated[Principal, Depends(permit("incidents:open"))]
Manager = Annotated[Principal, Depends(permit("incidents:manage"))]
IncidentId = Annotated[int, Path(ge=1, le=2**62, description="Incident id 事件编号")]


class PlaybookStepOut(BaseModel):
    zh: str
    en: str


class PlaybookOut(BaseModel):
    key: str
    zh: str
    en: str
    default_level: int
    first_responder: str
    contacts: list[str]
    steps: list[PlaybookStepOut]


class IncidentStepOut(BaseModel):
    idx: int
    zh: str
    en: str
    done_at: LocalTime | None
    done_by: str | None


class IncidentTimelineOut(BaseModel):
    ts: LocalTime
    author: str
    kind: str
    text: str


class IncidentReviewOut(BaseModel):
    summary: str
    root_cause: str
    actions: list[str]


class IncidentOut(BaseModel):
    id: int
    playbook: str
    level: int
    title: str
    source: str
    alert_id: int | None
    status: str
    first_responder: str | None
    opened_by: str
    opened_at: LocalTime
    deadline_at: LocalTime
    closed_at: LocalTime | None
    overdue: bool
    review: IncidentReviewOut | None
    steps: list[IncidentStepOut]
    timeline: list[IncidentTimelineOut]


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class IncidentOpenIn(BaseModel):
    playbook: str = Field(min_length=1, max_length=50)
    title: str = Field(min_length=1, max_length=200)
    level: int | None = Field(default=None, ge=1, le=3, description="1 (24 h), 2 (48 h), 3 (72 h); the playbook's "
                                                                    "default when left out")


class IncidentNoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class IncidentLevelIn(BaseModel):
    level: int = Field(ge=1, le=3)


class IncidentCloseIn(BaseModel):
    summary: str = Field(min_length=1, max_length=4000)
    root_cause: str = Field(min_length=1, max_length=4000)
    actions: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=50)


def incident_out(i: Incident) -> IncidentOut:
    return IncidentOut(
        id=i.id, playbook=i.playbook, level=i.level, title=i.title, source=i.source, alert_id=i.alert_id,
        status=i.status, first_responder=i.first_responder, opened_by=i.opened_by, opened_at=i.opened_at,
        deadline_at=i.deadline_at, closed_at=i.closed_at, overdue=i.overdue(utcnow()),
        review=IncidentReviewOut.model_validate(i.review) if i.review else None,
        steps=[IncidentStepOut(**s.__dict__) for s in i.steps],
        timeline=[IncidentTimelineOut(**e.__dict__) for e in i.timeline])


def _get(incident_id: int, state: ServiceState) -> Incident:
    try:
        return incidents.get(state.store, incident_id)
    except JingyunError as exc:
        if exc.status == 404:
            raise not_found("incident", "id") from None
        raise


@router.get("/incidents/playbooks", summary="The playbook library 预案库", response_model=list[PlaybookOut])
def playbooks(_: Viewer) -> list[PlaybookOut]:
    return [PlaybookOut.model_validate(p.to_dict()) for p in incidents.library().values()]


@router.post("/incidents", summary="Open an incident from a playbook 上报应急事件", status_code=201,
             response_model=IncidentOut)
def open_incident(state: StateDep, who: Reporter, body: IncidentOpenIn) -> IncidentOut:
    level = body.level or incidents.playbook(body.playbook).default_level
    inc = incidents.open_incident(state.store, state.settings, playbook=body.playbook, level=level, title=body.title,
                                  source="manual", opened_by=who.name)
    return incident_out(inc)


@router.get("/incidents", summary="Incidents, newest first 应急事件列表", response_model=IncidentPage)
def list_incidents(state: StateDep, _: Viewer, page: PagingDep,
                   status: Annotated[Literal["open", "closed"] | None, Query()] = None) -> IncidentPage:
    items, total = incidents.list_incidents(state.store, status=status, limit=min(page.limit, 500), offset=page.offset)
    return IncidentPage(items=[incident_out(i) for i in items], total=total, limit=page.limit, offset=page.offset)


@router.get("/incidents/{incident_id}", summary="One incident with its steps and timeline 事件详情",
            response_model=IncidentOut)
def show(state: StateDep, _: Viewer, incident_id: IncidentId) -> IncidentOut:
    return incident_out(_get(incident_id, state))


@router.post("/incidents/{incident_id}/steps/{idx}", summary="Tick a playbook step 完成步骤", response_model=IncidentOut)
def tick(state: StateDep, who: Manager, incident_id: IncidentId, idx: Annotated[int, Path(ge=1, le=100)]) -> IncidentOut:
    _get(incident_id, state)
    return incident_out(incidents.complete_step(state.store, incident_id, idx, author=who.name))


@router.post("/incidents/{incident_id}/notes", summary="Add a note to the timeline 添加备注", status_code=201,
             response_model=IncidentOut)
def note(state: StateDep, who: Reporter, incident_id: IncidentId, body: IncidentNoteIn) -> IncidentOut:
    _get(incident_id, state)
    return incident_out(incidents.add_note(state.store, incident_id, author=who.name, text=body.text))


@router.post("/incidents/{incident_id}/level", summary="Change the response level (the deadline moves) 调整级别",
             response_model=IncidentOut)
def level(state: StateDep, who: Manager, incident_id: IncidentId, body: IncidentLevelIn) -> IncidentOut:
    _get(incident_id, state)
    return incident_out(incidents.set_level(state.store, incident_id, body.level, author=who.name))


@router.post("/incidents/{incident_id}/close", summary="Close with the post-incident review 复盘并关闭",
             response_model=IncidentOut)
def close(state: StateDep, who: Manager, incident_id: IncidentId, body: IncidentCloseIn) -> IncidentOut:
    _get(incident_id, state)
    return incident_out(incidents.close(state.store, incident_id, author=who.name, review=body.model_dump()))

