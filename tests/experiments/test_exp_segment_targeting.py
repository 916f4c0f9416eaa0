"""Experiments targeted at a saved segment (an audience from the segments capability)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.experiments.analyze import analyze_experiment
from jingyun.experiments.assignment import assign
from jingyun.experiments.definition import Targeting
from jingyun.experiments.registry import create_experiment
from jingyun.experiments.warehouse import segment_memberships
from jingyun.warehouse import Warehouse


def test_segment_targeting_parses_and_matches() -> None:
    t = Targeting.parse({"segment": "vip", "city": "上海"})
    assert t.segment == "vip" and t.active and t.to_dict() == {"city": {"eq": "上海"}, "segment": "vip"}
    assert t.matches({"segments": ["vip"], "city": "上海"})
    assert not t.matches({"segments": ["other"], "city": "上海"})
    assert not t.matches({"city": "上海"})
    with pytest.raises(JingyunError) as err:
        Targeting.parse({"segment": ""})
    assert err.value.field == "targeting.segment"


def test_only_members_are_assigned_and_analysed(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    exp = create_experiment(settings, "seg_test", targeting={"segment": "vip"},
                            start=dt.datetime(2026, 10, 1))
    wh = Warehouse.open(settings)
    wh.con.execute("CREATE TABLE segment_members (segment VARCHAR, person_id VARCHAR, since TIMESTAMP)")
    wh.con.execute("INSERT INTO segment_members VALUES ('vip', 'u1', NULL), ('vip', 'u2', NULL), ('new', 'u3', NULL)")
    assert segment_memberships(wh, "u1") == ["vip"] and segment_memberships(wh, "u3") == ["new"]
    got = {u: assign(u, exp, {"segments": segment_memberships(wh, u)}) for u in ("u1", "u2", "u3")}
    assert got["u1"].in_experiment and got["u2"].in_experiment
    assert not got["u3"].in_experiment and got["u3"].reason == "not_targeted"
    # exposures of a non-member (logged elsewhere) do not enter the analysis
    t0 = dt.datetime(2026, 10, 2, 2, 0)
    rows = [
        {"event_id": f"x{i}", "user_id": u, "person_id": u, "event": "exp_exposure", "ts": t0,
         "properties": f'{{"experiment": "seg_test", "variation": "{v}"}}', "is_test": False}
        for i, (u, v) in enumerate([("u1", "control"), ("u2", "treatment"), ("u3", "treatment")])
    ]
    wh.con.register("x", pa.Table.from_pylist(rows))
    wh.con.execute("INSERT INTO events (event_id, user_id, person_id, event, ts, properties, is_test) "
                   "SELECT event_id, user_id, person_id, event, ts, properties, is_test FROM x")
    result = analyze_experiment(wh, exp)
    assert result.counts == {"control": 1, "treatment": 1}
    wh.close()


def test_metric_dictionary_names_are_accepted() -> None:
    from jingyun.experiments.warehouse import DICTIONARY_METRICS, metric_def
    from jingyun.metrics.dictionary import load_dictionary

    names = set(load_dictionary().metrics)
    assert set(DICTIONARY_METRICS) <= names  # every alias is a real dictionary metric
    assert metric_def("conversion_rate").kind == "proportion" and metric_def("conversion_rate").column == "conv"
    assert (metric_def("aov").kind, metric_def("aov").denominator) == ("ratio", "ord")
    assert metric_def("gmv").column == "rev"
    with pytest.raises(JingyunError, match="metric-dictionary"):
        metric_def("dau")


@pytest.mark.parametrize(("alpha", "power", "field"), [(5e-324, 0.8, "alpha"), (0.7, 0.8, "alpha"),
                                                       (0.05, 2.4e-19, "power"), (0.05, 0.04, "power"),
                                                       (0.05, 1.0, "power")])
def test_power_refuses_degenerate_alpha_and_power(alpha: float, power: float, field: str) -> None:
    """Found by schemathesis: alpha = 5e-324 made the solver see NaN (a 500)."""
    from jingyun.experiments.power import sample_size_proportion

    with pytest.raises(JingyunError) as err:
        sample_size_proportion(0.5, 0.25, alpha=alpha, power=power)
    assert err.value.field == field


@pytest.mark.parametrize(("kw", "field"), [
    ({"baseline": 0.0, "mde": 9.5e-254, "sd": 1.0}, "mde"),
    ({"baseline": 0.0, "mde": 1.0, "sd": 5e-324}, "mde"),
    ({"baseline": 0.0, "mde": 0.1, "sd": 1.0, "relative": True}, "baseline"),
    ({"baseline": 10.0, "mde": 1.0, "sd": 0.0}, "sd"),
])
def test_power_for_means_refuses_degenerate_input(kw: dict[str, object], field: str) -> None:
    """Found by schemathesis: tiny effects divided by zero or left the solver without a root."""
    from jingyun.experiments.power import sample_size_mean

    with pytest.raises(JingyunError) as err:
        sample_size_mean(**kw)  # type: ignore[arg-type]
    assert err.value.field == field
