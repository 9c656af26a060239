"""Claim: population dynamics (cloning) estimates the moment Lyapunov function
Lambda(q) = lim (1/t) log E||x_t||^q: Lambda(0) = 0, in 1-D it equals
log E|1 - eta h_xi|^q for every scheme, Lambda(2) = log rho(T) including where plain
Monte Carlo's effective sample size collapses, it is convex with Lambda(q)/q increasing,
and it does not depend on the thread count."""

import numba
import numpy as np
import pytest

import sim
from oracles import batch_distribution
from sim import Sampling
from sim.cloning import moment_lyapunov

KW = dict(steps=120, population=2000, replicas=4)
"""Small runs: the tolerance is 4 standard errors plus the measured N vs N/4 difference
(an upper estimate of the finite-population bias)."""


def _close(est, exact):
    return abs(est.value - exact) <= 4 * est.se + abs(est.bias) + 1e-12


def _one_d_exact(h, eta, smp, q):
    """log E|1 - eta h_xi|^q by enumerating every batch of the scheme (Markov schemes)."""
    n = len(h)
    return float(np.log(sum(p * abs(1 - eta * (w @ h)) ** q
                            for p, w in batch_distribution(n, smp.B, smp.scheme, smp.p))))


def test_q_zero_is_exactly_zero():
    """Lambda(0) = 0: every weight is 1."""
    est = moment_lyapunov(sim.wishart(5, 3, 2, seed=0), 0.5, 2, 0.0, **KW)
    assert est.value == 0.0 and est.se == 0.0


@pytest.mark.parametrize("smp", [Sampling(1), Sampling(2), Sampling(2, "with"),
                                 Sampling(scheme="mixture", p=0.3)], ids=str)
@pytest.mark.parametrize("q", [1.0, 2.0, 4.0])
def test_one_d_equals_the_moment_of_the_multiplier(smp, q):
    """1-D: Lambda(q) = log E|1 - eta h_xi|^q (4 SE + bias bound), above and below the
    mean-square threshold."""
    h = np.array([0.2, 1.0, 3.8, 2.5])
    ens = sim.from_hessians(h[:, None, None])
    for eta in (0.3, 0.7):
        est = moment_lyapunov(ens, eta, smp, q, seed=3, **KW)
        assert _close(est, _one_d_exact(h, eta, smp, q)), (eta, est)


@pytest.mark.parametrize("case", ["wishart", "rank_one_collapse", "factors_reshuffle_free"])
def test_lambda_two_is_log_rho(case):
    """Lambda(2) = log rho(T) within 4 SE + the bias bound; the rank-one case (d = 3,
    n = 6, B = 2, eta a = 1.9) is where plain Monte Carlo's effective sample size
    collapses within a few steps."""
    if case == "wishart":
        ens, smp, eta = sim.wishart(8, 3, 2, seed=1), Sampling(2), None
    elif case == "rank_one_collapse":
        ens, smp, eta = sim.rank_one(6, 3, seed=0), Sampling(2), 1.9
    else:
        ens, smp, eta = sim.wishart(6, 4, 2, seed=2, factors=True), Sampling(3, "with"), None
    eta = (1.3 * sim.thresholds(ens, smp).eta_exact) if eta is None else eta / ens.a
    est = moment_lyapunov(ens, eta, smp, 2.0, seed=5, **KW)
    assert _close(est, sim.spectral_radius(ens, eta, smp).log_rho), est
    if case == "rank_one_collapse":
        plain = sim.simulate(ens, eta, smp, 20, 4000, 1)
        assert plain.ess[-1] < 50  # plain Monte Carlo has lost the paths that matter


def test_convex_and_lambda_over_q_increasing():
    """On a grid of q, Lambda is convex and Lambda(q)/q increases (up to 4 SE)."""
    ens = sim.wishart(8, 3, 1, seed=4)
    eta = 1.1 * sim.thresholds(ens, 1).eta_exact
    qs = [0.5, 1.0, 2.0, 3.0, 4.0]
    ests = moment_lyapunov(ens, eta, 1, qs, seed=2, bias_check=False, **KW)
    lam = np.array([e.value for e in ests])
    se = np.array([e.se for e in ests])
    slopes = np.diff(lam) / np.diff(qs)  # convex: the divided differences increase
    assert np.all(np.diff(slopes) >= -4 * (se[1:-1] + se[2:]) / 0.5), (slopes, se)
    ratio = lam / np.array(qs)
    assert np.all(np.diff(ratio) >= -4 * se[1:] / np.array(qs[1:])), ratio


def test_thread_count_independence():
    """Same seed, same numbers whatever the number of threads (bitwise)."""
    ens = sim.wishart(6, 3, 2, seed=0)
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs.append(moment_lyapunov(ens, 0.6 / ens.a, Sampling(2, "reshuffle"), 2.0,
                                        steps=40, population=300, replicas=2, seed=9,
                                        bias_check=False).log_mean_weights)
    finally:
        numba.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(q=-1.0), ValueError, "^q must be >= 0"), (dict(q="2"), TypeError, "^q"),
    (dict(population=1), ValueError, "^population"), (dict(replicas=1), ValueError,
                                                        "^replicas"),
    (dict(steps=1), ValueError, "^steps"), (dict(eta=0.0), ValueError, "^eta"),
    (dict(seed=-2), ValueError, "^seed"), (dict(burn_in=50), ValueError, "^burn_in"),
])
def test_bad_inputs(kwargs, err, match):
    """q < 0, population < 2 and other bad arguments are rejected, naming them."""
    args = dict(eta=0.1, q=2.0, steps=20, population=10) | kwargs
    with pytest.raises(err, match=match):
        moment_lyapunov(sim.wishart(4, 2, 1, seed=0), args.pop("eta"), 2, args.pop("q"),
                        **args)


# ----------------------------------------------------------------- theory of higher moments
def test_batch_law_is_a_law():
    """The derived batch laws sum to 1 and are unbiased (E w_i = 1/n), every scheme."""
    import sympy as sp

    from theory.higher import batch_law

    for scheme, B, p in (("without", 2, None), ("with", 3, None), ("mixture", None,
                                                                   sp.Rational(1, 3))):
        law = batch_law(4, B, scheme, p)
        assert sum(pr for pr, _ in law) == 1
        for i in range(4):
            assert sum(pr * w[i] for pr, w in law) == sp.Rational(1, 4)


@pytest.mark.parametrize("smp", [Sampling(2), Sampling(3, "with"),
                                 Sampling(scheme="mixture", p=0.25)], ids=str)
def test_moment_function_matches_enumeration(smp):
    """theory's symbolic E|1 - eta h_xi|^q equals the oracle's enumeration (1e-12)."""
    import sympy as sp

    from theory.higher import moment_function_1d, q
    from theory.symbols import eta

    h = [0.2, 1.0, 3.8, 2.5]
    expr = moment_function_1d(h, smp.scheme, smp.B, smp.p)
    f = sp.lambdify((eta, q), expr, "math")
    for e in (0.3, 0.7):
        for order in (1.0, 2.0, 4.0):
            assert np.log(f(e, order)) == pytest.approx(_one_d_exact(np.array(h), e, smp, order),
                                                        rel=1e-12, abs=1e-14)


def test_toy_thresholds_are_ordered():
    """Toy x = 1, B = 1: eta_as >= eta_1 >= eta_2 >= eta_4, with eta_2 and eta_as the
    reference mean-square and almost-sure thresholds (1e-10)."""
    from sim.nonlinear_toy import reference
    from theory.higher import almost_sure_threshold, moment_threshold

    h = (0.2, 3.8)
    e_as = almost_sure_threshold(h, "without", 1)
    e1, e2, e4 = (moment_threshold(h, k, "without", 1) for k in (1, 2, 4))
    assert e_as >= e1 >= e2 >= e4
    ref = reference()
    assert e2 == pytest.approx(ref.eta_mean_square, rel=1e-10)
    assert e_as == pytest.approx(ref.eta_almost_sure, rel=1e-10)


@pytest.mark.parametrize("d,smp", [(2, Sampling(2)), (3, Sampling(1)),
                                   (2, Sampling(2, "with"))], ids=str)
def test_lambda_four_is_log_rho_of_the_fourth_moment_operator(d, smp):
    """Lambda(4) = log rho(E[A (x) A (x) A (x) A]) for d <= 3 (4 SE + bias bound)."""
    from theory.higher import fourth_moment_operator

    ens = sim.wishart(5, d, 1, seed=d)
    eta = 0.9 / ens.a
    T4 = fourth_moment_operator(ens.dense, eta, smp.B, smp.scheme, smp.p)
    want = float(np.log(np.abs(np.linalg.eigvals(T4)).max()))
    est = moment_lyapunov(ens, eta, smp, 4.0, seed=1, **KW)
    assert _close(est, want), (est, want)


def test_slope_at_zero_is_the_lyapunov_exponent():
    """Lambda'(0) = the top Lyapunov exponent: the Richardson slope (4 Lambda(e) -
    Lambda(2e)) / (2e) equals the toy's exact E log|1 - eta h| and the simulated exponent
    of a d = 3 ensemble (5 combined standard errors)."""
    from sim.nonlinear_toy import reference

    e = 0.05
    cases = [(sim.toy()[1], 0.7, 1, reference().lyapunov_07, 0.0)]
    ens = sim.wishart(6, 3, 1, seed=0)
    eta = 1.2 * sim.thresholds(ens, 1).eta_exact
    lyap = sim.lyapunov_exponent(ens, eta, 1, steps=4000, paths=512, seed=4)
    cases.append((ens, eta, 1, lyap.value, lyap.se))
    for ens, eta, B, want, want_se in cases:
        a, b = moment_lyapunov(ens, eta, B, [e, 2 * e], seed=6, steps=200, population=2000,
                               replicas=4, bias_check=False)
        slope = (4 * a.value - b.value) / (2 * e)
        se = np.hypot(4 * a.se, b.se) / (2 * e)
        assert abs(slope - want) <= 5 * np.hypot(se, want_se) + 1e-3, (slope, want, se)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from strategies import any_ensemble, lr_ratios, samplings  # noqa: E402


@settings(max_examples=10)
@given(data=st.data(), ens=any_ensemble(d=st.integers(1, 3), n=st.integers(2, 6)),
       ratio=lr_ratios(gap=(0.8, 1.2), low=0.3, high=2.5))
def test_lambda_two_on_drawn_ensembles(data, ens, ratio):
    """Drawn ensembles, samplings and learning rates (stable and unstable): Lambda(2) by
    cloning = log rho(T) within 4 SE + the bias bound + 2e-3 (finite N and steps)."""
    smp = data.draw(samplings(ens.n, p=st.floats(0.2, 1.0)))
    th = sim.thresholds(ens, smp)
    if not np.isfinite(th.eta_exact):
        return
    eta = ratio * th.eta_exact
    est = moment_lyapunov(ens, eta, smp, 2.0, steps=100, population=1500, replicas=4, seed=2)
    want = sim.spectral_radius(ens, eta, smp).log_rho
    assert abs(est.value - want) <= 4 * est.se + abs(est.bias) + 2e-3, (est, want)


@pytest.mark.parametrize("q", [1.0, 2.0, 4.0])
def test_one_d_reshuffling(q):
    """1-D random reshuffling with B = 1: an epoch multiplies by every (1 - eta h_i) once,
    whatever the order, so Lambda(q) = (q/n) sum_i log|1 - eta h_i| exactly (averaged
    over whole epochs; 4 SE + bias bound)."""
    h = np.array([0.2, 1.0, 3.8, 2.5])
    ens = sim.from_hessians(h[:, None, None])
    for eta in (0.3, 0.7):
        est = moment_lyapunov(ens, eta, Sampling(1, "reshuffle"), q, steps=120, burn_in=40,
                              population=500, replicas=4, seed=1)
        exact = q / 4 * np.sum(np.log(np.abs(1 - eta * h)))
        assert _close(est, exact), (eta, est, exact)


def test_interval_is_student_t_plus_bias_bound():
    """``ci`` is the Student-t 95% interval of the replicas' mean (``replicas - 1``
    degrees of freedom) widened by ``|bias|``, and on the 1-D toy it holds the exact
    ``Lambda(2) = log E(1 - eta h)^2`` (one comparison at 95%+: the bias bound only
    widens it)."""
    from scipy import stats

    _, toy = sim.toy()
    eta = 0.6
    est = moment_lyapunov(toy, eta, 1, 2.0, steps=200, population=1024, seed=3, replicas=8)
    half = stats.t.ppf(0.975, 7) * est.se + abs(est.bias)
    assert est.half_width == pytest.approx(half, rel=1e-15)
    assert est.ci == pytest.approx((est.value - half, est.value + half), rel=1e-15)
    exact = np.log(np.mean((1 - eta * np.array([0.2, 3.8])) ** 2))
    assert est.ci[0] <= exact <= est.ci[1]
