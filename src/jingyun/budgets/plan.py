"""Budgets per department, channel and campaign, with a reserve pool only an approval releases.

A budget of total T keeps ``reserve`` (default 15 %) of T aside: the lines may plan at most
T - reserve + what approved releases moved out of it. A release is a request (approvals type
``budget``); the approval's decision callback applies it. :func:`sync_releases` applies decisions the
callback did not see (a process that decided without this module imported), so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from jingyun import approvals
from jingyun.approvals.money import from_cents, parse_amount, to_cents
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store
from jingyun.store.budgets import BudgetLineRow, BudgetReleaseRow, BudgetRow
from jingyun.store.models import utcnow

DEFAULT_RESERVE = Decimal("15")


@dataclass(frozen=True)
class LineSpec:
    department: str
    channel: str
    campaign: str
    amount: Decimal

    @classmethod
    def parse(cls, text: str, field: str = "line") -> LineSpec:
        """``department/channel[/campaign]=amount``, e.g. ``marketing/feed_ads=200000``."""
        where, sep, amount = text.partition("=")
        parts = [p.strip() for p in where.split("/")]
        if not sep or len(parts) not in (2, 3) or not all(parts):
            raise JingyunError("bad_line", f"{text!r}: write department/channel[/campaign]=amount, "
                               "e.g. marketing/feed_ads=200000", field, status=422)
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "", parse_amount(amount.strip(), field))


@dataclass(frozen=True)
class Line:
    id: int
    department: str
    channel: str
    campaign: str
    planned: Decimal
    released: Decimal

    @property
    def available(self) -> Decimal:
        return self.planned + self.released


@dataclass(frozen=True)
class Release:
    id: int
    line_id: int
    amount: Decimal
    reason: str
    requested_by: str
    status: str
    approval_id: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class Budget:
    id: int
    key: str
    name: str
    period_start: dt.date
    period_end: dt.date
    total: Decimal
    reserve_pct: Decimal
    lines: tuple[Line, ...]
    releases: tuple[Release, ...]
    created_at: dt.datetime

    @property
    def reserve(self) -> Decimal:
        return (self.total * self.reserve_pct / 100).quantize(Decimal("0.01"))

    @property
    def released(self) -> Decimal:
        return sum((r.amount for r in self.releases if r.status == "approved"), Decimal("0.00"))

    @property
    def reserve_left(self) -> Decimal:
        return self.reserve - self.released

    @property
    def allocatable(self) -> Decimal:
        """What the lines may plan without touching the reserve."""
        return self.total - self.reserve

    @property
    def planned(self) -> Decimal:
        return sum((ln.planned for ln in self.lines), Decimal("0.00"))

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days + 1


def _reserve_bp(pct: Decimal | str) -> int:
    try:
        value = Decimal(str(pct))
    except ArithmeticError:
        raise JingyunError("bad_reserve", f"{pct!r} is not a percentage", "reserve", status=422) from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100) or value != value.quantize(Decimal("0.01")):
        raise JingyunError("bad_reserve", "the reserve is a percentage from 0 to 100 (at most two decimals)",
                           "reserve", status=422)
    return int(value * 100)


def _view(ses: object, row: BudgetRow) -> Budget:
    from sqlalchemy.orm import Session

    assert isinstance(ses, Session)
    lines = ses.scalars(select(BudgetLineRow).where(BudgetLineRow.budget_id == row.id)
                        .order_by(BudgetLineRow.department, BudgetLineRow.channel, BudgetLineRow.campaign))
    rel = ses.scalars(select(BudgetReleaseRow).where(BudgetReleaseRow.budget_id == row.id).order_by(BudgetReleaseRow.id))
    return Budget(
        row.id, row.key, row.name, row.period_start, row.period_end, from_cents(row.total_cents),
        Decimal(row.reserve_bp) / 100,
        tuple(Line(ln.id, ln.department, ln.channel, ln.campaign, from_cents(ln.planned_cents),
                   from_cents(ln.released_cents)) for ln in lines),
        tuple(Release(r.id, r.line_id, from_cents(r.amount_cents), r.reason, r.requested_by, r.status, r.approval_id,
                      r.created_at, r.decided_at) for r in rel),
        row.created_at,
    )


def _date(value: dt.date | str, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise JingyunError("bad_date", f"{value!r} is not a date (YYYY-MM-DD)", field, status=422) from None


def plan(store: Store, *, key: str, total: Decimal | str, period_start: dt.date | str, period_end: dt.date | str,
         lines: list[LineSpec], name: str = "", reserve_pct: Decimal | str = DEFAULT_RESERVE,
         created_by: str = "") -> Budget:
    """Create a budget, or re-plan one (same key): its lines are replaced. Lines may not touch the reserve."""
    key = (key or "").strip()
    if not key or len(key) > 64:
        raise JingyunError("bad_key", "a budget key of 1-64 characters names it, e.g. 2026Q4", "key", status=422)
    money = parse_amount(total, "total")
    bp = _reserve_bp(reserve_pct)
    start, end = _date(period_start, "from"), _date(period_end, "to")
    if end < start:
        raise JingyunError("bad_period", f"the period ends ({end}) before it starts ({start})", "to", status=422)
    seen: set[tuple[str, str, str]] = set()
    for i, ln in enumerate(lines):
        k = (ln.department, ln.channel, ln.campaign)
        if k in seen:
            raise JingyunError("duplicate_line", f"line {i + 1} repeats {'/'.join(p for p in k if p)}",
                               f"lines[{i}]", status=422)
        seen.add(k)
    whole = [(ln.department, ln.channel) for ln in lines if not ln.campaign]
    for dept, chan in whole:
        others = sorted({d for d, c in whole if c == chan} - {dept})
        if others:
            raise JingyunError("ambiguous_channel", f"channel {chan} is planned whole by {dept} and {others[0]}; a "
                               "channel's spend belongs to one line, so split it by campaign", "lines", status=422)
    with store.session() as ses:
        row = ses.scalar(select(BudgetRow).where(BudgetRow.key == key))
        if row is None:
            row = BudgetRow(key=key, name=name or key, period_start=start, period_end=end, total_cents=to_cents(money),
                            reserve_bp=bp, created_by=created_by, created_at=utcnow())
            ses.add(row)
            ses.flush()
        else:
            row.name, row.period_start, row.period_end = name or row.name, start, end
            row.total_cents, row.reserve_bp = to_cents(money), bp
        reserve = to_cents(money) * bp // 10000
        wanted = sum(to_cents(ln.amount) for ln in lines)
        if wanted > to_cents(money) - reserve:
            raise JingyunError(
                "reserve_locked",
                f"the lines plan ¥{from_cents(wanted):,} but only ¥{from_cents(to_cents(money) - reserve):,} is "
                f"plannable: ¥{from_cents(reserve):,} is the reserve ({Decimal(bp) / 100}%), which only an approved "
                "release moves (jingyun budget release)", "lines", status=409)
        old = {(ln.department, ln.channel, ln.campaign): ln
               for ln in ses.scalars(select(BudgetLineRow).where(BudgetLineRow.budget_id == row.id))}
        for ln in lines:
            k = (ln.department, ln.channel, ln.campaign)
            if k in old:
                old.pop(k).planned_cents = to_cents(ln.amount)
            else:
                ses.add(BudgetLineRow(budget_id=row.id, department=ln.department, channel=ln.channel,
                                      campaign=ln.campaign, planned_cents=to_cents(ln.amount), released_cents=0))
        for gone in old.values():
            if gone.released_cents:  # released money stays with its line: it was approved for it
                gone.planned_cents = 0
            else:
                ses.delete(gone)
        ses.flush()
        return _view(ses, row)


def get(store: Store, key: str) -> Budget:
    sync_releases(store)
    with store.session() as ses:
        row = ses.scalar(select(BudgetRow).where(BudgetRow.key == key))
        if row is None:
            raise JingyunError("not_found", f"no budget {key!r} (jingyun budget plan creates one)", "key", status=404)
        return _view(ses, row)


def list_budgets(store: Store, *, limit: int = 50, offset: int = 0) -> tuple[list[Budget], int]:
    sync_releases(store)
    with store.session() as ses:
        total = ses.scalar(select(func.count()).select_from(BudgetRow)) or 0
        rows = ses.scalars(select(BudgetRow).order_by(BudgetRow.period_start.desc(), BudgetRow.id.desc())
                           .limit(limit).offset(offset))
        return [_view(ses, r) for r in rows], total


def request_release(store: Store, settings: Settings, *, key: str, line: str, amount: Decimal | str,
                    reason: str, requested_by: str, now: dt.datetime | None = None) -> Release:
    """Ask to move ``amount`` from the reserve to a line (``department/channel[/campaign]``). Nothing moves
    until the approval (type budget) is approved."""
    money = parse_amount(amount)
    if money <= 0:
        raise JingyunError("bad_amount", "release a positive amount", "amount", status=422)
    budget = get(store, key)
    parts = [p.strip() for p in line.split("/")]
    target = next((ln for ln in budget.lines if [ln.department, ln.channel, *([ln.campaign] if ln.campaign else [])]
                   == parts), None)
    if target is None:
        raise JingyunError("not_found", f"budget {key} has no line {line!r}", "line", status=404)
    pending = sum((r.amount for r in budget.releases if r.status == "pending"), Decimal("0.00"))
    if money > budget.reserve_left - pending:
        raise JingyunError("reserve_exceeded", f"the reserve has ¥{budget.reserve_left - pending:,} left to release "
                           f"(¥{pending:,} already asked for), not ¥{money:,}", "amount", status=409)
    req = approvals.submit(store, settings, type="budget", amount=money, title=f"预算释放 reserve release {key} → {line}",
                           payload={"budget": key, "line": line, "reason": reason}, requester=requested_by, now=now)
    with store.session() as ses:
        row = BudgetReleaseRow(budget_id=budget.id, line_id=target.id, amount_cents=to_cents(money), reason=reason,
                               requested_by=requested_by, approval_id=req.id, status="pending",
                               created_at=now or utcnow())
        ses.add(row)
        ses.flush()
        rid = row.id
    sync_releases(store)
    return next(r for r in get(store, key).releases if r.id == rid)


def _apply(store: Store, approval_id: int, status: str, decided_at: dt.datetime | None) -> None:
    """Idempotent: a release moves money once, when its approval is approved."""
    with store.session() as ses:
        row = ses.scalar(select(BudgetReleaseRow).where(BudgetReleaseRow.approval_id == approval_id))
        if row is None or row.status != "pending" or status not in ("approved", "rejected"):
            return
        row.status, row.decided_at = status, decided_at or utcnow()
        if status == "approved":
            line = ses.get(BudgetLineRow, row.line_id)
            if line is not None:
                line.released_cents += row.amount_cents


def on_budget_decision(store: Store, request: approvals.ApprovalRequest) -> None:
    _apply(store, request.id, request.status, request.decided_at)


def sync_releases(store: Store) -> None:
    with store.session() as ses:
        ids = list(ses.scalars(select(BudgetReleaseRow.approval_id).where(BudgetReleaseRow.status == "pending",
                                                                          BudgetReleaseRow.approval_id.is_not(None))))
    for aid in ids:
        assert aid is not None
        req = approvals.get(store, aid)
        if req.status != "pending":
            _apply(store, aid, req.status, req.decided_at)


approvals.on_decision("budget", on_budget_decision)
