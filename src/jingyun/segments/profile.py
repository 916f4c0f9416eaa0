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
from jingyun.segments.common import NOT_TEST
from jingyun.segments.lifecycle import LifecycleParams, lifecycle_query
from jingyun.segments.playbooks import playbook_for
from jingyun.segments.rfm import RfmParams, compute_rfm, resolve_as_of
from jingyun.segments.saved import context
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import personal
from jingyun.warehouse.backends import Engine, Source, engine_of, require, table_rows, writer
from jingyun.warehouse.sqltext import quote


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


def _person(engine: Engine, user_id: str) -> str:
    who = quote(user_id)
    rows = engine.rows(f"SELECT person_id FROM users WHERE user_id = {who} OR person_id = {who} LIMIT 1")
    if not rows:
        rows = engine.rows(f"SELECT person_id FROM events WHERE user_id = {who} OR person_id = {who} LIMIT 1")
    if not rows or rows[0][0] is None:
        raise JingyunError("unknown_user", f"no user or person {user_id!r} in the warehouse", "user_id", status=404)
    return str(rows[0][0])


def _dicts(engine: Engine, sql: str) -> list[dict[str, Any]]:
    table = engine.run(sql)
    return [dict(zip(table.column_names, r, strict=True)) for r in table_rows(table)]


def build_profile(source: Source, user_id: str, *, limit: int = 10, as_of: Any = None) -> Profile:
    """Everything held about one person, raw: edges de-identify it with :meth:`Profile.deidentified`.
    Personal columns are decrypted, and tags and scores read, from the warehouse of record (declared gaps)."""
    engine = engine_of(source)
    require(engine, "personal_reveal")
    require(engine, "derived_tables")
    pid = _person(engine, user_id)
    who = quote(pid)
    at = resolve_as_of(engine, as_of)
    users = _dicts(engine, "SELECT user_id, registered_at, channel, name, phone, email, gender, birth_date, province, "
                   f"city, address, member_level, attributes FROM users WHERE person_id = {who} "
                   "ORDER BY registered_at, user_id")
    # personal columns are encrypted at rest (warehouse.personal)
    users = personal.reveal(writer(engine, "personal_reveal"), users)
    attrs: dict[str, Any] = dict(users[0]) if users else {}
    tags = ({str(t): str(v) for t, v in engine.rows(
        f"SELECT tag, value FROM user_tags WHERE person_id = {who} ORDER BY tag")}
        if engine.has_table("user_tags") else {})
    store = SegmentStore(engine.settings)
    ctx = context(engine, store, at)
    segs = []
    for name, seg in sorted(store.segments().items()):
        sql = audience.compile_rule(seg.rule, ctx).sql
        if engine.rows(f"SELECT 1 FROM ({sql}) s WHERE person_id = {who}"):
            segs.append(name)
    life = _dicts(engine, f"SELECT age_days, idle_days, ltv, stage FROM ({lifecycle_query(LifecycleParams(), at)}) s "
                  f"WHERE person_id = {who}")
    history = []
    for label in store.snapshot_labels("lifecycle"):
        stage = store.load_snapshot("lifecycle", label)["groups"].get(pid)
        if stage:
            history.append({"label": label, "stage": stage})
    rfm = next((p for p in compute_rfm(engine, RfmParams(as_of=at), with_persons=True).persons
                if p["person_id"] == pid), None)
    events = _dicts(engine, f"SELECT ts, event, platform, properties FROM events WHERE person_id = {who} "
                    f"AND {NOT_TEST} ORDER BY ts DESC LIMIT {int(limit)}")
    orders = _dicts(engine, "SELECT order_id, ts, amount, discount, coupon_id, channel, status FROM orders "
                    f"WHERE person_id = {who} ORDER BY ts DESC LIMIT {int(limit)}")
    feedback = _dicts(engine, f"SELECT ts, source, text, score FROM feedback WHERE person_id = {who} "
                      f"AND {NOT_TEST} ORDER BY ts DESC LIMIT {int(limit)}")
    scores: dict[str, float] = {}
    if engine.has_table("model_scores"):
        for model, name, value in engine.rows(f"SELECT model, score_name, value FROM model_scores "
                                              f"WHERE person_id = {who} ORDER BY scored_at"):
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
