"""Degenerate data: a clear, finite result or a clear JingyunError — never NaN, inf or a traceback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from clv_reference import CDNOW, CDNOW_GG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingyun.errors import JingyunError
from jingyun.models import bgnbd, gamma_gamma


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(JingyunError) as err:
        call()
    return err.value.code


def test_zero_repeat_customers_only() -> None:
    x, tx, T = np.zeros(500), np.zeros(500), np.linspace(1, 52, 500)
    assert _code(lambda: bgnbd.fit(x, tx, T)) == "clv_no_repeats"
    assert _code(lambda: gamma_gamma.fit(x, np.zeros(500))) == "clv_no_repeats"
    # predictions for such customers are still well defined with known parameters
    assert np.all(bgnbd.p_alive(CDNOW, x, tx, T) == 1.0)
    assert np.all(np.isfinite(bgnbd.conditional_expected_purchases(CDNOW, 52, x, tx, T)))


def test_one_customer() -> None:
    assert _code(lambda: bgnbd.fit([3], [5.0], [10.0])) == "clv_too_few_customers"
    assert _code(lambda: gamma_gamma.fit([3], [20.0])) == "clv_no_repeats"


def test_tiny_samples_that_cannot_identify_the_model() -> None:
    # Two customers: the MLE sits at "no heterogeneity" (r, α → ∞); say so.
    err = _code(lambda: bgnbd.fit([3, 1], [5.0, 2.0], [10.0, 12.0]))
    assert err == "clv_not_identified"
    assert _code(lambda: gamma_gamma.fit([2, 3], [10.0, 10.0])) == "clv_not_identified"


def test_huge_T(rng: np.random.Generator) -> None:
    sim = bgnbd.simulate(CDNOW, rng.uniform(27, 39, 5000), rng)
    T = sim.T.copy()
    T[:10] = 1e6  # a few customers observed for ~19,000 years
    fit = bgnbd.fit(sim.x, sim.t_x, T)
    assert all(math.isfinite(v) for v in (*fit.params.as_tuple(), fit.log_likelihood))
    # Everyone on a huge clock (time measured in seconds, say): same fit, α rescaled.
    k = 1e5
    big = bgnbd.fit(sim.x, sim.t_x * k, sim.T * k)
    plain = bgnbd.fit(sim.x, sim.t_x, sim.T)
    assert big.params.alpha == pytest.approx(plain.params.alpha * k, rel=1e-4)
    assert big.params.r == pytest.approx(plain.params.r, rel=1e-4)
    assert big.log_likelihood == pytest.approx(plain.log_likelihood - sim.x.sum() * math.log(k), rel=1e-8)
    # expectations at extreme x and T stay finite and inside their ranges
    x = np.array([5000.0, 5000.0, 1.0, 0.0])
    tx = np.array([1.0, 1e6, 0.5, 0.0])
    TT = np.full(4, 1e6)
    alive = bgnbd.p_alive(CDNOW, x, tx, TT)
    cond = bgnbd.conditional_expected_purchases(CDNOW, 52.0, x, tx, TT)
    assert np.all((alive >= 0) & (alive <= 1)) and np.all(np.isfinite(cond)) and np.all(cond >= 0)
    assert alive[0] < 1e-12 < alive[1]  # bought 5000 times then vanished for a million weeks: gone
    assert np.all(np.isfinite(bgnbd.expected_purchases(CDNOW, [1e6, 1e9])))


def test_large_money_values(rng: np.random.Generator) -> None:
    x = rng.poisson(2.0, 5000)
    m, _ = gamma_gamma.simulate(CDNOW_GG, x, rng)
    small = gamma_gamma.fit(x, m)
    big = gamma_gamma.fit(x, m * 1e7)  # amounts in fen of a large B2B account, say
    assert big.params.gamma == pytest.approx(small.params.gamma * 1e7, rel=1e-4)
    assert big.params.p == pytest.approx(small.params.p, rel=1e-4)


def test_bad_input_is_refused_with_the_field() -> None:
    with pytest.raises(JingyunError) as err:
        bgnbd.fit([1, 2], [5.0, 20.0], [10.0, 12.0])
    assert err.value.field == "recency"
    with pytest.raises(JingyunError) as err:
        bgnbd.fit([1.5, 2], [5.0, 2.0], [10.0, 12.0])
    assert err.value.field == "frequency"
    with pytest.raises(JingyunError) as err:
        bgnbd.fit([1, np.nan], [5.0, 2.0], [10.0, 12.0])
    assert err.value.code == "bad_rfm"
    with pytest.raises(JingyunError) as err:
        gamma_gamma.fit([1, 2], [-5.0, 2.0])
    assert err.value.field == "monetary"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.floats(0, 1), st.floats(0.01, 200), st.floats(0.5, 500)),
        min_size=1,
        max_size=12,
    )
)
def test_small_data_gives_finite_fit_or_clear_error(rows: list[tuple[int, float, float, float]]) -> None:
    x = np.array([r[0] for r in rows], dtype=float)
    T = np.array([r[2] for r in rows])
    tx = np.where(x > 0, np.array([r[1] for r in rows]) * T, 0.0)
    m = np.array([r[3] for r in rows])
    try:
        fit = bgnbd.fit(x, tx, T)
    except JingyunError as exc:
        assert exc.code in {"clv_no_repeats", "clv_too_few_customers", "clv_not_identified", "clv_not_converged"}
    else:
        assert all(math.isfinite(v) and v > 0 for v in fit.params.as_tuple())
        assert math.isfinite(fit.log_likelihood)
        assert np.all(np.isfinite(bgnbd.p_alive(fit.params, x, tx, T)))
    try:
        gg = gamma_gamma.fit(x, m)
    except JingyunError as exc:
        assert exc.code in {"clv_no_repeats", "clv_not_identified", "clv_not_converged"}
    else:
        assert all(math.isfinite(v) and v > 0 for v in gg.params.as_tuple())
