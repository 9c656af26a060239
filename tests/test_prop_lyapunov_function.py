"""Property 8 (Wu-Ma-E's theorem): where lambda_max(E[(I - eta H_xi)^2]) <= 1, ||x||^2 is
a Lyapunov function in mean: E||x_{t+1}||^2 <= E||x_t||^2 for every t and every start,
exactly and in simulation; where it is > 1, some start grows in one step."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim.stability import theorem_lambda
from strategies import any_ensemble, batch_sizes, psd_matrices


@given(data=st.data(), ens=any_ensemble(d=st.integers(1, 5)), ratio=st.floats(0.05, 1.0))
def test_theorem_condition_makes_norm_non_increasing(data, ens, ratio):
    """tr T(M) <= tr M for PSD M (random and rank-one) when eta <= eta_theorem."""
    B = data.draw(batch_sizes(ens.n))
    th = sim.thresholds(ens, B)
    eta = ratio * th.eta_theorem
    assert theorem_lambda(ens, eta, th.gamma) <= 1 + 1e-10
    M, _ = data.draw(psd_matrices(ens.d))
    x = np.random.default_rng(0).standard_normal(ens.d)
    for start in (M, np.outer(x, x), np.eye(ens.d)):
        traces = sim.second_moments(ens, eta, B, 10, M0=start)
        assert np.all(np.diff(traces) <= 1e-10 * traces[:-1] + 1e-300)


@given(data=st.data(), ens=any_ensemble(d=st.integers(1, 4), n=st.integers(2, 8)),
       ratio=st.floats(0.1, 0.9), seed=st.integers(0, 2**31))
def test_simulated_norm_non_increasing(data, ens, ratio, seed):
    """In simulation the mean one-step change of ||x_t||^2 is <= 5 standard errors."""
    B = data.draw(batch_sizes(ens.n))
    eta = ratio * sim.thresholds(ens, B).eta_theorem
    res = sim.simulate(ens, eta, B, 20, 4000, seed)
    w = np.exp(2 * res.log_norms)  # bounded by 1 in mean; no overflow below eta_theorem
    diff = np.diff(w, axis=1)
    se = diff.std(axis=0, ddof=1) / np.sqrt(w.shape[0])
    assert np.all(diff.mean(axis=0) <= 5 * se + 1e-15)


@given(data=st.data(), ens=any_ensemble(d=st.integers(1, 5)), ratio=st.floats(1.05, 3.0))
def test_theorem_violated_some_start_grows(data, ens, ratio):
    """lambda_max(E[A^2]) > 1: x_0 = its top eigenvector gives E||x_1||^2 > ||x_0||^2."""
    B = data.draw(batch_sizes(ens.n))
    th = sim.thresholds(ens, B)
    eta = ratio * th.eta_theorem
    A = np.eye(ens.d) - eta * ens.H
    lam, V = np.linalg.eigh(A @ A + eta**2 * th.gamma * ens.Sigma)
    if lam[-1] <= 1 + 1e-9:  # eta_theorem sits on a flat stretch (rank-deficient H)
        return
    v = V[:, -1]
    traces = sim.second_moments(ens, eta, B, 1, M0=np.outer(v, v))
    assert traces[1] > traces[0]
