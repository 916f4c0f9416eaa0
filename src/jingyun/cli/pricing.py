"""``jingyun pricing import|match|rule|watch|propose|apply|history``: competitor prices and dynamic pricing. 竞品定价。"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from jingyun import pricing
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.pricing.views import change_dict, move_dict, proposal_dict, rule_dict
from jingyun.store.shared import metadata_store
from jingyun.warehouse.backends import open_backend

app = typer.Typer(help="Competitor prices, pricing rules and proposals. 竞品价格、定价规则与调价提案。", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")]


@app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(help="CSV: competitor,competitor_item,product_id,price,observed_at")],
               as_json: Json = False) -> None:
    """Load competitor prices; bad rows are reported by row number. 导入竞品价格。

    Example: jingyun pricing import rivals.csv --json
    """
    settings = load_settings()
    rep = pricing.import_csv(metadata_store(settings), file, tz=settings.timezone)
    if as_json:
        print_json(rep.to_dict())
        return
    typer.echo(f"received {rep.received}, stored {rep.stored}, duplicates {rep.duplicates}, errors {len(rep.errors)}")
    for e in rep.errors:
        typer.echo(f"row {e.row} [{e.field}]: {e.message}")


@app.command()
def match(competitor: Annotated[str, typer.Argument()], item: Annotated[str, typer.Argument()],
          product_id: Annotated[str, typer.Argument()]) -> None:
    """Match a competitor's item to one of our products. 商品匹配。 Example: jingyun pricing match rival_a A-1 P00001"""
    settings = load_settings()
    pricing.set_match(metadata_store(settings), competitor=competitor, competitor_item=item, product_id=product_id)
    typer.echo(f"{competitor}/{item} → {product_id}")


@app.command()
def rule(
    key: Annotated[str, typer.Argument(help="Rule key. 规则标识")],
    category: Annotated[str | None, typer.Option(help="Only products of this category. 品类")] = None,
    min_move: Annotated[str, typer.Option(help="Competitor cut beyond this fraction fires (0.05). 触发幅度")] = "0.05",
    min_cover_days: Annotated[int, typer.Option(help="Stock must cover at least N days. 库存可售天数")] = 14,
    max_cut: Annotated[str, typer.Option(help="Most we cut (0.03). 最大降幅")] = "0.03",
    margin_floor: Annotated[str, typer.Option(help="Never below cost × (1 + this). 毛利底线")] = "0.10",
    mode: Annotated[str, typer.Option(help="dry_run (approval) | auto. 模式")] = "dry_run",
    disable: Annotated[bool, typer.Option(help="Save it disabled. 停用")] = False,
    as_json: Json = False,
) -> None:
    """Create or change a pricing rule. 定价规则。 Example: jingyun pricing rule beauty --category 美妆 --min-cover-days 14"""
    settings = load_settings()
    r = pricing.save_rule(metadata_store(settings), pricing.Rule(
        key, key, category, _frac(min_move, "min_move"), min_cover_days, _frac(max_cut, "max_cut"),
        _frac(margin_floor, "margin_floor"), mode,
        not disable), created_by="cli")
    if as_json:
        print_json(rule_dict(r))
        return
    typer.echo(f"rule {r.key} saved ({r.mode}) 已保存")


def _frac(text: str, field: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise JingyunError("bad_fraction", f"{text!r} is not a fraction (0.05 = 5 %)", field) from None


def _since(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)


@app.command()
def watch(
    threshold: Annotated[str, typer.Option(help="Move beyond this fraction (0.05 = 5 %). 变动阈值")] = "0.05",
    days: Annotated[int | None, typer.Option(help="Only moves seen in the last N days. 最近天数")] = None,
    as_json: Json = False,
) -> None:
    """Competitor price moves beyond the threshold. 竞品价格异动。 Example: jingyun pricing watch --threshold 0.05 --json"""
    settings = load_settings()
    moves = pricing.competitor_moves(metadata_store(settings), threshold=_frac(threshold, "threshold"),
                                     since=_since(days) if days else None)
    rows = [move_dict(m, settings.timezone) for m in moves]
    if as_json:
        print_json({"moves": rows, "threshold": threshold})
        return
    print_table(f"competitor moves 竞品异动 ({len(rows)})", ["competitor", "item", "product", "before", "after", "change",
                                                         "observed"],
                [[r["competitor"], r["competitor_item"], r["product_id"], r["before"], r["after"], r["change"],
                  r["observed_at"]] for r in rows])


@app.command()
def propose(
    as_: Annotated[str, typer.Option("--as", help="Requester of the approvals. 申请人")],
    dry_run: Annotated[bool, typer.Option(help="Auto rules only propose too. 仅提案")] = False,
    days: Annotated[int | None, typer.Option(help="Only moves seen in the last N days. 最近天数")] = None,
    as_json: Json = False,
) -> None:
    """Run the rules over competitor moves: dry-run rules submit approvals, auto rules apply. 生成调价提案。

    Example: jingyun pricing propose --as mdir --json
    """
    settings = load_settings()
    store = metadata_store(settings)
    engine = open_backend(settings)
    try:
        made = pricing.propose(store, settings, engine, requester=as_, dry_run_only=dry_run,
                               since=_since(days) if days else None)
    finally:
        engine.close()
    _show([proposal_dict(p, settings.timezone) for p in made], as_json)


def _show(rows: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        print_json({"proposals": rows})
        return
    print_table(f"price proposals 调价提案 ({len(rows)})", ["id", "product", "current", "proposed", "status", "reason"],
                [[r["id"], r["product_id"], r["current"], r["proposed"], r["status"], r["reason"]] for r in rows])


@app.command()
def proposals(status: Annotated[str | None, typer.Option(help="pending|approved|rejected|applied")] = None,
              limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
              offset: Annotated[int, typer.Option(min=0)] = 0, as_json: Json = False) -> None:
    """List price proposals. 调价提案列表。 Example: jingyun pricing proposals --status approved"""
    settings = load_settings()
    items, _total = pricing.list_proposals(metadata_store(settings), status=status, limit=limit, offset=offset)
    _show([proposal_dict(p, settings.timezone) for p in items], as_json)


@app.command()
def apply(proposal: Annotated[int | None, typer.Option("--id", help="One proposal (default: all approved)")] = None,
          as_: Annotated[str, typer.Option("--as", help="Who applies. 执行人")] = "cli", as_json: Json = False) -> None:
    """Make approved proposals live; each change is logged with its reason. 执行调价。 Example: jingyun pricing apply --as mdir"""
    settings = load_settings()
    done = pricing.apply(metadata_store(settings), proposal_id=proposal, actor=as_)
    _show([proposal_dict(p, settings.timezone) for p in done], as_json)


@app.command()
def history(product_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """Our price changes beside the competitors' prices. 价格历史。 Example: jingyun pricing history P00003 --json"""
    settings = load_settings()
    store = metadata_store(settings)
    changes = [change_dict(c, settings.timezone) for c in pricing.changes(store, product_id)]
    data = {"product_id": product_id, "changes": changes,
            "competitors": [{"competitor": c, "competitor_item": i, "price": f"{p:.2f}",
                             "observed_at": local_iso(at, settings.timezone)}
                            for c, i, _pid, p, at in pricing.observations(store, product_id=product_id)]}
    if as_json:
        print_json(data)
        return
    print_table(f"{product_id} price changes 调价记录", ["when", "old", "new", "source", "reason"],
                [[c["changed_at"], c["old"], c["new"], c["source"], c["reason"]] for c in changes])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pricing")


