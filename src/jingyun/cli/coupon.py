"""``jingyun coupon create|list|issue|report|thresholds``: coupon templates, codes and their measured effect. 优惠券。"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun import coupons
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.coupons.report import report, thresholds
from jingyun.coupons.views import issued_dict, report_dict, template_dict, thresholds_dict
from jingyun.errors import JingyunError
from jingyun.store.shared import metadata_store
from jingyun.warehouse.backends import open_backend

app = typer.Typer(help="Coupons: templates, codes, redemption and lift. 优惠券:模板、发券、核销与增量。", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")]


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.1f}%"


def _holdout(path: Path | None) -> list[str] | None:
    """User ids, one per line (a CSV's first column; a header ``user_id`` is skipped)."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise JingyunError("bad_holdout", f"cannot read {path}: {exc.strerror}", "holdout") from None
    ids = [line.split(",")[0].strip() for line in lines]
    ids = [i for i in ids if i and i != "user_id"]
    if not ids:
        raise JingyunError("bad_holdout", f"{path} holds no user ids (one per line)", "holdout")
    return ids


@app.command()
def create(
    key: Annotated[str, typer.Option(help="Template key, e.g. new-200-30. 模板标识")],
    kind: Annotated[str, typer.Option(help="threshold (满X减Y) | percent | free_shipping. 类型")],
    name: Annotated[str | None, typer.Option(help="Display name. 名称")] = None,
    threshold: Annotated[str | None, typer.Option(help="Minimum spend X in yuan (满X). 门槛")] = None,
    amount_off: Annotated[str | None, typer.Option(help="Amount off Y in yuan (减Y). 减免金额")] = None,
    percent_off: Annotated[str | None, typer.Option(help="Percent off, e.g. 15 (8.5折). 折扣百分比")] = None,
    cap: Annotated[str | None, typer.Option(help="Most one percent coupon may take off. 封顶")] = None,
    shipping: Annotated[str | None, typer.Option(help="Shipping fee a free-shipping coupon waives. 运费")] = None,
    valid_from: Annotated[str | None, typer.Option(help="First local day valid (YYYY-MM-DD). 生效日")] = None,
    valid_until: Annotated[str | None, typer.Option(help="Last local day valid, included. 截止日")] = None,
    valid_days: Annotated[int | None, typer.Option(help="Or: days valid from issue, to local midnight. 领取后有效天数")] = None,
    budget: Annotated[str | None, typer.Option(help="Total discount the codes may cost, yuan. 预算")] = None,
    stock: Annotated[int | None, typer.Option(help="Most codes to issue. 库存")] = None,
    per_user: Annotated[int, typer.Option(help="Codes one person may hold. 每人限领")] = 1,
    as_json: Json = False,
) -> None:
    """Create a coupon template. 创建优惠券模板。

    Example: jingyun coupon create --key new-200-30 --kind threshold --threshold 200 --amount-off 30 --valid-days 7 --stock 1000 --budget 30000
    """
    settings = load_settings()
    data: dict[str, Any] = {k: v for k, v in {
        "key": key, "kind": kind, "name": name, "threshold": threshold, "amount_off": amount_off,
        "percent_off": percent_off, "cap": cap, "shipping": shipping, "valid_from": valid_from,
        "valid_until": valid_until, "valid_days": valid_days, "budget": budget, "stock": stock, "per_user": per_user,
    }.items() if v is not None}
    t = coupons.create_template(metadata_store(settings), settings, data, created_by="cli")
    if as_json:
        print_json(template_dict(t, settings.timezone))
        return
    typer.echo(f"created coupon template {t.key} ({t.spec.kind}) 已创建")


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="active | paused | ended")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size. 每页条数")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip. 跳过条数")] = 0,
    as_json: Json = False,
) -> None:
    """Coupon templates, newest first, with stock and budget left. 优惠券模板列表。 Example: jingyun coupon list --json"""
    settings = load_settings()
    items, total = coupons.list_templates(metadata_store(settings), status=status, limit=limit, offset=offset)
    rows = [template_dict(t, settings.timezone) for t in items]
    if as_json:
        print_json({"items": rows, "total": total, "limit": limit, "offset": offset})
        return
    print_table(f"coupons 优惠券 ({total})", ["key", "kind", "status", "threshold", "off", "valid", "issued", "stock left",
                                          "budget left"],
                [[r["key"], r["kind"], r["status"], r["threshold"], r["amount_off"] or r["percent_off"] or r["shipping"],
                  f"{r['valid_days']} days" if r["valid_days"] else f"{r['valid_from']} – {r['valid_until']}",
                  r["issued"], r["remaining_stock"], r["remaining_budget"]] for r in rows])


@app.command()
def issue(
    template: Annotated[str, typer.Argument(help="Template key. 模板")],
    user_id: Annotated[str, typer.Argument(help="The person the code is for. 用户ID")],
    key: Annotated[str | None, typer.Option(help="Idempotency key: the same key returns the same code. 幂等键")] = None,
    as_json: Json = False,
) -> None:
    """Issue one code to one person (for ops). 发放一张券。 Example: jingyun coupon issue new-200-30 u123 --key ops:2026-10-01:u123"""
    settings = load_settings()
    c = coupons.issue(metadata_store(settings), settings, template, user_id, key=key, issued_by="cli")
    if as_json:
        print_json(issued_dict(c, settings.timezone))
        return
    typer.echo(f"{c.display} → {c.user_id}" + ("" if c.created else " (already issued for this key 已发放)"))


def _warehouse_run(fn: Any) -> Any:
    settings = load_settings()
    backend = open_backend(settings)
    try:
        return fn(settings, metadata_store(settings), backend)
    finally:
        backend.close()


@app.command("report")
def report_cmd(
    template: Annotated[list[str] | None, typer.Option(help="Only these templates (repeatable). 模板")] = None,
    holdout: Annotated[Path | None, typer.Option(help="File of held-out user ids, one per line. 对照组")] = None,
    margin_rate: Annotated[float | None, typer.Option(help="Gross margin rate (default: the workspace's). 毛利率")] = None,
    as_json: Json = False,
) -> None:
    """Issued, redeemed, rate, discount cost and incremental GMV against the holdout. 优惠券效果报告。

    Example: jingyun coupon report --template new-200-30 --holdout holdout.txt --json
    """
    ids = _holdout(holdout)
    rep = _warehouse_run(lambda s, st, b: report(st, s, b, templates=template, holdout=ids, margin_rate=margin_rate))
    data = report_dict(rep)
    if as_json:
        print_json(data)
        return
    print_table("coupon report 优惠券报告", ["template", "issued", "redeemed", "rate", "cost", "incr. GMV", "95% CI", "net"],
                [[r["template"], r["issued"], r["redeemed"], _pct(r["redemption_rate"]), r["discount_cost"],
                  "" if not r["lift"] else f"{r['lift']['incremental_gmv']:.2f}",
                  "" if not r["lift"] else "[{:.2f}, {:.2f}]".format(*r["lift"]["incremental_gmv_ci"]),
                  "" if r["net"] is None else f"{r['net']:.2f}"] for r in data["templates"]])


@app.command("thresholds")
def thresholds_cmd(
    template: Annotated[list[str] | None, typer.Option(help="满X减Y templates to compare (default: all). 模板")] = None,
    holdout: Annotated[Path | None, typer.Option(help="File of held-out user ids, one per line. 对照组")] = None,
    margin_rate: Annotated[float | None, typer.Option(help="Gross margin rate (default: the workspace's). 毛利率")] = None,
    bins: Annotated[int, typer.Option(help="Bins of the order-value distribution (even). 分箱数")] = 10,
    as_json: Json = False,
) -> None:
    """Which 满X减Y threshold redeems best and pays back, with order values around each. 门槛分析。

    Example: jingyun coupon thresholds --holdout holdout.txt --json
    """
    ids = _holdout(holdout)
    res = _warehouse_run(lambda s, st, b: thresholds(st, s, b, templates=template, holdout=ids,
                                                     margin_rate=margin_rate, bins=bins))
    data = thresholds_dict(res)
    if as_json:
        print_json(data)
        return
    print_table("满X减Y thresholds 门槛分析", ["template", "X", "Y", "rate", "cost", "net", "just below", "just above"],
                [[r["template"], r["threshold"], r["amount_off"], _pct(r["redemption_rate"]), r["discount_cost"],
                  "" if r["net"] is None else f"{r['net']:.2f}", r["just_below"], r["just_above"]]
                 for r in data["thresholds"]])
    typer.echo(f"best redemption 核销率最高: {data['best_redemption']}; best payback 回报最高: {data['best_payback']}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="coupon")
