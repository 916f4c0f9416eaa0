"""The 360° profile (用户360画像): everything known about one person, masked per role.

Identity and attributes (de-identified unless the role may see personal data),
tags, saved-segment memberships, lifecycle stage and its history from
snapshots, RFM, recent events and orders, feedback, and model scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from jingyun.errors import JingyunError
from jingyun.schema.tables import EVENTS, FEEDBACK, ORDERS, USERS
from jingyun.security.masking import Masker
from jingyun.segments import audience
from jingyun.segments.common import NOT_TEST, ensure_segment_tables, table_exists
from jingyun.segments.lifecycle import LifecycleParams, lifecycle_query
from jingyun.segments.playbooks import playbook_for
from jingyun.segments.rfm import RfmParams, compute_rfm, resolve_as_of
from jingyun.segments.saved import context
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import Warehouse, personal


@dataclass(frozen=True)
class Profile:
    person_id: str
    user_ids: list[str]
    masked: bool
    attributes: dict[str, Any]
    tags: dict[str, str]
    segments: list[str]
    lifecycle: dict[str, Any]
    stage_history: list[dict[str, str]]
    rfm: dict[str, Any] | None
    recent_events: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    scores: dict[str, float]
    playbooks: list[dict[str, str]] = field(default_factory=list)

    def deidentified(self, masker: Masker) -> Profile:
        """The profile as a masked role sees it: every personal part through the de-identification gate."""
        return replace(
            self, masked=True, attributes=masker.row(USERS, self.attributes) if self.attributes else {},
            recent_events=[masker.row(EVENTS, e) for e in self.recent_events],
            orders=[masker.row(ORDERS, o) for o in self.orders],
            feedback=[masker.row(FEEDBACK, f) for f in self.feedback],
        )


def _person(wh: Warehouse, user_id: str) -> str:
    rows = wh.rows("SELECT person_id FROM users WHERE user_id = ? OR person_id = ? LIMIT 1", [user_id, user_id])
    if not rows:
        rows = wh.rows("SELECT person_id FROM events WHERE user_id = ? OR person_id = ? LIMIT 1", [user_id, user_id])
    if not rows or rows[0][0] is None:
        raise JingyunError("unknown_user", f"no user or person {user_id!r} in the warehouse", "user_id", status=404)
    return str(rows[0][0])


def _dicts(wh: Warehouse, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = wh.con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def build_profile(wh: Warehouse, user_id: str, *, limit: int = 10, as_of: Any = None) -> Profile:
    """Everything held about one person, raw: edges de-identify it with :meth:`Profile.deidentified`."""
    ensure_segment_tables(wh)
    pid = _person(wh, user_id)
    at = resolve_as_of(wh, as_of)
    users = _dicts(wh, "SELECT user_id, registered_at, channel, name, phone, email, gender, birth_date, province, "
                   "city, address, member_level, attributes FROM users WHERE person_id = ? ORDER BY registered_at, user_id", [pid])
    users = personal.reveal(wh, users)  # personal columns are encrypted at rest (warehouse.personal)
    attrs: dict[str, Any] = dict(users[0]) if users else {}
    tags = {str(t): str(v) for t, v in wh.rows("SELECT tag, value FROM user_tags WHERE person_id = ? ORDER BY tag",
                                               [pid])}
    store = SegmentStore(wh.settings)
    ctx = context(wh, store, at)
    segs = []
    for name, seg in sorted(store.segments().items()):
        sql = audience.compile_rule(seg.rule, ctx).sql
        if wh.rows(f"SELECT 1 FROM ({sql}) s WHERE person_id = ?", [pid]):
            segs.append(name)
    life = _dicts(wh, f"SELECT age_days, idle_days, ltv, stage FROM ({lifecycle_query(LifecycleParams(), at)}) s "
                  "WHERE person_id = ?", [pid])
    history = []
    for label in store.snapshot_labels("lifecycle"):
        stage = store.load_snapshot("lifecycle", label)["groups"].get(pid)
        if stage:
            history.append({"label": label, "stage": stage})
    rfm = next((p for p in compute_rfm(wh, RfmParams(as_of=at), with_persons=True).persons
                if p["person_id"] == pid), None)
    events = _dicts(wh, f"SELECT ts, event, platform, properties FROM events WHERE person_id = ? AND {NOT_TEST} "
                    f"ORDER BY ts DESC LIMIT {int(limit)}", [pid])
    orders = _dicts(wh, "SELECT order_id, ts, amount, discount, coupon_id, channel, status FROM orders "
                    f"WHERE person_id = ? ORDER BY ts DESC LIMIT {int(limit)}", [pid])
    feedback = _dicts(wh, f"SELECT ts, source, text, score FROM feedback WHERE person_id = ? AND {NOT_TEST} "
                      f"ORDER BY ts DESC LIMIT {int(limit)}", [pid])
    scores: dict[str, float] = {}
    if table_exists(wh, "model_scores"):
        for model, name, value in wh.rows("SELECT model, score_name, value FROM model_scores WHERE person_id = ? "
                                          "ORDER BY scored_at", [pid]):
            scores[f"{model}.{name}"] = float(value)
    lifecycle = life[0] if life else {}
    plays = []
    for scheme, group in (("lifecycle", lifecycle.get("stage")), ("rfm", rfm["group"] if rfm else None),
                          *(("need", n) for n in ("price_sensitive", "quality_sensitive", "service_sensitive")
                            if tags.get(n) == "true")):
        pb = playbook_for(scheme, str(group)) if group else None
        if pb:
            plays.append({"for": f"{scheme}:{group}", "playbook": pb.key, "action_zh": pb.action_zh,
                          "action_en": pb.action_en})
    return Profile(pid, [str(u["user_id"]) for u in users], False, attrs, tags, segs, lifecycle, history, rfm,
                   events, orders, feedback, scores, plays)
