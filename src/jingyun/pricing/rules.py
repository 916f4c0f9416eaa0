"""The pricing rule, as a pure function: "competitor cut > min_move and our stock covers >= N days →
lower our price by at most max_cut, never below cost × (1 + margin floor)".

Exact money (Decimal yuan). The proposed price is the highest of: our price less ``max_cut`` rounded UP
to the fen (so the cut is never more than ``max_cut``), the competitor's new price (no need to undercut
it), and the floor rounded UP to the fen (never below). No proposal when that is not below our price.
The move must be strictly greater than ``min_move``: a cut of exactly 5 % does not fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from jingyun.errors import JingyunError

FEN = Decimal("0.01")


@dataclass(frozen=True)
class Rule:
    key: str
    name: str = ""
    category: str | None = None
    min_move: Decimal = Decimal("0.05")
    min_cover_days: int = 14
    max_cut: Decimal = Decimal("0.03")
    margin_floor: Decimal = Decimal("0.10")
    mode: str = "dry_run"  # dry_run | auto
    enabled: bool = True

    def validate(self) -> Rule:
        for name, v, hi in (("min_move", self.min_move, 1), ("max_cut", self.max_cut, 1),
                            ("margin_floor", self.margin_floor, 10)):
            if not (v.is_finite() and 0 <= v <= hi):
                raise JingyunError("bad_rule", f"{name} is a fraction from 0 to {hi} (0.05 = 5 %)", name, status=422)
        if self.min_cover_days < 0:
            raise JingyunError("bad_rule", "min_cover_days is 0 or more", "min_cover_days", status=422)
        if self.mode not in ("dry_run", "auto"):
            raise JingyunError("bad_rule", "mode is dry_run (proposals go through approval) or auto", "mode",
                               status=422)
        return self


@dataclass(frozen=True)
class Decision:
    proposed: Decimal
    floor: Decimal
    move: Decimal  # signed: -0.18 is an 18 % cut
    cover_days: float | None
    reason: str


def move_of(before: Decimal, after: Decimal) -> Decimal:
    return (after - before) / before


def floor_price(cost: Decimal, margin_floor: Decimal) -> Decimal:
    return (cost * (1 + margin_floor)).quantize(FEN, rounding=ROUND_CEILING)


def decide(rule: Rule, *, current: Decimal, cost: Decimal | None, stock: int, daily_units: float,
           competitor_before: Decimal, competitor_after: Decimal) -> Decision | None:
    """The price change the rule proposes for one competitor move, or None."""
    if competitor_before <= 0 or current <= 0:
        return None
    move = move_of(competitor_before, competitor_after)
    if not -move > rule.min_move:
        return None
    cover = None if daily_units <= 0 else stock / daily_units
    if stock <= 0 or (cover is not None and cover < rule.min_cover_days):
        return None
    floor = floor_price(cost, rule.margin_floor) if cost is not None else Decimal("0.00")
    capped = (current * (1 - rule.max_cut)).quantize(FEN, rounding=ROUND_CEILING)
    proposed = max(capped, competitor_after.quantize(FEN, rounding=ROUND_CEILING), floor)
    if proposed >= current:
        return None
    cover_txt = "no recent sales" if cover is None else f"{cover:.1f} days"
    reason = (f"competitor moved {move * 100:.2f}% (¥{competitor_before} → ¥{competitor_after}), beyond "
              f"{rule.min_move * 100:.2f}%; stock {stock} covers {cover_txt} (≥ {rule.min_cover_days}); "
              f"¥{current} → ¥{proposed} (cut {(current - proposed) / current * 100:.2f}%, at most "
              f"{rule.max_cut * 100:.2f}%; floor ¥{floor} = cost × (1 + {rule.margin_floor * 100:.2f}%))")
    return Decision(proposed, floor, move, cover, reason)
