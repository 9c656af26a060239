"""Claim: the shared statistics are right on known cases, and a fit that cannot be
made says why (a status and a message with the NaN), never a bare NaN."""

import numpy as np
import pytest

import sim
from sim.estimates import (
    FIT_STATUSES,
    effective_sample_size,
    growth_fit,
    logmeanexp,
    lyapunov_fit,
    moment_summaries,
)


def test_logmeanexp_and_ess():
    """logmeanexp is log(mean(exp)) without overflow; ESS is P for equal weights, 1 for
    one non-zero weight, P for all-zero weights (the mean 0 is exact)."""
    L = np.array([[1000.0, -np.inf], [1000.0 + np.log(3.0), -np.inf]])
    log_m, w, c = logmeanexp(L)
    assert log_m[0] == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)
    assert log_m[1] == -np.inf
    assert effective_sample_size(np.ones((7, 1)))[0] == pytest.approx(7.0)
    assert effective_sample_size(np.array([[0.0], [2.0], [0.0]]))[0] == pytest.approx(1.0)
    assert effective_sample_size(np.zeros((5, 1)))[0] == 5.0


def test_growth_fit_recovers_a_known_slope():
    """Paths log||x_t|| = g t / 2 + noise: the fitted growth of log E||x||^2 is g within
    5 jackknife standard errors, with status ok."""
    rng = np.random.default_rng(0)
    t = np.arange(0, 41)
    L = 0.5 * 0.3 * t[None, :] + 0.05 * rng.standard_normal((2000, 41)).cumsum(axis=1)
    summary, w, c = moment_summaries(L)
    fit = growth_fit(w, c, summary["log_mean_sq_norm"], t, t >= 10)
    assert fit.ok and fit.status == "ok" and fit.message == ""
    drift = 0.3 + 2 * 0.05**2  # E exp(2 W_t) adds 2 sigma^2 per step to the slope
    assert abs(fit.value - drift) <= 5 * fit.se
    assert fit.ci[0] < fit.value < fit.ci[1]


def test_fit_statuses():
    """Every failure mode returns its status, a message and NaN (or an exact -inf)."""
    t = np.arange(3)
    L = np.zeros((4, 3))
    summary, w, c = moment_summaries(L)
    few = growth_fit(w, c, summary["log_mean_sq_norm"], t, t >= 2)
    assert few.status == "too_few_steps" and np.isnan(few.value) and "at least 2" in few.message
    one = moment_summaries(np.zeros((1, 3)))
    single = growth_fit(one[1], one[2], one[0]["log_mean_sq_norm"], t, t >= 0)
    assert single.status == "no_error" and single.value == 0.0 and np.isnan(single.se)
    dead = np.full((4, 3), -np.inf)
    dead[:, 0] = 0.0
    s2, w2, c2 = moment_summaries(dead)
    zero = growth_fit(w2, c2, s2["log_mean_sq_norm"], t, t >= 1)
    assert zero.status == "exact_zero" and zero.value == -np.inf and zero.se == 0.0
    assert lyapunov_fit(dead, t, 1).status == "exact_zero"
    assert lyapunov_fit(L, t, 2).status == "too_few_steps"
    assert {f.status for f in (few, single, zero)} <= set(FIT_STATUSES)


def test_simulate_reports_exact_zero_as_data():
    """1-D, h = 1 for every sample, eta = 1: every path is exactly 0 after one step; the
    growth rate is -inf with status exact_zero, not a NaN."""
    ens = sim.from_hessians(np.ones((3, 1, 1)))
    res = sim.simulate(ens, 1.0, 1, 6, 16, 0)
    assert np.all(res.log_norms[:, 1:] == -np.inf)
    assert res.growth_fit.status == "exact_zero" and res.growth_rate == -np.inf
    assert res.lyapunov_fit.status == "exact_zero"
    assert res.mean_sq_norm[-1] == 0.0 and res.mean_sq_norm_se[-1] == 0.0


def test_simulate_window_too_short():
    """A fit window with one recorded step gives status too_few_steps and a message."""
    ens = sim.wishart(4, 2, 1, seed=0)
    res = sim.simulate(ens, 0.1, 2, 4, 8, 0, fit_from=4)
    assert res.growth_fit.status == "too_few_steps" and np.isnan(res.growth_rate)
    assert "recorded step" in res.growth_fit.message
    est = sim.lyapunov_exponent(ens, 0.1, 2, steps=40, paths=8, seed=1)
    assert est.status == "ok" and np.isfinite(est.value)
