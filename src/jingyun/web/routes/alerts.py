"""Alerts in the console (预警): the inbox and the risk map.

* **Inbox** (``/console/alerts``): mine by default (or everything the viewer may see), by level and status,
  paginated; each alert with its value against the line, its diagnosis (the top drivers from ``explain``), a link
  to the drill-down, and acknowledge / snooze until / resolve for those who may act on it. The forms POST with
  the ``SameSite=Strict`` session like every console form, then redirect back (303) with what happened.
* **Risk map** (``/console/alerts/map``): departments × metrics, each cell the worst **open** light; a colour
  and its name in words, so it reads without colour. Acknowledged and snoozed alerts are in hand: they no
  longer colour the cell but are counted in it.

Visibility is :mod:`jingyun.ops.alerts.access` (the API's rule); values are formatted by unit
(:mod:`jingyun.ops.alerts.format`); times are local with the workspace offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jingyun.api.deps import not_found, request_id
from jingyun.errors import JingyunError
from jingyun.localtime import local_text
from jingyun.ops.alerts import access, inbox
from jingyun.ops.alerts import format as fmt
from jingyun.ops.alerts.rules import SEVERITY
from jingyun.ops.alerts.service import workspace
from jingyun.store.alerts import MetricAlert
from jingyun.warehouse.backends import open_backend
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
Viewer = Annotated[ConsoleCtx, Depends(page_ctx("alerts:view"))]
Actor = Annotated[ConsoleCtx, Depends(page_ctx("alerts:ack"))]
PAGE = 25
LEVELS = ("red", "yellow", "blue", "green")
STATUSES = ("active", "open", "acknowledged", "snoozed", "resolved")
# what each (effective) status still allows
ACTIONS = {"open": ("ack", "snooze", "resolve"), "acknowledged": ("snooze", "resolve"),
           "snoozed": ("ack", "snooze", "resolve"), "resolved": ()}


def _diagnosis(ctx: ConsoleCtx, detail: dict[str, Any], unit: str) -> dict[str, Any]:
    diag = detail.get("diagnosis") or {}
    if not diag.get("available"):
        return {"available": False, "note": diag.get("note", "")}
    drivers = []
    for s in diag.get("drivers", [])[:3]:
        share = s.get("share_of_change")
        drivers.append({"segment": s["segment"], "contribution": fmt.value(s["contribution"], unit),
                        "share": "" if share is None else f"{share * 100:.0f}%"})
    return {"available": True, "current_period": diag.get("current_period"), "previous_period": diag.get("previous_period"),
            "current": fmt.value(diag.get("current"), unit), "previous": fmt.value(diag.get("previous"), unit),
            "change": fmt.change(diag.get("change_pct")), "by": ", ".join(diag.get("by", [])), "drivers": drivers}


def _row(ctx: ConsoleCtx, row: MetricAlert, who: access.Viewer) -> dict[str, Any]:
    data = inbox.alert_dict(row, ctx.timezone)
    status = data["status"]
    mine = inbox.may_act(row, who.name, who.role, who.department_names) and ctx.may("alerts:ack")
    data.update(
        opened=local_text(row.opened_at, ctx.timezone), updated=local_text(row.updated_at, ctx.timezone),
        acked=local_text(row.acked_at, ctx.timezone), resolved=local_text(row.resolved_at, ctx.timezone),
        snoozed=local_text(row.snoozed_until, ctx.timezone) if status == "snoozed" else "",
        change_text=fmt.change(row.change) if row.change is not None else "",
        diagnosis=_diagnosis(ctx, data["detail"], row.unit), drill=data["detail"].get("drill", ""),
        period=data["detail"].get("period", []), actions=ACTIONS.get(status, ()) if mine else ())
    return data


def _default_until(ctx: ConsoleCtx) -> str:
    """Tomorrow 09:00 local, the snooze form's starting value."""
    now = dt.datetime.now(ZoneInfo(ctx.timezone))
    return (now + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


@router.get("/alerts", response_class=HTMLResponse)
def inbox_page(ctx: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
               mine: Annotated[int, Query(ge=0, le=1, description="1: routed to me")] = 1,
               level: Annotated[str, Query(pattern="^(|red|yellow|blue|green)$")] = "",
               status: Annotated[str, Query(pattern="^(active|open|acknowledged|snoozed|resolved)$")] = "active",
               rule: Annotated[str, Query(max_length=100)] = "",
               done: Annotated[str, Query(pattern="^(|ack|snooze|resolve)$")] = "",
               refused: Annotated[str, Query(max_length=60)] = "",
               id: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    who = access.viewer(ctx.state.store, ctx.principal)
    got = inbox.listing(ctx.state.store, status=status, level=level or None, rule=rule or None,
                        recipient=who.name if mine else None, departments=None if mine else who.departments,
                        viewer=who.name, limit=PAGE, offset=(page - 1) * PAGE)
    query = {"mine": mine, "level": level, "status": status, "rule": rule}
    return ctx.render("alerts.html", rows=[_row(ctx, r, who) for r in got.items], total=got.total, page=page,
                      pages=max(1, -(-got.total // PAGE)), mine=mine, level=level, status=status, rule=rule,
                      levels=LEVELS, statuses=STATUSES, done=done, refused=refused, acted=id,
                      refused_text=_refusal(ctx, refused),
                      until_default=_default_until(ctx), query=urlencode(query))


@router.get("/alerts/map", response_class=HTMLResponse)
def risk_map_page(ctx: Viewer) -> HTMLResponse:
    who = access.viewer(ctx.state.store, ctx.principal)
    with ctx.reader() as wh:
        d, _targets, rules = workspace(ctx.state.settings, open_backend(ctx.state.settings, warehouse=wh))
    groups = inbox.risk_map(ctx.state.store, rules, d, departments=who.departments)
    columns: dict[str, dict[str, str]] = {}
    for g in groups:
        for c in g["lights"]:
            columns.setdefault(c["subject"], c["name"])
    subjects = sorted(columns)
    rows = []
    for g in groups:
        cells = {c["subject"]: {**c, "handled_worst": max((h["level"] for h in c["handled"]),
                                                          key=lambda lv: SEVERITY[lv], default="")}
                 for c in g["lights"]}
        rows.append({"department": g["department"], "worst": g["worst"], "cells": [cells.get(s) for s in subjects]})
    lang = "zh" if ctx.locale == "zh-CN" else "en"
    return ctx.render("alerts_map.html", rows=rows, columns=[(s, columns[s][lang]) for s in subjects])


@router.post("/alerts/{alert_id}/{action}")
def act(ctx: Actor, alert_id: Annotated[int, Path(ge=1)], action: Annotated[str, Path(pattern="^(ack|snooze|resolve)$")],
        until: Annotated[str, Form(max_length=40)] = "", note: Annotated[str, Form(max_length=1000)] = "",
        back: Annotated[str, Form(max_length=300)] = "") -> Response:
    who = access.viewer(ctx.state.store, ctx.principal)
    try:
        row, _events = inbox.get(ctx.state.store, alert_id)
    except JingyunError:
        raise not_found("alert", "alert_id") from None
    if not who.sees(row):
        raise not_found("alert", "alert_id")
    back = back if back.startswith("mine=") else "mine=1&status=active"
    try:
        when = _until(ctx, until) if action == "snooze" else None
        inbox.act(ctx.state.store, alert_id, action, actor=who.name, role=who.role, departments=who.department_names,
                  until=when, note=note)
    except JingyunError as exc:
        if exc.status == 404:
            raise
        return RedirectResponse(ctx.url(f"/alerts?{back}&refused={exc.code}&id={alert_id}"), status_code=303)
    ctx.state.auditor.log(actor=who.name, role=who.role, action="alert_change", target=f"alert:{alert_id}",
                          detail={"action": action, "via": "console"}, request_id=request_id(ctx.request))
    return RedirectResponse(ctx.url(f"/alerts?{back}&done={action}&id={alert_id}"), status_code=303)


def _refusal(ctx: ConsoleCtx, code: str) -> str:
    if not code:
        return ""
    text = ctx.t(f"alerts.refused.{code}")
    return ctx.t("alerts.refused.other") if text == f"alerts.refused.{code}" else text


def _until(ctx: ConsoleCtx, text: str) -> dt.datetime:
    """The form's local ``2026-11-02T09:00`` (or with an offset) as naive UTC."""
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise JingyunError("bad_until", "snooze until a time in the future, e.g. 2026-11-02T09:00", "until",
                           status=422) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(ctx.timezone))
    return t.astimezone(dt.UTC).replace(tzinfo=None)
