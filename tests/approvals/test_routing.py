"""Tiers at their exact boundaries, workflows from the home's YAML, and refusals that name the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jingyun import approvals
from jingyun.approvals.money import parse_amount
from jingyun.approvals.workflows import parse_workflows, workflows_path
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store


def chain(steps: list[approvals.Step]) -> list[tuple[int, str, str | None]]:
    return [(s.stage, s.position, s.approver) for s in steps]


@pytest.mark.parametrize(("amount", "expected"), [
    ("0", [(1, "marketing.director", "mdir")]),
    ("99999.99", [(1, "marketing.director", "mdir")]),
    ("100000", [(1, "marketing.director", "mdir"), (1, "finance.director", "fdir")]),
    ("100000.00", [(1, "marketing.director", "mdir"), (1, "finance.director", "fdir")]),
    ("500000", [(1, "marketing.director", "mdir"), (1, "finance.director", "fdir")]),
    ("500000.01", [(1, "marketing.director", "mdir"), (1, "finance.director", "fdir"), (2, "general_manager", "gm")]),
])
def test_marketing_tiers_at_the_boundaries(store: Store, amount: str, expected: list[tuple[int, str, str]]) -> None:
    assert chain(approvals.route(store, "marketing", Decimal(amount))) == expected


def test_submitted_request_records_its_tier_and_activates_only_the_first_stage(store: Store, settings: Settings) -> None:
    req = approvals.submit(store, settings, type="marketing", amount=Decimal("500000.01"), title="双11 大促",
                           payload={"campaign": "d11"}, requester="alice")
    assert req.tier == 2 and req.amount == Decimal("500000.01") and req.status == "pending"
    assert [(s.position, s.status) for s in req.steps] == [
        ("marketing.director", "pending"), ("finance.director", "pending"), ("general_manager", "waiting")]
    assert sorted(req.pending_with) == ["fdir", "mdir"]


def test_amounts_are_exact(store: Store) -> None:
    with pytest.raises(JingyunError) as exc:
        approvals.route(store, "marketing", 100000.0)  # type: ignore[arg-type]
    assert exc.value.field == "amount"
    for bad in ("99999.999", "-1", "ten", "NaN"):
        with pytest.raises(JingyunError):
            parse_amount(bad)
    assert parse_amount("1,000,000.5") == Decimal("1000000.50")


def test_unknown_type_and_missing_approver(store: Store, settings: Settings) -> None:
    with pytest.raises(JingyunError) as exc:
        approvals.route(store, "lunch", Decimal("1"))
    assert exc.value.code == "unknown_type" and exc.value.field == "type"
    # budget needs the finance director: remove the position and the submit is refused, nothing stored
    from sqlalchemy import delete

    from jingyun.store.approvals import ApprovalRequestRow, OrgPosition
    with store.session() as ses:
        ses.execute(delete(OrgPosition).where(OrgPosition.title == "director"))
    assert chain(approvals.route(store, "budget", Decimal("10"))) == [(1, "finance.director", None)]
    with pytest.raises(JingyunError) as exc:
        approvals.submit(store, settings, type="budget", amount=Decimal("10"), title="t", payload={},
                         requester="alice")
    assert exc.value.code == "no_approver"
    with store.session() as ses:
        assert ses.query(ApprovalRequestRow).count() == 0


def test_workspace_yaml_replaces_the_defaults(store: Store, settings: Settings) -> None:
    workflows_path(settings).write_text("""
escalation: {after_hours: 8, clock: business}
types:
  marketing:
    tiers:
      - stages: [[marketing.manager]]
      - above: "1000"
        stages: [marketing.manager, [marketing.director, finance.director], superior]
""", encoding="utf-8")
    assert chain(approvals.route(store, "marketing", "1000", settings=settings)) == [(1, "marketing.manager", "mman")]
    assert chain(approvals.route(store, "marketing", "1000.01", settings=settings, requester="alice")) == [
        (1, "marketing.manager", "mman"), (2, "marketing.director", "mdir"), (2, "finance.director", "fdir"),
        (3, "superior", "mman")]
    # without settings the shipped workflows apply
    assert chain(approvals.route(store, "marketing", "1000.01")) == [(1, "marketing.director", "mdir")]


@pytest.mark.parametrize(("text", "field"), [
    ("types: {m: {tiers: [{stages: [[x.boss]]}]}}", "types.m.tiers[0].stages[0][0]"),
    ("types: {m: {tiers: [{stages: [[general_manager]]}, {stages: [[general_manager]]}]}}", "types.m.tiers[1]"),
    ("types: {m: {tiers: [{stages: [[general_manager]]}, {from: 5, stages: [[general_manager]]}, "
     "{from: 4, stages: [[general_manager]]}]}}", "types.m.tiers[2]"),
    ("types: {m: {tiers: [{stages: [[general_manager]]}, {from: 1.5, stages: [[general_manager]]}]}}",
     "types.m.tiers[1].from"),
    ("escalation: {clock: lunar}\ntypes: {m: {tiers: [{stages: [[general_manager]]}]}}", "escalation.clock"),
])
def test_bad_workflows_name_the_field(text: str, field: str) -> None:
    with pytest.raises(JingyunError) as exc:
        parse_workflows(text, "approvals.yaml")
    assert exc.value.field == field
