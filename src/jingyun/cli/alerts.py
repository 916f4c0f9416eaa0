"""``jingyun alerts rules|evaluate|list|show|ack|snooze|resolve|map``: alert rules with diagnosis and routing. 预警。"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from jingyun.cli.output import console, print_json, print_table
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.ops.alerts import format as fmt
from jingyun.ops.alerts import inbox
from jingyun.ops.alerts.service import default_day, run, workspace
from jingyun.security import cli_identity
from jingyun.store.models import Department
from jingyun.store.shared import metadata_store
from jingyun.warehouse.backends import open_backend

app = typer.Typer(help="Alert rules, the alert inbox and the risk map. 预警规则、预警收件箱与风险地图。", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")]


def _day(text: str | None, settings: Settings) -> dt.date:
    if text is None:
        return default_day(settings)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise JingyunError("bad_date", f"cannot read date {text!r}; write YYYY-MM-DD", "as-of") from None


@app.command("rules")
def rules_cmd(as_json: JSON = False) -> None:
    """The workspace's alert rules ($JINGYUN_HOME/alert_rules.yaml). 预警规则。 Example: jingyun alerts rules --json"""
    settings = load_settings()
    backend = open_backend(settings)
    try:
        _d, _targets, rules = workspace(settings, backend)
    finally:
        backend.close()
    if as_json:
        print_json({"file": rules.origin, "webhook": rules.webhook, "rules": [r.to_dict() for r in rules.rules]})
        return
    print_table(f"alert rules 预警规则 ({rules.origin})", ["id", "kind", "watches", "period", "line", "department"],
                [[r.id, r.kind, r.subject, r.period, _line(r), r.department] for r in rules.rules])


def _line(r: Any) -> str:
    if r.kind == "change":
        return f"{r.compare}: yellow {r.yellow:.0%}, red {r.red:.0%}"
    if r.kind == "anomaly":
        return f"|z| > {r.threshold}"
    if r.kind == "consecutive":
        return f"{r.op} {r.value if r.value is not None else 'target'} × {r.periods}"
    return f"{r.op} {r.value}" + (f" → {r.plan}" if r.plan else "")


@app.command("evaluate")
def evaluate_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Local day to judge (default yesterday). 评估日期")] = None,
    rule: Annotated[str | None, typer.Option(help="Only these rules (comma-separated). 仅这些规则")] = None,
    no_send: Annotated[bool, typer.Option("--no-send", help="Open alerts in the inbox but send nothing. 不发送")] = False,
    as_json: JSON = False,
) -> None:
    """Judge the rules for one day, open and route the alerts. 评估预警规则。

    Example: jingyun alerts evaluate --as-of 2026-10-31 --json
    """
    settings = load_settings()
    day = _day(as_of, settings)
    only = {r.strip() for r in rule.split(",") if r.strip()} if rule else None
    backend = open_backend(settings)
    try:
        result = run(settings, backend, metadata_store(settings), day, send=not no_send, only=only)
    finally:
        backend.close()
    if as_json:
        print_json(result.to_dict())
        return
    ev = result.evaluation
    print_table(f"alerts 预警 {day.isoformat()}", ["rule", "level", "value", "reference", "action", "to"],
                [[o.rule, o.level, fmt.value(f.value, inbox.unit_of(f.rule, result.dictionary)),
                  fmt.value(f.reference, inbox.unit_of(f.rule, result.dictionary)), o.action,
                  o.recipient or ""] for f, o in zip(ev.findings, result.outcomes, strict=True)])
    console.print(f"quiet 正常: {len(ev.quiet)}   not due 未到期: {len(ev.not_due)}   skipped 跳过: {len(ev.skipped)}")


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="active | open | acknowledged | snoozed | resolved. 状态")] = "active",
    level: Annotated[str | None, typer.Option(help="green | blue | yellow | red. 级别")] = None,
    department: Annotated[str | None, typer.Option(help="Department. 部门")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Recipient username. 接收人")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-500). 每页条数")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip. 偏移")] = 0,
    as_json: JSON = False,
) -> None:
    """Alerts, newest first. 预警列表。 Example: jingyun alerts list --level red --json"""
    settings = load_settings()
    page = inbox.listing(metadata_store(settings), status=status, level=level, department=department, recipient=to,
                         limit=limit, offset=offset)
    items = [inbox.alert_dict(r, settings.timezone) for r in page.items]
    if as_json:
        print_json({"total": page.total, "limit": limit, "offset": offset, "items": items})
        return
    print_table(f"alerts 预警 ({page.total})", ["id", "level", "status", "title", "to", "last day", "repeats"],
                [[a["id"], a["level"], a["status"], a["title"][:70], a["recipient"] or "", a["last_day"], a["repeats"]]
                 for a in items])


@app.command("show")
def show_cmd(alert_id: Annotated[int, typer.Argument(help="Alert id")], as_json: JSON = False) -> None:
    """One alert with its diagnosis and timeline. 预警详情。 Example: jingyun alerts show 3 --json"""
    settings = load_settings()
    row, events = inbox.get(metadata_store(settings), alert_id)
    data = inbox.alert_dict(row, settings.timezone)
    data["timeline"] = [{"ts": fmt.local(e.ts, settings.timezone), "kind": e.kind, "actor": e.actor,
                         "detail": e.detail} for e in events]
    if as_json:
        print_json(data)
        return
    console.print(inbox.message_text(row, settings))
    for e in data["timeline"]:
        console.print(f"{e['ts']}  {e['kind']}  {e['actor']}")


def _act(action: str, alert_id: int, until: dt.datetime | None, note: str, as_json: bool) -> None:
    settings = load_settings()
    store = metadata_store(settings)
    who = cli_identity.resolve(settings)
    if who.principal is not None:
        with store.session() as ses:
            depts = [d.name for d in ses.scalars(select(Department).where(Department.id.in_(who.principal.departments)))]
        actor, role = who.principal.name, who.principal.role
    else:  # the local operator of the workspace, as for `jingyun admin`
        actor, role, depts = who.actor, "admin", []
    row = inbox.act(store, alert_id, action, actor=actor, role=role, departments=depts, until=until, note=note)
    data = inbox.alert_dict(row, settings.timezone)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"alert {alert_id}: {data['status']}")


@app.command("ack")
def ack_cmd(alert_id: Annotated[int, typer.Argument(help="Alert id")],
            note: Annotated[str, typer.Option(help="A note for the timeline. 备注")] = "", as_json: JSON = False) -> None:
    """Acknowledge an alert. 确认预警。 Example: jingyun alerts ack 3"""
    _act("ack", alert_id, None, note, as_json)


@app.command("snooze")
def snooze_cmd(alert_id: Annotated[int, typer.Argument(help="Alert id")],
               until: Annotated[str, typer.Option(help="Local time, e.g. 2026-11-02T09:00. 暂停至")],
               note: Annotated[str, typer.Option(help="A note. 备注")] = "", as_json: JSON = False) -> None:
    """Snooze an alert until a time. 暂停预警。 Example: jingyun alerts snooze 3 --until 2026-11-02T09:00"""
    settings = load_settings()
    try:
        t = dt.datetime.fromisoformat(until)
    except ValueError:
        raise JingyunError("bad_until", f"cannot read time {until!r}; write 2026-11-02T09:00", "until") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(settings.timezone))
    _act("snooze", alert_id, t.astimezone(dt.UTC).replace(tzinfo=None), note, as_json)


@app.command("resolve")
def resolve_cmd(alert_id: Annotated[int, typer.Argument(help="Alert id")],
                note: Annotated[str, typer.Option(help="A note. 备注")] = "", as_json: JSON = False) -> None:
    """Resolve an alert. 关闭预警。 Example: jingyun alerts resolve 3 --note "budget moved" """
    _act("resolve", alert_id, None, note, as_json)


@app.command("map")
def map_cmd(as_json: JSON = False) -> None:
    """Each department's lights: the worst open alert per metric. 风险地图。 Example: jingyun alerts map --json"""
    settings = load_settings()
    backend = open_backend(settings)
    try:
        d, _targets, rules = workspace(settings, backend)
    finally:
        backend.close()
    got = inbox.risk_map(metadata_store(settings), rules, d)
    if as_json:
        print_json(got)
        return
    print_table("risk map 风险地图", ["department", "worst", "lights"],
                [[g["department"] or "—", g["worst"], ", ".join(f"{c['subject']}:{c['level']}" for c in g["lights"])]
                 for g in got])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="alerts")
