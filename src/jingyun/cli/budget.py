"""``jingyun budget plan|status|release|optimize``: budgets with a reserve pool and the allocation optimiser. 预算。"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import typer

from jingyun import budgets
from jingyun.approvals.money import parse_amount
from jingyun.budgets.allocate import Bounds
from jingyun.budgets.optimize import optimize as run_optimize
from jingyun.budgets.views import budget_dict, overspend_dict, proposal_dict, status_dict
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.store.shared import metadata_store
from jingyun.warehouse.backends import open_backend

app = typer.Typer(help="Budgets, reserve, burn-down and the optimiser. 预算、预留金、消耗与分配优化。", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")]


def _day(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_date", f"{value!r} is not a date (YYYY-MM-DD)", field) from None


@app.command()
def plan(
    key: Annotated[str, typer.Option(help="Budget key, e.g. 2026Q4. 预算标识")],
    total: Annotated[str, typer.Option(help="Total in yuan. 总额")],
    date_from: Annotated[str, typer.Option("--from", help="First local day. 开始日期")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day, included. 结束日期")],
    line: Annotated[list[str], typer.Option(help="department/channel[/campaign]=amount, repeatable. 预算行")],
    reserve: Annotated[str, typer.Option(help="Reserve pool percent held back. 预留比例")] = "15",
    name: Annotated[str, typer.Option(help="Display name. 名称")] = "",
    as_json: Json = False,
) -> None:
    """Create or re-plan a budget; the lines may not touch the reserve. 制定预算。

    Example: jingyun budget plan --key 2026Q4 --total 1000000 --from 2026-10-01 --to 2026-12-31 --line marketing/feed_ads=500000 --line marketing/search=350000
    """
    settings = load_settings()
    specs = [budgets.LineSpec.parse(text, f"line[{i}]") for i, text in enumerate(line)]
    b = budgets.plan(metadata_store(settings), key=key, total=total, period_start=date_from, period_end=date_to,
                     lines=specs, name=name, reserve_pct=reserve, created_by="cli")
    if as_json:
        print_json(budget_dict(b, settings.timezone))
        return
    typer.echo(f"budget {b.key}: planned ¥{b.planned:,} of ¥{b.allocatable:,} plannable; reserve ¥{b.reserve:,} 已保存")


@app.command()
def status(
    key: Annotated[str | None, typer.Argument(help="Budget key; all budgets when left out. 预算标识")] = None,
    as_of: Annotated[str | None, typer.Option(help="Local day of the status (default: period end or today). 截至日期")] = None,
    as_json: Json = False,
) -> None:
    """Planned vs actual per line, the burn-down by local day, and over-spend. 预算执行、消耗与超支。

    Example: jingyun budget status 2026Q4 --as-of 2026-11-15 --json
    """
    settings = load_settings()
    store = metadata_store(settings)
    items = [budgets.get(store, key)] if key else budgets.list_budgets(store, limit=1000)[0]
    day = _day(as_of, "as_of")
    engine = open_backend(settings)
    try:
        statuses = [budgets.status(engine, b, as_of=day) for b in items]
        over = [o for st in statuses for o in budgets.overspend(engine, [st.budget], as_of=st.as_of)]
    finally:
        engine.close()
    if as_json:
        print_json({"budgets": [status_dict(s, settings.timezone) for s in statuses],
                    "overspend": [overspend_dict(o) for o in over]})
        return
    for st in statuses:
        print_table(f"{st.budget.key} as of {st.as_of} 预算执行", ["line", "available", "to date", "actual", "remaining"],
                    [["/".join(p for p in (ls.line.department, ls.line.channel, ls.line.campaign) if p),
                      ls.line.available, ls.planned_to_date, ls.actual, ls.remaining] for ls in st.lines])
    for o in over:
        typer.echo(f"{'超支 over' if o.kind == 'over' else '超速 ahead of plan'}: {o.budget} {o.department}/{o.channel}"
                   f"{'/' + o.campaign if o.campaign else ''} by ¥{o.over_by:,}")


@app.command()
def release(
    key: Annotated[str, typer.Argument(help="Budget key. 预算标识")],
    line: Annotated[str, typer.Option(help="department/channel[/campaign] receiving the money. 预算行")],
    amount: Annotated[str, typer.Option(help="Yuan to move from the reserve. 金额")],
    reason: Annotated[str, typer.Option(help="Why. 理由")],
    as_: Annotated[str, typer.Option("--as", help="Requester (a person of the organisation). 申请人")],
    as_json: Json = False,
) -> None:
    """Ask to release reserve money to a line; an approval (type budget) decides. 申请释放预留金。

    Example: jingyun budget release 2026Q4 --line marketing/search --amount 100000 --reason "search ROI" --as alice
    """
    settings = load_settings()
    r = budgets.request_release(metadata_store(settings), settings, key=key, line=line, amount=amount, reason=reason,
                                requested_by=as_)
    if as_json:
        print_json({"id": r.id, "status": r.status, "approval_id": r.approval_id, "amount": f"{r.amount:.2f}"})
        return
    typer.echo(f"release #{r.id} ¥{r.amount:,} waits for approval #{r.approval_id} 待审批")


def _bounds(items: list[str], field: str) -> dict[str, Decimal]:
    out = {}
    for text in items:
        chan, sep, value = text.partition("=")
        if not sep or not chan.strip():
            raise JingyunError("bad_bound", f"{text!r}: write channel=amount (yuan for the whole period)", field)
        out[chan.strip()] = parse_amount(value.strip(), field)
    return out


@app.command()
def optimize(
    total: Annotated[str, typer.Option(help="Money to split, yuan. 总预算")],
    days: Annotated[int, typer.Option(min=1, help="Days the money covers. 天数")] = 30,
    floor: Annotated[list[str] | None, typer.Option(help="channel=amount at least, repeatable. 下限")] = None,
    cap: Annotated[list[str] | None, typer.Option(help="channel=amount at most, repeatable. 上限")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="History from (local day). 历史开始")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="History to (local day). 历史结束")] = None,
    channels: Annotated[str | None, typer.Option(help="Comma-separated channels (default all). 渠道")] = None,
    as_json: Json = False,
) -> None:
    """Fit response curves and propose the split with expected ROI and its 90 % interval. 分配优化。

    Example: jingyun budget optimize --total 75000 --days 30 --floor referral=3000 --cap kol=20000 --json
    """
    settings = load_settings()
    fl, cp = _bounds(floor or [], "floor"), _bounds(cap or [], "cap")
    bounds = {c: Bounds(float(fl.get(c, 0)), float(cp[c]) if c in cp else float("inf")) for c in {*fl, *cp}}
    engine = open_backend(settings)
    try:
        prop = run_optimize(engine, total=parse_amount(total, "total"), days=days, bounds=bounds,
                            start=_day(date_from, "from"), end=_day(date_to, "to"),
                            channels=[c.strip() for c in channels.split(",") if c.strip()] if channels else None)
    finally:
        engine.close()
    data = proposal_dict(prop)
    if as_json:
        print_json(data)
        return
    print_table(f"proposal 分配建议 ¥{data['total']} / {days} days", ["channel", "proposed", "per day", "ROI",
                                                                   "ROI 90%", "marginal ROI"],
                [[c["channel"], c["proposed"], c["daily"], c["roi"], c["roi_interval_90"], c["marginal_roi"]]
                 for c in data["channels"]])
    typer.echo(f"expected return 预期回报 ¥{data['expected_return']:,} (90%: {data['return_interval_90']}); "
               f"current split 现有分配 ¥{data['current_split_return']}")
    for chan, why in data["skipped"].items():
        typer.echo(f"skipped {chan}: {why}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="budget")
