"""Raised alerts in the metadata store: open, de-duplicate, route, send, acknowledge, snooze, resolve.

* **One open alert per rule and subject.** ``open_key`` (``rule|subject``) is unique while the alert
  is open and cleared when it is resolved. A later day's repeat updates the open alert (its value,
  last day, repeat count and diagnosis) and sends nothing; a repeat at a *higher* level raises the
  alert, re-routes it to that level's person and sends once more. Evaluating the same day twice
  changes nothing.
* **Routing by level** (按级别分派): green/blue → the metric owner (the rule's ``owner``), yellow →
  the department's manager, red → its director, from the organisation (``org_positions``; a
  missing holder falls back to the holder's superior, then to people of that role in the
  department, then to the next level up).
* **Delivery** through ``jingyun.messaging.deliver`` (email to the recipient, the rules' webhook),
  keyed ``alert:<id>:<level>:<to>`` so a message is never sent twice; the console inbox is the
  alert row itself.
* **A red alert opens an incident** (``jingyun.incidents.open_incident``) with the rule's playbook
  and response level, once per alert. A rule that names no playbook on a revenue metric (a CNY
  metric where higher is better: GMV, revenue, AOV, gross profit…) opens ``metric_drop`` (业绩下滑);
  with no ``incident_level`` the playbook's level for the alert's colour applies (red: level 1, 24 h).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics.model import Dictionary
from jingyun.ops.alerts import format as fmt
from jingyun.ops.alerts.evaluate import Evaluation, Finding
from jingyun.ops.alerts.rules import SEVERITY, Rule, RuleSet
from jingyun.store.alerts import AlertRuleState, MetricAlert, MetricAlertEvent
from jingyun.store.db import Store
from jingyun.store.models import Department, Person, utcnow

ROLE_OF_LEVEL = {"green": "owner", "blue": "owner", "yellow": "manager", "red": "director"}
STATUSES = ("open", "acknowledged", "snoozed", "resolved")
KIND_NAMES = {"threshold": ("阈值", "threshold"), "change": ("环比/同比", "change"),
              "consecutive": ("连续", "consecutive"), "anomaly": ("异常", "anomaly"), "stop_loss": ("止损线", "stop-loss")}
LEVEL_NAMES = {"green": "绿 green", "blue": "蓝 blue", "yellow": "黄 yellow", "red": "红 red"}


@dataclass
class Outcome:
    alert_id: int
    rule: str
    level: str
    action: str  # opened | repeated | raised | unchanged
    recipient: str | None
    sent: list[dict[str, Any]] = field(default_factory=list)
    incident_id: int | None = None


# -- routing ------------------------------------------------------------------------------------------------
def _department(ses: Session, name: str) -> Department | None:
    return ses.scalar(select(Department).where(Department.name == name)) if name else None


def _holder(ses: Session, dept: Department | None, title: str) -> Person | None:
    from jingyun.store.approvals import OrgPosition

    if dept is None:
        return None
    pid = ses.scalar(select(OrgPosition.person_id).where(OrgPosition.department_id == dept.id,
                                                          OrgPosition.title == title))
    person = ses.get(Person, pid) if pid is not None else None
    return person if person is not None and not person.disabled else None


def _superior(ses: Session, person: Person | None) -> Person | None:
    sid = getattr(person, "superior_id", None) if person is not None else None
    sup = ses.get(Person, sid) if sid is not None else None
    return sup if sup is not None and not sup.disabled else None


def _by_role(ses: Session, dept: Department | None, role: str) -> Person | None:
    q = select(Person).where(Person.role == role, Person.disabled.is_(False)).order_by(Person.id)
    for p in ses.scalars(q):
        if dept is None or dept.name in p.department_names:
            return p
    return None


def _person(ses: Session, username: str | None) -> Person | None:
    if not username:
        return None
    p = ses.scalar(select(Person).where(Person.username == username))
    return p if p is not None and not p.disabled else None


def route(ses: Session, rule: Rule, level: str) -> tuple[Person | None, str]:
    """(recipient, the role they were reached as) for an alert of ``level`` on ``rule``."""
    dept = _department(ses, rule.department)
    owner = _person(ses, rule.owner)
    manager = _holder(ses, dept, "manager") or _superior(ses, owner) or _by_role(ses, dept, "manager")
    director = (_holder(ses, dept, "director") or _superior(ses, manager)
                or (_by_role(ses, dept, "admin") if dept is not None else None))
    chain = [("owner", owner), ("manager", manager), ("director", director)]
    start = ["owner", "manager", "director"].index(ROLE_OF_LEVEL[level])
    for role, person in chain[start:]:
        if person is not None:
            return person, role
    return _by_role(ses, None, "admin"), "director"


# -- text ------------------------------------------------------------------------------------------------------
def unit_of(rule: Rule, d: Dictionary) -> str:
    if rule.target or rule.source:
        return "ratio"
    return d.metrics[rule.metric].unit if rule.metric in d.metrics else "count"


def names_of(rule: Rule, d: Dictionary) -> tuple[str, str]:
    if rule.name:
        return rule.name, rule.name
    if rule.source:
        return "审批超时率", "Approval timeout rate"
    m = d.metrics.get(rule.metric)
    zh, en = (m.zh, m.en) if m else (rule.metric, rule.metric)
    if rule.target:
        return f"{zh}目标达成率", f"{en} target attainment"
    return zh, en


def title_of(f: Finding, d: Dictionary) -> str:
    zh, en = names_of(f.rule, d)
    unit = unit_of(f.rule, d)
    kz, ke = KIND_NAMES[f.rule.kind]
    if f.rule.kind == "change":
        what = f"{fmt.change(f.change)} vs {'last year' if f.rule.compare == 'year' else 'previous ' + f.rule.period}"
    elif f.rule.kind == "consecutive":
        what = f"{f.rule.op} {fmt.value(f.reference, unit)} for {f.rule.periods} {f.rule.period}s in a row"
    elif f.rule.kind == "anomaly":
        what = f"{fmt.value(f.value, unit)}, expected {fmt.value(f.reference, unit)}"
    else:
        what = f"{fmt.value(f.value, unit)} {f.rule.op} {fmt.value(f.reference, unit)}"
    return f"[{LEVEL_NAMES[f.level]}] {zh} {en} {kz}/{ke}: {what}"[:300]


def diagnosis_text(diag: dict[str, Any] | None, unit: str) -> str:
    if not diag:
        return "诊断 Diagnosis: —"
    if not diag.get("available"):
        return f"诊断 Diagnosis: {diag.get('note', '—')}"
    lines = [f"诊断 Diagnosis ({diag['current_period']} vs {diag['previous_period']}): "
             f"{fmt.value(diag['previous'], unit)} → {fmt.value(diag['current'], unit)} "
             f"({fmt.change(diag.get('change_pct'))})"]
    top = diag.get("top_driver")
    if top:
        dims = ", ".join(f"{k} = {v}" for k, v in top["values"].items())
        share = top.get("share_of_change")
        lines.append(f"主要驱动因素 Top driver: {dims}, contribution {fmt.value(top['contribution'], unit)}"
                     + (f" ({share * 100:.0f}% of the change)" if share is not None else ""))
    for s in diag.get("drivers", [])[1:]:
        lines.append(f"  · {s['segment']}: {fmt.value(s['contribution'], unit)}")
    return "\n".join(lines)


def link_of(f: Finding) -> str:
    lo, hi = f.period
    return f"/console/alerts?rule={f.rule.id}&from={lo.isoformat()}&to={hi.isoformat()}"


def drill_link(rule_metric: str, period: list[str], by: str) -> str:
    return f"/console/analyses?metric={rule_metric}&from={period[0]}&to={period[1]}&by={by}#diagnosis"


def message_text(row: MetricAlert, settings: Settings) -> str:
    detail = json.loads(row.detail or "{}")
    lines = [row.title, "",
             f"值 Value: {fmt.value(row.value, row.unit)}   参照 Reference: {fmt.value(row.reference, row.unit)}",
             f"周期 Period: {detail.get('period', ['', ''])[0]} .. {detail.get('period', ['', ''])[1]}"
             f"   部门 Department: {row.department or '—'}"]
    if row.plan:
        lines.append(f"应对预案 Response plan: {row.plan}")
    lines += ["", diagnosis_text(detail.get("diagnosis"), row.unit), "",
              f"查看 Open: {settings.messages_public_url.rstrip('/')}{row.link}"]
    return "\n".join(lines)


# -- applying an evaluation ---------------------------------------------------------------------------
def _event(ses: Session, alert_id: int, kind: str, actor: str = "system", now: dt.datetime | None = None,
           **detail: Any) -> None:
    ses.add(MetricAlertEvent(alert_id=alert_id, kind=kind, actor=actor, ts=now or utcnow(),
                             detail=json.dumps(detail, ensure_ascii=False, default=str)))


def _detail(f: Finding) -> str:
    data = f.to_dict()
    data["drill"] = drill_link(f.rule.metric, data["period"], f.rule.by)
    return json.dumps(data, ensure_ascii=False, default=str)


def _upsert_state(ses: Session, rule: Rule, day: dt.date, outcome: str, note: str | None, now: dt.datetime) -> None:
    row = ses.get(AlertRuleState, rule.id)
    if row is None:
        row = AlertRuleState(rule_id=rule.id)
        ses.add(row)
    row.definition = json.dumps(rule.to_dict(), ensure_ascii=False, default=str)
    row.last_day, row.last_outcome, row.last_note, row.updated_at = day, outcome, note, now


def apply(store: Store, settings: Settings, d: Dictionary, rules: RuleSet, ev: Evaluation, *,
          now: dt.datetime | None = None, send: bool = True) -> list[Outcome]:
    """Open or update an alert per finding, route and send the new ones, open incidents for red ones."""
    now = now or utcnow()
    outcomes: list[Outcome] = []
    with store.session() as ses:
        for rid in ev.quiet:
            _upsert_state(ses, rules.get(rid), ev.as_of, "quiet", None, now)
        for rid, why in ev.skipped.items():
            _upsert_state(ses, rules.get(rid), ev.as_of, "skipped", why, now)
        for f in ev.findings:
            _upsert_state(ses, f.rule, ev.as_of, "fired", f.level, now)
    for f in ev.findings:
        outcomes.append(_one(store, settings, d, f, ev.as_of, now))
    if send:
        for o in outcomes:
            if o.action in ("opened", "raised"):
                o.sent = _deliver(store, settings, rules, o.alert_id, now)
                if o.level == "red":
                    o.incident_id = _incident(store, settings, rules, d, o.alert_id, now)
    return outcomes


def _one(store: Store, settings: Settings, d: Dictionary, f: Finding, as_of: dt.date, now: dt.datetime) -> Outcome:
    key = f"{f.rule.id}|{f.rule.subject}"
    for _attempt in range(2):
        try:
            with store.session() as ses:
                row = ses.scalar(select(MetricAlert).where(MetricAlert.open_key == key))
                if row is None:
                    person, role = route(ses, f.rule, f.level)
                    row = MetricAlert(
                        rule_id=f.rule.id, kind=f.rule.kind, subject=f.rule.subject, open_key=key, level=f.level,
                        status="open", metric=f.rule.metric, unit=unit_of(f.rule, d), department=f.rule.department,
                        title=title_of(f, d), value=f.value, reference=f.reference, change=f.change, plan=f.rule.plan,
                        detail=_detail(f), link=link_of(f), first_day=as_of, last_day=as_of, repeats=0,
                        recipient=person.username if person else None, recipient_role=role,
                        opened_at=now, updated_at=now)
                    ses.add(row)
                    ses.flush()
                    _event(ses, row.id, "opened", now=now, level=f.level, recipient=row.recipient, day=as_of)
                    return Outcome(row.id, f.rule.id, f.level, "opened", row.recipient)
                if as_of <= row.last_day and SEVERITY[f.level] <= SEVERITY[row.level]:
                    return Outcome(row.id, f.rule.id, row.level, "unchanged", row.recipient)
                raised = SEVERITY[f.level] > SEVERITY[row.level]
                if as_of > row.last_day:
                    row.repeats += 1
                    row.last_day = as_of
                row.value, row.reference, row.change = f.value, f.reference, f.change
                row.detail, row.link, row.updated_at = _detail(f), link_of(f), now
                if raised:
                    person, role = route(ses, f.rule, f.level)
                    row.level, row.title = f.level, title_of(f, d)
                    row.recipient, row.recipient_role = (person.username if person else None), role
                    if row.status == "acknowledged":
                        row.status = "open"  # a worse light needs a new look
                    _event(ses, row.id, "raised", now=now, level=f.level, recipient=row.recipient, day=as_of)
                else:
                    _event(ses, row.id, "repeated", now=now, level=f.level, day=as_of)
                return Outcome(row.id, f.rule.id, row.level, "raised" if raised else "repeated", row.recipient)
        except IntegrityError:
            continue  # another evaluation opened it at the same moment: it is now a repeat
    raise JingyunError("alert_conflict", f"could not open or update the alert of rule {f.rule.id}", "rule")


def _email_of(settings: Settings, ses: Session, username: str) -> str | None:
    person = ses.scalar(select(Person).where(Person.username == username))
    if person is None or not person.email_enc:
        return None
    from jingyun.security.config import load_service_settings
    from jingyun.security.crypto import FieldCipher

    return FieldCipher(load_service_settings(settings)).decrypt(person.email_enc, "email_enc")


def _deliver(store: Store, settings: Settings, rules: RuleSet, alert_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    try:  # built against the messaging contract; the inbox works without it
        messaging = importlib.import_module("jingyun.messaging")
        Message, deliver = messaging.Message, messaging.deliver
    except (ImportError, AttributeError):
        with store.session() as ses:
            _event(ses, alert_id, "inbox", now=now, note="messaging is not installed; the console inbox only")
        return []
    with store.session() as ses:
        row = ses.get(MetricAlert, alert_id)
        assert row is not None
        text, title = message_text(row, settings), row.title
        targets: list[tuple[str, str]] = []
        if row.recipient and (email := _email_of(settings, ses, row.recipient)):
            targets.append(("email", email))
        if rules.webhook:
            targets.append(("webhook", rules.webhook))
        level, recipient = row.level, row.recipient
    sent: list[dict[str, Any]] = []
    for channel, to in targets:
        msg = Message(channel=channel, to=to, subject=title, text=text, purpose="alert",
                      key=f"alert:{alert_id}:{level}:{channel}:{recipient or '-'}",
                      meta={"alert_id": alert_id, "level": level})
        try:
            got = deliver(store, settings, msg, now=now)
            sent.append({"channel": channel, "status": got.status, "delivery": got.id, "reason": got.reason})
        except JingyunError as exc:
            sent.append({"channel": channel, "status": "failed", "reason": exc.message})
    with store.session() as ses:
        for s in sent:
            _event(ses, alert_id, "sent", now=now, **s)
    return sent


METRIC_DROP = "metric_drop"  # the playbook of a falling revenue metric (业绩下滑)


def playbook_of(rule: Rule, d: Dictionary) -> str | None:
    """The playbook a red alert of ``rule`` opens: the rule's own, else ``metric_drop`` for a revenue metric
    (CNY, higher is better: a fall is lost business), else none."""
    if rule.playbook is not None:
        return rule.playbook
    m = d.metrics.get(rule.metric)
    revenue = m is not None and m.unit == "CNY" and m.direction == "higher" and rule.direction == "higher"
    return METRIC_DROP if revenue and not rule.source else None


def _incident(store: Store, settings: Settings, rules: RuleSet, d: Dictionary, alert_id: int,
              now: dt.datetime) -> int | None:
    with store.session() as ses:
        row = ses.get(MetricAlert, alert_id)
        assert row is not None
        if row.incident_id is not None:
            return row.incident_id
        rule = rules.get(row.rule_id)
        title, colour, department = row.title, row.level, row.department
        playbook = playbook_of(rule, d)
        if playbook is None:
            _event(ses, alert_id, "incident", now=now, note="the rule names no playbook: no incident opened")
            return None
    try:
        mod = importlib.import_module("jingyun.incidents")
        open_incident, level = mod.open_incident, rule.incident_level
        if level is None:
            level = mod.playbook(playbook).level_for(colour) or 2
    except (ImportError, AttributeError):
        with store.session() as ses:
            _event(ses, alert_id, "incident", now=now, note="incidents are not installed")
        return None
    except JingyunError as exc:  # a playbook the library does not (any longer) have
        with store.session() as ses:
            _event(ses, alert_id, "incident", now=now, note=exc.message)
        return None
    try:
        inc = open_incident(store, settings, playbook=playbook, level=level, title=title[:200],
                            source="alert", alert_id=alert_id, now=now, department=department or None,
                            owner=rule.owner)
    except JingyunError as exc:
        with store.session() as ses:
            _event(ses, alert_id, "incident", now=now, note=exc.message)
        return None
    with store.session() as ses:
        row = ses.get(MetricAlert, alert_id)
        assert row is not None
        row.incident_id = int(inc.id)
        _event(ses, alert_id, "incident", now=now, incident_id=int(inc.id), playbook=playbook, level=level)
    return int(inc.id)


# -- people acting on alerts -------------------------------------------------------------------------
def effective_status(row: MetricAlert, now: dt.datetime) -> str:
    if row.status == "snoozed" and row.snoozed_until is not None and row.snoozed_until <= now:
        return "open"
    return row.status


def may_act(row: MetricAlert, username: str, role: str, departments: list[str]) -> bool:
    """The recipient, a manager of the alert's department, or an admin."""
    return (role == "admin" or row.recipient == username
            or (role == "manager" and (not row.department or row.department in departments)))


def act(store: Store, alert_id: int, action: str, *, actor: str, role: str = "admin",
        departments: list[str] | None = None, until: dt.datetime | None = None, note: str = "",
        now: dt.datetime | None = None) -> MetricAlert:
    """``ack``, ``snooze`` (until a naive-UTC time) or ``resolve`` one alert."""
    now = now or utcnow()
    if action not in ("ack", "snooze", "resolve"):
        raise JingyunError("bad_action", "action must be ack, snooze or resolve", "action")
    with store.session() as ses:
        row = ses.get(MetricAlert, alert_id)
        if row is None:
            raise JingyunError("unknown_alert", f"no alert {alert_id}", "id", status=404)
        if not may_act(row, actor, role, departments or []):
            raise JingyunError("forbidden", "only the alert's recipient, a manager of its department or an admin "
                               "may act on it", "id", status=403)
        status = effective_status(row, now)
        if status == "resolved":
            raise JingyunError("alert_resolved", f"alert {alert_id} is already resolved; the rule's next breach opens "
                               "a new alert", "id", status=409)
        if action == "ack" and status == "acknowledged":
            raise JingyunError("alert_acknowledged", f"alert {alert_id} is already acknowledged (by {row.acked_by}); "
                               "snooze or resolve it", "id", status=409)
        if action == "ack":
            row.status, row.acked_by, row.acked_at = "acknowledged", actor, now
        elif action == "snooze":
            if until is None or until <= now:
                raise JingyunError("bad_until", "snooze until a time in the future, e.g. 2026-11-02T09:00", "until",
                                   status=422)
            row.status, row.snoozed_until = "snoozed", until
        else:
            row.status, row.resolved_by, row.resolved_at, row.open_key = "resolved", actor, now, None
        row.updated_at = now
        _event(ses, row.id, {"ack": "acknowledged", "snooze": "snoozed", "resolve": "resolved"}[action], actor, now,
               until=until, note=note)
        ses.flush()
        return row


@dataclass
class Page:
    total: int
    items: list[MetricAlert]


def listing(store: Store, *, status: str | None = None, level: str | None = None, department: str | None = None,
            recipient: str | None = None, rule: str | None = None, departments: list[str] | None = None,
            viewer: str | None = None, limit: int = 50, offset: int = 0, now: dt.datetime | None = None) -> Page:
    """Alerts newest first; ``status=active`` means not resolved; ``departments`` limits what a caller sees."""
    now = now or utcnow()
    if not 1 <= limit <= 500:
        raise JingyunError("bad_limit", "limit must be between 1 and 500", "limit")
    if offset < 0:
        raise JingyunError("bad_offset", "offset must be 0 or more", "offset")
    q = select(MetricAlert)
    if status == "active":
        q = q.where(MetricAlert.status != "resolved")
    elif status == "open":  # including snoozes that have run out
        q = q.where(or_(MetricAlert.status == "open",
                        (MetricAlert.status == "snoozed") & (MetricAlert.snoozed_until <= now)))
    elif status == "snoozed":
        q = q.where(MetricAlert.status == "snoozed", MetricAlert.snoozed_until > now)
    elif status is not None:
        if status not in STATUSES:
            raise JingyunError("bad_status", f"status must be active or one of {', '.join(STATUSES)}", "status")
        q = q.where(MetricAlert.status == status)
    if level is not None:
        if level not in SEVERITY:
            raise JingyunError("bad_level", "level must be green, blue, yellow or red", "level")
        q = q.where(MetricAlert.level == level)
    for col, val in ((MetricAlert.department, department), (MetricAlert.recipient, recipient),
                     (MetricAlert.rule_id, rule)):
        if val is not None:
            q = q.where(col == val)
    if departments is not None:  # what the caller may see: their departments', workspace-wide ones, their own
        q = q.where(or_(MetricAlert.department.in_(departments), MetricAlert.department == "",
                        *([MetricAlert.recipient == viewer] if viewer else [])))
    with store.session() as ses:
        total = int(ses.scalar(select(func.count()).select_from(q.subquery())) or 0)
        items = list(ses.scalars(q.order_by(MetricAlert.updated_at.desc(), MetricAlert.id.desc())
                                 .limit(limit).offset(offset)))
    return Page(total, items)


def get(store: Store, alert_id: int) -> tuple[MetricAlert, list[MetricAlertEvent]]:
    with store.session() as ses:
        row = ses.get(MetricAlert, alert_id)
        if row is None:
            raise JingyunError("unknown_alert", f"no alert {alert_id}", "id", status=404)
        events = list(ses.scalars(select(MetricAlertEvent).where(MetricAlertEvent.alert_id == alert_id)
                                  .order_by(MetricAlertEvent.id)))
    return row, events


def risk_map(store: Store, rules: RuleSet, d: Dictionary, *, departments: list[str] | None = None,
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each department's lights (风险地图): per metric, the worst alert still **open**; watched metrics without
    one are green. Acknowledged and snoozed alerts are in hand, so they no longer colour the cell: they are
    listed under ``handled`` (with their own level) and counted, so a green cell with work in progress says so.
    A snooze that has run out is open again."""
    now = now or utcnow()
    lights: dict[str, dict[str, dict[str, Any]]] = {}

    def blank(subject: str, metric: str, zh: str, en: str, unit: str) -> dict[str, Any]:
        return {"subject": subject, "metric": metric, "name": {"zh": zh, "en": en}, "level": "green",
                "alert_id": None, "rule": None, "value": None, "value_text": "", "unit": unit, "open": 0,
                "handled": []}

    for r in rules.rules:
        if r.enabled:
            zh, en = names_of(r, d)
            lights.setdefault(r.department, {}).setdefault(r.subject, blank(r.subject, r.metric, zh, en, unit_of(r, d)))
    with store.session() as ses:
        rows = list(ses.scalars(select(MetricAlert).where(MetricAlert.status != "resolved").order_by(MetricAlert.id)))
    for row in rows:
        cell = lights.setdefault(row.department, {}).setdefault(
            row.subject, blank(row.subject, row.metric, row.subject, row.subject, row.unit))
        status = effective_status(row, now)
        if status != "open":
            cell["handled"].append({"id": row.id, "level": row.level, "status": status})
            continue
        cell["open"] += 1
        if cell["alert_id"] is None or SEVERITY[row.level] > SEVERITY[cell["level"]]:
            cell.update(level=row.level, alert_id=row.id, rule=row.rule_id, value=row.value,
                        value_text=fmt.value(row.value, row.unit))
    out = []
    for dept in sorted(lights):
        if departments is not None and dept and dept not in departments:
            continue
        cells = sorted(lights[dept].values(), key=lambda c: (-SEVERITY[c["level"]], c["subject"]))
        worst = max((c["level"] for c in cells), key=lambda lv: SEVERITY[lv], default="green")
        out.append({"department": dept, "worst": worst, "lights": cells})
    return out


def alert_dict(row: MetricAlert, timezone: str, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "id": row.id, "rule": row.rule_id, "kind": row.kind, "subject": row.subject, "metric": row.metric,
        "level": row.level, "status": effective_status(row, now), "department": row.department, "title": row.title,
        "unit": row.unit, "value": row.value, "reference": row.reference, "change": row.change,
        "value_text": fmt.value(row.value, row.unit), "reference_text": fmt.value(row.reference, row.unit),
        "plan": row.plan, "link": row.link, "first_day": row.first_day.isoformat(), "last_day": row.last_day.isoformat(),
        "repeats": row.repeats, "recipient": row.recipient, "recipient_role": row.recipient_role,
        "incident_id": row.incident_id, "snoozed_until": fmt.local(row.snoozed_until, timezone),
        "acked_by": row.acked_by, "acked_at": fmt.local(row.acked_at, timezone),
        "resolved_by": row.resolved_by, "resolved_at": fmt.local(row.resolved_at, timezone),
        "opened_at": fmt.local(row.opened_at, timezone), "updated_at": fmt.local(row.updated_at, timezone),
        "detail": json.loads(row.detail or "{}"),
    }
