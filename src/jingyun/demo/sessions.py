"""Expanding sessions into events without a Python loop per event.

A session template is a list of slots (event code, count per session). Rows
are produced with ``np.repeat`` per slot, ordered within each session by slot,
and spaced by random gaps; a session is either anchored at its start or at its
last event (paying sessions end exactly at the payment time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EVENTS = (
    "app_start", "view_home", "search", "view_product", "add_to_cart", "checkout", "pay",
    "share", "contact_service", "coupon_claim", "exp_exposure",
)
EV = {name: i for i, name in enumerate(EVENTS)}


@dataclass
class EventRows:
    """Columnar events; ``user`` is always the generating user, ``logged_in`` says if user_id is sent."""

    user: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    logged_in: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    event: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    platform: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    session: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    product: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    order: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    aux: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    FIELDS = ("user", "logged_in", "event", "ts", "platform", "session", "product", "order", "aux")

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: np.ndarray) -> EventRows:
        return EventRows(*(getattr(self, f)[idx] for f in self.FIELDS))

    @staticmethod
    def concat(parts: list[EventRows]) -> EventRows:
        return EventRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in EventRows.FIELDS))


@dataclass
class Sessions:
    user: np.ndarray
    platform: np.ndarray
    anchor_ms: np.ndarray  # session start, or last event when anchored at the end
    logged_in: np.ndarray
    focus_product: np.ndarray  # product viewed first and carted
    order: np.ndarray  # order index for paying sessions, else -1
    aux: np.ndarray  # per-session extra (keyword, coupon, variation…)


def expand(
    sessions: Sessions,
    slots: list[tuple[int, np.ndarray]],
    first_session_no: int,
    rng: np.random.Generator,
    n_products: int,
    anchor_end: bool = False,
    mean_gap_s: float = 45.0,
) -> EventRows:
    """Events for sessions from slots ``(event code, count per session)``."""
    n = len(sessions.user)
    sess_parts, slot_parts, k_parts, code_parts = [], [], [], []
    for j, (slot_code, counts) in enumerate(slots):
        counts = np.asarray(counts, dtype=np.int64)
        idx = np.repeat(np.arange(n), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        k = np.arange(len(idx)) - starts[idx]
        sess_parts.append(idx)
        slot_parts.append(np.full(len(idx), j))
        k_parts.append(k)
        code_parts.append(np.full(len(idx), slot_code, dtype=np.int8))
    sess = np.concatenate(sess_parts)
    slot = np.concatenate(slot_parts)
    kk = np.concatenate(k_parts)
    code = np.concatenate(code_parts)
    order = np.lexsort((kk, slot, sess))
    sess, code, kk = sess[order], code[order], kk[order]
    gaps = rng.exponential(mean_gap_s * 1000, len(sess)).astype(np.int64) + 1000
    cum = np.cumsum(gaps)
    first = np.searchsorted(sess, np.arange(n))
    last = np.searchsorted(sess, np.arange(n), side="right") - 1
    has = last >= first
    base = np.zeros(n, dtype=np.int64)
    base[has] = cum[first[has]]
    offset = cum - base[sess]  # 0 for the first event of a session
    if anchor_end:
        end_off = np.zeros(n, dtype=np.int64)
        end_off[has] = offset[last[has]]
        ts = sessions.anchor_ms[sess] - (end_off[sess] - offset)
    else:
        ts = sessions.anchor_ms[sess] + offset
    # The first product viewed is the one carted; later views browse around it.
    browse = rng.integers(0, n_products, len(sess))
    is_focus = ((code == EV["view_product"]) & (kk == 0)) | np.isin(
        code, [EV["add_to_cart"], EV["checkout"], EV["share"]]
    )
    product = np.where(
        is_focus, sessions.focus_product[sess], np.where(code == EV["view_product"], browse, -1)
    )
    order_col = np.where(np.isin(code, [EV["checkout"], EV["pay"]]), sessions.order[sess], -1)
    return EventRows(
        user=sessions.user[sess],
        logged_in=sessions.logged_in[sess],
        event=code,
        ts=ts,
        platform=sessions.platform[sess].astype(np.int8),
        session=first_session_no + sess,
        product=product,
        order=order_col,
        aux=sessions.aux[sess],
    )
