"""Claim: on a network, nonlinear SGD started next to an exact minimum follows the
linearized map, so it stays where the minimum is stable for its ``eta`` and ``B`` and
leaves where it is not (``docs/theory.md``, section 9): the theorem tested on the
network itself, not on its linearization."""

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import sim
from sim import data
from sim.montecarlo import almost_sure_threshold, exit_steps
from sim.nets import MLP, polish, to_ensemble, train, train_many
from sim.studies import networks as nw
from sim.studies import nn_stay, preset, read_csv, read_summary, run

N = 8
EPS = 1e-5
"""Start distance from the minimum, relative to ``||theta*||`` (the study's default)."""


@cache
def tiny_minimum():
    """A tanh 4-8-3 net at a polished teacher minimum on 8 Gaussian inputs (p = 67,
    n K = 24) and 32 random unit start directions."""
    rng = np.random.default_rng(0)
    net = MLP((4, 8, 3), "tanh", "half")
    X = rng.standard_normal((N, 4))
    star = net.init(0, scale=2.0)
    Y = data.teacher(net, star, X)
    start = star + 0.05 * np.linalg.norm(star) / np.sqrt(net.n_params) * rng.standard_normal(
        net.n_params)
    pol = polish(net, start, X, Y)
    assert pol.converged, pol.message
    U = rng.standard_normal((32, net.n_params))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return net, X, Y, pol.theta, EPS * np.linalg.norm(pol.theta) * U


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("ratio", [0.9, 1.3])
def test_linearization_holds_at_eps(B, ratio):
    """From ``theta* + eps u``, the network's displacement projected to ``range(H)``
    has the norm the linearized map gives with the same batches (to 1e-3 in the log),
    at a stable and an unstable ``eta``, for as long as the run is inside the leave
    criterion's range (a loss up to 100x its start, ``||z||`` up to about 10x): ``eps``
    is small enough that the quadratic terms do not matter there. (Below the start,
    the quadratic terms of the never-moving ``null(H)`` part, ``~ ||x_null||^2``, set a
    floor the linear map does not have.)"""
    net, X, Y, theta, D = tiny_minimum()
    ens, Z = to_ensemble(net, theta, X, directions=D[:1])
    eta = ratio * sim.thresholds(ens, B).eta_exact
    lin = sim.simulate(ens, eta, B, 400, 1, 11, x0=Z, record_every=1)
    L = lin.log_norms[0]
    outside = np.flatnonzero(np.abs(L - L[0]) > np.log(10.0))
    end = outside[0] if outside.size else len(L)
    checked = np.unique(np.linspace(1, end - 1, 5).astype(int))
    assert len(checked) >= 3
    for t in checked:
        res = train(net, theta + D[0], X, Y, eta, B, int(t), 11, method="kernel")
        _, z = to_ensemble(net, theta, X, directions=(res.theta - theta)[None, :])
        assert np.log(np.linalg.norm(z)) == pytest.approx(L[t], abs=1e-3), t


ALPHA = 1e-4
"""Two binomial checks per example, each failing by chance with probability at most
``2 ALPHA`` (two tails), and 5 examples: a family-wise error below 2e-3 (Bonferroni)."""


def leave_count(net, X, Y, theta, D, eta, B, steps, seeds):
    out = train_many(net, theta + D, X, Y, eta, B, steps, seeds, record_every=10)
    return int((nw.leave_steps(out.loss_curves, out.t, out.steps_run, 100.0) >= 0).sum())


@settings(max_examples=5)
@given(B=st.integers(1, N))
def test_network_stays_below_and_leaves_above(B):
    """For B drawn from 1..n, nonlinear SGD from ``theta* + eps u`` (32 runs, 2000 steps)
    stays at ``0.8 min(eta_exact, eta_as)`` and leaves at ``1.25 max(eta_exact, eta_as)``.

    The counts are held to the linearized model's leave probability ``p`` at the same
    ``eta`` (2048 paths): the network's count must lie within the ``ALPHA`` and
    ``1 - ALPHA`` quantiles of Binomial(32, p) (``p`` clipped to [1/2048, 1 - 1/2048]),
    and the linearized model itself must stay (``p <= 0.05``) and leave (``p >= 0.95``)
    as the theory says."""
    net, X, Y, theta, D = tiny_minimum()
    ens, Z = to_ensemble(net, theta, X, directions=D)
    th = sim.thresholds(ens, B)
    ast = almost_sure_threshold(ens, B, lower=th.eta_exact, seed=1)
    seeds = list(range(100, 132))
    for eta, stays in ((0.8 * min(th.eta_exact, ast.lo), True),
                       (1.25 * max(th.eta_exact, ast.hi), False)):
        k = leave_count(net, X, Y, theta, D, eta, B, 2000, seeds)
        p = np.mean(exit_steps(ens, eta, B, np.tile(Z, (64, 1)), 2000, check_every=10,
                               seeds=7) >= 0)
        assert (p <= 0.05) if stays else (p >= 0.95), (B, eta, p)
        q = float(np.clip(p, 1 / 2048, 1 - 1 / 2048))
        lo, hi = stats.binom.ppf([ALPHA, 1 - ALPHA], 32, q)
        assert lo <= k <= hi, (B, eta, k, p)


def test_left_detects_first_exceedance():
    """``left`` returns the first recorded step above the factor, counts a blow-up (NaN)
    as leaving, and ignores records after a run stopped."""
    t = np.array([0, 10, 20, 30])
    curves = np.array([[1.0, 50.0, 150.0, 10.0], [1.0, np.nan, np.nan, np.nan],
                       [1.0, 2.0, 3.0, 500.0], [1.0, 2.0, 3.0, 4.0]])
    steps_run = np.array([30, 10, 20, 30])
    assert nw.leave_steps(curves, t, steps_run, 100.0).tolist() == [20, 10, -1, -1]


def test_transition_and_its_interval():
    """The P = 1/2 crossing is interpolated; the interval ends at grid points decided by
    the Wilson bounds."""
    ratios = (0.8, 0.9, 1.0, 1.1, 1.2)
    tr = nn_stay.transition(ratios, [0, 0, 16, 32, 32], 32)
    assert tr["point"] == pytest.approx(1.0)
    assert tr["lo"] == 0.9 and tr["hi"] == 1.1
    tr = nn_stay.transition(ratios, [0, 0, 0, 0, 0], 32)
    assert tr["point"] == np.inf and tr["hi"] == np.inf and tr["lo"] == 1.2


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    cfg = preset(nn_stay.Config, None, n=10, hidden=(16,), Bs=(1, 10),
                 ratios=(0.8, 1.0, 1.1, 1.5), runs=8, steps=600, lyapunov_paths=32,
                 lyapunov_steps=300)
    return run(nn_stay.STUDY, cfg, out=tmp_path_factory.mktemp("stay"), quiet=True)


def test_study_writes_a_complete_folder(folder):
    """The study writes its table, figure and summaries; every row is a minimum."""
    for f in ("data.csv", "config.json", "meta.json", "summary.md", "summary.json",
              "stay.png", "stay.pdf"):
        assert (folder / f).is_file(), f
    rows = read_csv(folder / "data.csv")
    assert len(rows) == 2 * 4
    assert all(r["at_minimum"] in (True, "True") for r in rows)
    sm = read_summary(folder)
    assert sm["pairs"] == 2 and sm["left_out"] == 0


def test_summary_verdicts_follow_the_data(folder):
    """The verdict is computed: records whose eta_as is moved far above the network's
    transition make the summary say "disagrees"; records where every run leaves at every
    ratio (no crossing on the grid) make it "undetermined"; the saved records give the
    counts the sentence states."""
    cfg, records, _ = nn_stay.load(nn_stay.STUDY, folder)
    text, sm = nn_stay.summary(cfg, records, folder)
    far = [dict(r, eta_as=1.42 * r["eta_exact"], eta_as_lo=1.4 * r["eta_exact"],
                eta_as_hi=1.45 * r["eta_exact"]) for r in records]
    text2, sm2 = nn_stay.summary(cfg, far, folder)
    assert sm2["agree"] == 0 and "disagrees in 2" in text2
    allleave = [dict(r, net_steps=np.zeros_like(r["net_steps"])) for r in records]
    text3, sm3 = nn_stay.summary(cfg, allleave, folder)
    assert sm3["agree"] == 0 and "2 undetermined" in text3
    assert text != text2 != text3
    assert f"in {sm['agree']} of {sm['pairs']}" in text
    verdicts = [r["verdict"] for r in sm["results"]]
    assert f"disagrees in {verdicts.count('disagrees')}" in text


def test_paired_agreement_counts_mixed_ratios_only():
    """Agreement of paired runs is counted where the network's P(leave) is strictly
    between 0 and 1."""
    net = np.array([[-1, -1], [5, -1], [3, 4]])
    lin = np.array([[7, 7], [5, 6], [3, 4]])  # disagrees only where all network runs stay
    assert nn_stay.paired_agreement(net, lin) == 0.5
    assert np.isnan(nn_stay.paired_agreement(net[[0, 2]], lin[[0, 2]]))
