"""Pricing rules in the store, our products' state from the warehouse, proposals and the change log.

Our price is the last logged change (``price_changes``), else the warehouse ``products.price``; cost is
``products.cost``; stock is the latest ``inventory`` snapshot on or before the day, summed over locations;
daily sales are units of paid orders of real people (the shared definitions) over the 28 days before.
A dry-run rule's proposal goes to approvals (type ``pricing``, amount = the revenue given up on the stock
at hand: cut × stock); approval marks it approved and ``apply`` makes it live. An auto rule's proposal is
applied at once. Every change is logged with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from jingyun import approvals, localtime
from jingyun.approvals.money import from_cents, to_cents
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.metrics.definitions import for_settings, real_people
from jingyun.pricing.competitors import DEFAULT_THRESHOLD, Move, competitor_moves, observations
from jingyun.pricing.rules import Decision, Rule, decide
from jingyun.store import Store
from jingyun.store.budgets import PriceChangeRow, PriceProposalRow, PricingRuleRow
from jingyun.store.models import utcnow
from jingyun.warehouse.backends import Engine
from jingyun.warehouse.sqltext import date_literal, quote, ts_literal, utc_start

SALES_DAYS = 28


@dataclass(frozen=True)
class ProductState:
    product_id: str
    category: str
    price: Decimal
    cost: Decimal | None
    stock: int
    daily_units: float


@dataclass(frozen=True)
class Proposal:
    id: int
    rule: str
    product_id: str
    competitor: str
    competitor_item: str
    competitor_before: Decimal
    competitor_after: Decimal
    observed_at: dt.datetime
    current: Decimal
    proposed: Decimal
    floor: Decimal
    stock: int
    cover_days: float | None
    reason: str
    status: str
    approval_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class PriceChange:
    product_id: str
    old: Decimal
    new: Decimal
    reason: str
    source: str
    proposal_id: int | None
    changed_by: str
    changed_at: dt.datetime


def _rule(r: PricingRuleRow) -> Rule:
    return Rule(r.key, r.name, r.category, Decimal(r.min_move_bp) / 10000, r.min_cover_days,
                Decimal(r.max_cut_bp) / 10000, Decimal(r.margin_floor_bp) / 10000, r.mode, r.enabled)


def _bp(v: Decimal) -> int:
    return int((v * 10000).to_integral_value())


def save_rule(store: Store, rule: Rule, *, created_by: str = "") -> Rule:
    rule.validate()
    if not rule.key or len(rule.key) > 64:
        raise JingyunError("bad_key", "a rule key of 1-64 characters", "key", status=422)
    with store.session() as ses:
        row = ses.scalar(select(PricingRuleRow).where(PricingRuleRow.key == rule.key))
        if row is None:
            row = PricingRuleRow(key=rule.key, created_by=created_by, created_at=utcnow())
            ses.add(row)
        row.name, row.category, row.min_move_bp = rule.name or rule.key, rule.category, _bp(rule.min_move)
        row.min_cover_days, row.max_cut_bp, row.margin_floor_bp = rule.min_cover_days, _bp(rule.max_cut), \
            _bp(rule.margin_floor)
        row.mode, row.enabled = rule.mode, rule.enabled
        ses.flush()
        return _rule(row)


def rules(store: Store) -> list[Rule]:
    with store.session() as ses:
        return [_rule(r) for r in ses.scalars(select(PricingRuleRow).order_by(PricingRuleRow.key))]


def _last_prices(store: Store, ids: list[str]) -> dict[str, Decimal]:
    with store.session() as ses:
        last = (select(PriceChangeRow.product_id, func.max(PriceChangeRow.id).label("mid"))
                .where(PriceChangeRow.product_id.in_(ids)).group_by(PriceChangeRow.product_id).subquery())
        rows = ses.execute(select(PriceChangeRow.product_id, PriceChangeRow.new_cents)
                           .join(last, PriceChangeRow.id == last.c.mid))
        return {pid: from_cents(c) for pid, c in rows}


def product_states(store: Store, settings: Settings, engine: Engine, ids: list[str], day: dt.date,
                   ) -> dict[str, ProductState]:
    """Our price, cost, stock on ``day`` and recent daily sales for each product."""
    if not ids:
        return {}
    inlist = ", ".join(quote(i) for i in sorted(set(ids)))
    defs = for_settings(settings)
    start = day - dt.timedelta(days=SALES_DAYS)
    # local days → UTC bounds of the order timestamps
    lo = utc_start(start + dt.timedelta(days=1), settings.timezone)
    hi = utc_start(day + dt.timedelta(days=1), settings.timezone)
    sql = f"""
WITH inv AS (
  SELECT product_id, SUM(quantity) AS stock FROM inventory i
  WHERE product_id IN ({inlist}) AND snapshot_date = (
    SELECT MAX(snapshot_date) FROM inventory j WHERE j.product_id = i.product_id
      AND j.snapshot_date <= {date_literal(day)})
  GROUP BY product_id),
sold AS (
  SELECT it.product_id, SUM(it.quantity) AS units FROM order_items it JOIN orders o ON o.order_id = it.order_id
  WHERE it.product_id IN ({inlist}) AND {defs.paid_orders.where("o")} AND {real_people("o")}
    AND o.ts >= {ts_literal(lo)} AND o.ts < {ts_literal(hi)}
  GROUP BY it.product_id)
SELECT p.product_id, p.category, p.price, p.cost, COALESCE(inv.stock, 0), COALESCE(sold.units, 0)
FROM products p LEFT JOIN inv ON inv.product_id = p.product_id LEFT JOIN sold ON sold.product_id = p.product_id
WHERE p.product_id IN ({inlist})"""
    logged = _last_prices(store, ids)
    out = {}
    for pid, cat, price, cost, stock, units in engine.rows(sql):
        out[str(pid)] = ProductState(
            str(pid), str(cat), logged.get(str(pid), Decimal(str(price)).quantize(Decimal("0.01"))),
            None if cost is None else Decimal(str(cost)), int(stock), float(units) / SALES_DAYS)
    return out


def _view(r: PriceProposalRow, rule_key: str) -> Proposal:
    return Proposal(r.id, rule_key, r.product_id, r.competitor, r.competitor_item,
                    from_cents(r.competitor_before_cents), from_cents(r.competitor_after_cents), r.observed_at,
                    from_cents(r.current_cents), from_cents(r.proposed_cents), from_cents(r.floor_cents), r.stock,
                    r.cover_days, r.reason, r.status, r.approval_id, r.created_at)


def propose(store: Store, settings: Settings, engine: Engine, *, since: dt.datetime | None = None,
            until: dt.datetime | None = None, requester: str, dry_run_only: bool = False,
            threshold: Decimal = DEFAULT_THRESHOLD, now: dt.datetime | None = None) -> list[Proposal]:
    """Run the enabled rules over competitor moves observed in (since, until]. Each rule answers a product
    once a local day, for its deepest competitor cut. Idempotent: a move a rule has already answered is not
    proposed again. ``dry_run_only`` treats auto rules as dry-run (a preview)."""
    at = now or utcnow()
    active = [r for r in rules(store) if r.enabled]
    if not active:
        return []
    moves = [m for m in competitor_moves(store, threshold=min([threshold, *(r.min_move for r in active)]),
                                         since=since, until=until) if m.after < m.before]
    created: list[Proposal] = []
    by_day: dict[dt.date, list[Move]] = {}
    for m in moves:
        day = localtime.aware(m.observed_at, settings.timezone).date()
        by_day.setdefault(day, []).append(m)
    for day, ms in sorted(by_day.items()):
        states = product_states(store, settings, engine, [m.product_id for m in ms], day)
        answered: set[tuple[str, str]] = set()  # one proposal per rule and product a day: the deepest cut
        for m in sorted(ms, key=lambda m: m.change):
            st = states.get(m.product_id)
            if st is None:
                continue
            for rule in active:
                if rule.category and rule.category != st.category:
                    continue
                d = decide(rule, current=st.price, cost=st.cost, stock=st.stock, daily_units=st.daily_units,
                           competitor_before=m.before, competitor_after=m.after)
                if d is None or (rule.key, m.product_id) in answered:
                    continue
                answered.add((rule.key, m.product_id))
                trigger = f"{rule.key}|{m.product_id}|{m.competitor}|{m.competitor_item}|{m.observed_at.isoformat()}"
                created_one = _record(store, settings, rule, m, st, d, trigger, requester, at,
                                      auto=rule.mode == "auto" and not dry_run_only)
                if created_one is not None:
                    created.append(created_one)
    return created


def _record(store: Store, settings: Settings, rule: Rule, m: Move, st: ProductState, d: Decision, trigger: str,
            requester: str, at: dt.datetime, *, auto: bool) -> Proposal | None:
    with store.session() as ses:
        if ses.scalar(select(PriceProposalRow.id).where(PriceProposalRow.trigger_key == trigger)) is not None:
            return None
        rule_id = ses.scalar(select(PricingRuleRow.id).where(PricingRuleRow.key == rule.key))
        row = PriceProposalRow(
            trigger_key=trigger, rule_id=rule_id, product_id=st.product_id, competitor=m.competitor,
            competitor_item=m.competitor_item, competitor_before_cents=to_cents(m.before),
            competitor_after_cents=to_cents(m.after), observed_at=m.observed_at, current_cents=to_cents(st.price),
            proposed_cents=to_cents(d.proposed), floor_cents=to_cents(d.floor), stock=st.stock,
            cover_days=d.cover_days, reason=f"[{rule.key}] {d.reason}", status="pending", created_at=at)
        ses.add(row)
        ses.flush()
        pid = row.id
    if auto:
        _apply(store, pid, actor="auto", source="auto", at=at)
    else:
        stake = ((st.price - d.proposed) * max(st.stock, 0)).quantize(Decimal("0.01"))
        req = approvals.submit(store, settings, type="pricing", amount=stake,
                               title=f"调价 price {st.product_id} ¥{st.price} → ¥{d.proposed}"[:200],
                               payload={"proposal_id": pid, "product_id": st.product_id}, requester=requester, now=at)
        with store.session() as ses:
            r = ses.get(PriceProposalRow, pid)
            assert r is not None
            r.approval_id = req.id
    return get(store, pid)


def get(store: Store, proposal_id: int) -> Proposal:
    with store.session() as ses:
        r = ses.get(PriceProposalRow, proposal_id)
        if r is None:
            raise JingyunError("not_found", f"no price proposal {proposal_id}", "id", status=404)
        key = ses.scalar(select(PricingRuleRow.key).where(PricingRuleRow.id == r.rule_id)) or ""
        return _view(r, key)


def list_proposals(store: Store, *, status: str | None = None, product_id: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[Proposal], int]:
    sync(store)
    with store.session() as ses:
        q = select(PriceProposalRow)
        if status:
            q = q.where(PriceProposalRow.status == status)
        if product_id:
            q = q.where(PriceProposalRow.product_id == product_id)
        total = ses.scalar(select(func.count()).select_from(q.subquery())) or 0
        keys = dict(ses.execute(select(PricingRuleRow.id, PricingRuleRow.key)).tuples().all())
        rows = ses.scalars(q.order_by(PriceProposalRow.id.desc()).limit(limit).offset(offset))
        return [_view(r, keys.get(r.rule_id, "")) for r in rows], total


def _apply(store: Store, proposal_id: int, *, actor: str, source: str, at: dt.datetime) -> None:
    with store.session() as ses:
        r = ses.get(PriceProposalRow, proposal_id)
        assert r is not None
        r.status, r.decided_at = "applied", at
        ses.add(PriceChangeRow(product_id=r.product_id, old_cents=r.current_cents, new_cents=r.proposed_cents,
                               reason=r.reason, source=source, proposal_id=r.id, changed_by=actor, changed_at=at))


def apply(store: Store, *, proposal_id: int | None = None, actor: str, now: dt.datetime | None = None,
          ) -> list[Proposal]:
    """Make approved proposals live (one, or all approved): log each change with its reason."""
    sync(store)
    at = now or utcnow()
    with store.session() as ses:
        q = select(PriceProposalRow.id, PriceProposalRow.status)
        q = q.where(PriceProposalRow.id == proposal_id) if proposal_id else q.where(PriceProposalRow.status == "approved")
        rows = list(ses.execute(q).tuples())
    if proposal_id and not rows:
        raise JingyunError("not_found", f"no price proposal {proposal_id}", "id", status=404)
    done = []
    for pid, status in rows:
        if status != "approved":
            raise JingyunError("not_approved", f"proposal {pid} is {status}; only an approved proposal is applied",
                               "id", status=409)
        _apply(store, pid, actor=actor, source="approval", at=at)
        done.append(get(store, pid))
    return done


def set_price(store: Store, *, product_id: str, old: Decimal, new: Decimal, reason: str, actor: str,
              now: dt.datetime | None = None) -> None:
    if not reason.strip():
        raise JingyunError("bad_reason", "every price change says why", "reason", status=422)
    with store.session() as ses:
        ses.add(PriceChangeRow(product_id=product_id, old_cents=to_cents(old), new_cents=to_cents(new),
                               reason=reason, source="manual", proposal_id=None, changed_by=actor,
                               changed_at=now or utcnow()))


def changes(store: Store, product_id: str) -> list[PriceChange]:
    with store.session() as ses:
        return [PriceChange(r.product_id, from_cents(r.old_cents), from_cents(r.new_cents), r.reason, r.source,
                            r.proposal_id, r.changed_by, r.changed_at)
                for r in ses.scalars(select(PriceChangeRow).where(PriceChangeRow.product_id == product_id)
                                     .order_by(PriceChangeRow.changed_at, PriceChangeRow.id))]


def history(store: Store, product_id: str) -> dict[str, list[tuple[dt.datetime, Decimal]]]:
    """Our price changes and each competitor item's observations, for the price history chart."""
    series: dict[str, list[tuple[dt.datetime, Decimal]]] = {"ours": []}
    ch = changes(store, product_id)
    for c in ch:
        series["ours"].append((c.changed_at, c.new))
    for comp, item, _pid, price, at in observations(store, product_id=product_id):
        series.setdefault(f"{comp}/{item}", []).append((at, price))
    return series


def _on_decision(store: Store, request: approvals.ApprovalRequest) -> None:
    _settle(store, request.id, request.status, request.decided_at)


def _settle(store: Store, approval_id: int, status: str, at: dt.datetime | None) -> None:
    with store.session() as ses:
        r = ses.scalar(select(PriceProposalRow).where(PriceProposalRow.approval_id == approval_id))
        if r is not None and r.status == "pending" and status in ("approved", "rejected"):
            r.status, r.decided_at = status, at or utcnow()


def sync(store: Store) -> None:
    """Settle proposals whose approval was decided where this module's callback was not loaded."""
    with store.session() as ses:
        ids = list(ses.scalars(select(PriceProposalRow.approval_id).where(PriceProposalRow.status == "pending",
                                                                          PriceProposalRow.approval_id.is_not(None))))
    for aid in ids:
        assert aid is not None
        req = approvals.get(store, aid)
        if req.status != "pending":
            _settle(store, aid, req.status, req.decided_at)


approvals.on_decision("pricing", _on_decision)
