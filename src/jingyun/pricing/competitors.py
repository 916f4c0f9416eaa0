"""Competitor prices: the product matching table, CSV ingestion with row-numbered errors, and moves.

CSV columns: ``competitor, competitor_item, product_id, price, observed_at`` (product_id may be empty
once the item is matched; a new item with a product_id is matched by the import). ``observed_at`` is an
ISO time; without an offset (or a bare date, read as local midnight) it is in the workspace zone.
Every row is accounted for: stored, a duplicate of a stored observation, or an error naming its row
(the header is row 1) and field — nothing is dropped silently; good rows are stored even when others fail.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jingyun.approvals.money import from_cents, parse_amount, to_cents
from jingyun.errors import JingyunError
from jingyun.store import Store
from jingyun.store.budgets import CompetitorObservationRow, ProductMatchRow
from jingyun.store.models import utcnow

COLUMNS = ("competitor", "competitor_item", "product_id", "price", "observed_at")
DEFAULT_THRESHOLD = Decimal("0.05")


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    matched: int = 0  # new product matches the file created
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "matched": self.matched, "errors": [e.to_dict() for e in self.errors]}


@dataclass(frozen=True)
class Move:
    """Two consecutive observations of one competitor item whose price changed by more than the threshold."""

    competitor: str
    competitor_item: str
    product_id: str
    before: Decimal
    after: Decimal
    previous_at: dt.datetime
    observed_at: dt.datetime

    @property
    def change(self) -> Decimal:
        return (self.after - self.before) / self.before


def set_match(store: Store, *, competitor: str, competitor_item: str, product_id: str) -> None:
    if not competitor.strip() or not competitor_item.strip() or not product_id.strip():
        raise JingyunError("bad_match", "competitor, competitor_item and product_id are all required",
                           "competitor_item", status=422)
    with store.session() as ses:
        row = ses.scalar(select(ProductMatchRow).where(ProductMatchRow.competitor == competitor,
                                                       ProductMatchRow.competitor_item == competitor_item))
        if row is None:
            ses.add(ProductMatchRow(competitor=competitor, competitor_item=competitor_item, product_id=product_id,
                                    created_at=utcnow()))
        else:
            row.product_id = product_id


def matches(store: Store, *, product_id: str | None = None) -> list[tuple[str, str, str]]:
    with store.session() as ses:
        q = select(ProductMatchRow).order_by(ProductMatchRow.competitor, ProductMatchRow.competitor_item)
        if product_id:
            q = q.where(ProductMatchRow.product_id == product_id)
        return [(r.competitor, r.competitor_item, r.product_id) for r in ses.scalars(q)]


def _when(text: str, tz: str) -> dt.datetime:
    value = text.strip()
    if len(value) == 10:
        t = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
    else:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def import_csv(store: Store, source: str | Path, *, tz: str, source_name: str = "") -> ImportReport:
    """Load competitor observations; ``source`` is a path or the CSV text itself."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).exists()):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise JingyunError("bad_file", f"cannot read {path}: {exc.strerror}", "file") from None
        source_name = source_name or path.name
    else:
        text = str(source)
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header and c != "product_id"]
    if missing:
        raise JingyunError("bad_header", f"the CSV lacks column {missing[0]}; columns: {', '.join(COLUMNS)}",
                           missing[0], status=422)
    rep = ImportReport()
    with store.session() as ses:
        known = {(m.competitor, m.competitor_item): m.product_id for m in ses.scalars(select(ProductMatchRow))}
        for n, raw in enumerate(reader, start=2):
            rep.received += 1
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
            comp, item, pid = row.get("competitor", ""), row.get("competitor_item", ""), row.get("product_id", "")
            if not comp:
                rep.errors.append(RowError(n, "competitor", "the competitor is empty"))
                continue
            if not item:
                rep.errors.append(RowError(n, "competitor_item", "the competitor's item id is empty"))
                continue
            matched = known.get((comp, item))
            if pid and matched and pid != matched:
                rep.errors.append(RowError(n, "product_id", f"{comp}/{item} is matched to {matched}, not {pid}; "
                                           "change the match first (jingyun pricing match)"))
                continue
            if not pid and not matched:
                rep.errors.append(RowError(n, "product_id", f"{comp}/{item} is not matched to one of our products; "
                                           "give product_id"))
                continue
            try:
                price = parse_amount(row.get("price", ""), "price")
                if price <= 0:
                    raise JingyunError("bad_amount", "a price is more than 0", "price")
            except JingyunError as exc:
                rep.errors.append(RowError(n, "price", exc.message))
                continue
            try:
                at = _when(row.get("observed_at", ""), tz)
            except ValueError:
                rep.errors.append(RowError(n, "observed_at", f"{row.get('observed_at')!r} is not a time "
                                           "(2026-10-01T09:00:00+08:00 or 2026-10-01)"))
                continue
            if not matched:
                ses.add(ProductMatchRow(competitor=comp, competitor_item=item, product_id=pid, created_at=utcnow()))
                known[(comp, item)] = pid
                rep.matched += 1
            dup = ses.scalar(select(CompetitorObservationRow.id).where(
                CompetitorObservationRow.competitor == comp, CompetitorObservationRow.competitor_item == item,
                CompetitorObservationRow.observed_at == at))
            if dup is not None:
                rep.duplicates += 1
                continue
            ses.add(CompetitorObservationRow(competitor=comp, competitor_item=item, product_id=known[(comp, item)],
                                             price_cents=to_cents(price), observed_at=at,
                                             source=f"{source_name}:{n}"[:300], created_at=utcnow()))
            ses.flush()
            rep.stored += 1
    return rep


def observations(store: Store, *, product_id: str | None = None, until: dt.datetime | None = None,
                 ) -> list[tuple[str, str, str, Decimal, dt.datetime]]:
    """(competitor, item, product, price, observed_at UTC) in time order."""
    with store.session() as ses:
        q = select(CompetitorObservationRow).order_by(CompetitorObservationRow.competitor,
                                                      CompetitorObservationRow.competitor_item,
                                                      CompetitorObservationRow.observed_at)
        if product_id:
            q = q.where(CompetitorObservationRow.product_id == product_id)
        if until is not None:
            q = q.where(CompetitorObservationRow.observed_at <= until)
        return [(r.competitor, r.competitor_item, r.product_id, from_cents(r.price_cents), r.observed_at)
                for r in ses.scalars(q)]


def competitor_moves(store: Store, *, threshold: Decimal = DEFAULT_THRESHOLD, since: dt.datetime | None = None,
                     until: dt.datetime | None = None) -> list[Move]:
    """Moves strictly greater than ``threshold`` (5 % by default) between consecutive observations of an item,
    observed in (since, until] (naive UTC). For the alert rules (jingyun.ops.alerts) and the pricing rules."""
    out: list[Move] = []
    prev: tuple[str, str, Decimal, dt.datetime] | None = None
    for comp, item, pid, price, at in observations(store, until=until):
        if prev is not None and prev[:2] == (comp, item) and prev[2] > 0:
            change = (price - prev[2]) / prev[2]
            if abs(change) > threshold and (since is None or at > since):
                out.append(Move(comp, item, pid, prev[2], price, prev[3], at))
        prev = (comp, item, price, at)
    return sorted(out, key=lambda m: (m.observed_at, m.competitor, m.competitor_item))
