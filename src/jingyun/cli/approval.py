"""``jingyun approval submit|list|show|approve|reject|route|delegate|escalate|sla``: approvals by amount tier."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.store.shared import metadata_store

app = typer.Typer(help="Approvals by amount tier, with co-signatures, delegation and escalation. 审批。",
                  no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Exact JSON")]
Actor = Annotated[str, typer.Option("--as", help="Who acts (a person of the organisation)")]


def _request(r: Any) -> dict[str, Any]:
    return {"id": r.id, "type": r.type, "amount": str(r.amount), "title": r.title, "payload": r.payload,
            "requester": r.requester, "status": r.status, "tier": r.tier + 1, "created_at": r.created_at,
            "decided_at": r.decided_at, "steps": [s.to_dict() for s in r.steps],
            "entries": [{"ts": e.ts, "author": e.author, "kind": e.kind, "text": e.text} for e in r.entries],
            "attachments": [{"id": a.id, "filename": a.filename, "size": a.size} for a in r.attachments]}


def _show(r: Any, as_json: bool) -> None:
    if as_json:
        print_json(_request(r))
        return
    typer.echo(f"#{r.id} {r.type} ¥{r.amount:,} {r.status} — {r.title} (by {r.requester})")
    print_table("steps 审批步骤", ["stage", "position", "approver", "assignee", "status", "decided by"],
                [[s.stage, s.position, s.approver, s.assignee, s.status, s.decided_by] for s in r.steps])


@app.command()
def route(type: Annotated[str, typer.Option("--type", help="marketing, pricing, budget, journey, ...")],
          amount: Annotated[str, typer.Option("--amount", help="Yuan, exact to the fen (e.g. 100000 or 99999.99)")],
          as_json: AsJson = False) -> None:
    """The chain a request of this amount would follow. 审批链。 Example: jingyun approval route --type marketing --amount 100000 --json"""
    from jingyun import approvals

    settings = load_settings()
    steps = approvals.route(metadata_store(settings), type, amount, settings=settings)
    if as_json:
        print_json({"type": type, "amount": amount, "steps": [
            {"stage": s.stage, "position": s.position, "approver": s.approver} for s in steps]})
        return
    print_table(f"{type} ¥{amount}", ["stage", "position", "approver"],
                [[s.stage, s.position, s.approver or "(nobody)"] for s in steps])


@app.command()
def submit(type: Annotated[str, typer.Option("--type")], amount: Annotated[str, typer.Option("--amount")],
           title: Annotated[str, typer.Option("--title")], actor: Actor,
           payload: Annotated[str, typer.Option(help="A JSON object")] = "{}", as_json: AsJson = False) -> None:
    """Submit a request. 提交审批。 Example: jingyun approval submit --type marketing --amount 120000 --title 618 --as alice"""
    from jingyun import approvals

    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        raise JingyunError("bad_payload", "payload must be a JSON object", "payload") from None
    settings = load_settings()
    r = approvals.submit(metadata_store(settings), settings, type=type, amount=amount, title=title, payload=body,
                         requester=actor)
    _show(r, as_json)


@app.command("list")
def list_cmd(actor: Annotated[str | None, typer.Option("--as", help="Whose inbox")] = None,
             box: Annotated[str, typer.Option(help="to_decide, submitted or all")] = "all",
             status: Annotated[str | None, typer.Option()] = None, limit: int = 50, offset: int = 0,
             as_json: AsJson = False) -> None:
    """Requests, newest first. 审批列表。 Example: jingyun approval list --as mdir --box to_decide --json"""
    from jingyun import approvals

    if box not in ("to_decide", "submitted", "all"):
        raise JingyunError("bad_box", "box is to_decide, submitted or all", "box")
    if box != "all" and not actor:
        raise JingyunError("bad_argument", f"--box {box} needs --as", "as")
    rows, total = approvals.list_requests(metadata_store(load_settings()), person=actor, box=box,  # type: ignore[arg-type]
                                          status=status, limit=limit, offset=offset)
    if as_json:
        print_json({"total": total, "limit": limit, "offset": offset, "items": [_request(r) for r in rows]})
        return
    print_table(f"approvals 审批 ({total})", ["id", "type", "amount", "status", "title", "requester", "waiting on"],
                [[r.id, r.type, f"{r.amount:,}", r.status, r.title, r.requester, ", ".join(r.pending_with)]
                 for r in rows])


@app.command()
def show(request_id: int, as_json: AsJson = False) -> None:
    """One request with its steps and timeline. 审批详情。 Example: jingyun approval show 3"""
    from jingyun import approvals

    _show(approvals.get(metadata_store(load_settings()), request_id), as_json)


def _decide(request_id: int, actor: str, decision: str, comment: str, as_json: bool) -> None:
    from jingyun import approvals

    settings = load_settings()
    r = approvals.decide(metadata_store(settings), settings, request_id, actor=actor, decision=decision,  # type: ignore[arg-type]
                         comment=comment)
    _show(r, as_json)


@app.command()
def approve(request_id: int, actor: Actor, comment: str = "", as_json: AsJson = False) -> None:
    """Approve your step (or one delegated to you). 同意。 Example: jingyun approval approve 3 --as mdir"""
    _decide(request_id, actor, "approve", comment, as_json)


@app.command()
def reject(request_id: int, actor: Actor, comment: str = "", as_json: AsJson = False) -> None:
    """Reject: the request ends. 驳回。 Example: jingyun approval reject 3 --as fdir --comment 超预算"""
    _decide(request_id, actor, "reject", comment, as_json)


@app.command()
def delegate(actor: Actor, to: Annotated[str, typer.Option("--to")],
             until: Annotated[str, typer.Option(help="ISO date-time, workspace time if no offset")],
             type: Annotated[str | None, typer.Option("--type")] = None, as_json: AsJson = False) -> None:
    """Let someone decide for you until a time. 委托审批。 Example: jingyun approval delegate --as mdir --to mman --until 2026-10-08"""
    from zoneinfo import ZoneInfo

    from jingyun import approvals

    settings = load_settings()
    try:
        end = dt.datetime.fromisoformat(until)
    except ValueError:
        raise JingyunError("bad_time", f"{until!r} is not an ISO date or date-time", "until") from None
    if end.tzinfo is None:
        end = end.replace(tzinfo=ZoneInfo(settings.timezone))
    d = approvals.delegate(metadata_store(settings), delegator=actor, delegate=to, starts_at=dt.datetime.now(dt.UTC),
                           ends_at=end, type=type, settings=settings)
    if as_json:
        print_json(d)
    else:
        typer.echo(f"delegation {d.id}: {d.delegate} decides for {d.delegator} until {until}")


@app.command()
def escalate(as_json: AsJson = False) -> None:
    """Escalate steps unanswered past the limit (the service runs it every 15 minutes). 超时升级。 Example: jingyun approval escalate"""
    from jingyun import approvals

    settings = load_settings()
    moved = approvals.escalate_due(metadata_store(settings), settings)
    if as_json:
        print_json([{"request_id": m.request_id, "step_id": m.step_id, "from": m.from_, "to": m.to} for m in moved])
    else:
        typer.echo(f"{len(moved)} step(s) escalated")


@app.command()
def sla(as_json: AsJson = False) -> None:
    """Average time to decision and timeout rate, per type and approver. 审批时效。 Example: jingyun approval sla --json"""
    from jingyun import approvals

    stats = approvals.sla_stats(metadata_store(load_settings()))
    if as_json:
        print_json(stats.to_dict())
        return
    rows = [[kind, r.key, r.steps, r.timed_out, "" if r.avg_hours is None else f"{r.avg_hours:.1f}",
             "" if r.timeout_rate is None else f"{r.timeout_rate:.1%}"]
            for kind, group in (("all", [stats.overall]), ("type", stats.by_type), ("approver", stats.by_approver))
            for r in group]
    print_table("approval SLA 审批时效", ["by", "key", "steps", "timed out", "avg h", "timeout rate"], rows)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="approval")
