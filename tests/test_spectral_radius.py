"""Claim: spectral_radius is rho of the dense Kronecker operator, and the thresholds
are where rho(T) and the theorem's lambda_max cross 1 (docs/theory.md, section 4)."""

import numpy as np
import pytest

import sim
from oracles import batch_distribution, crossing, operator_bruteforce
from sim import Sampling
from sim.nonlinear_toy import reference
from sim.stability import theorem_lambda

CASES = [Sampling(1), Sampling(2), Sampling(2, "with"), Sampling(scheme="mixture", p=0.5)]


def _rho_dense(ens, eta, smp):
    T = operator_bruteforce(ens.dense, eta, batch_distribution(ens.n, smp.B, smp.scheme, smp.p))
    return np.abs(np.linalg.eigvals(T)).max(), T


@pytest.mark.parametrize("smp", CASES, ids=str)
@pytest.mark.parametrize("d", [1, 2, 4])
@pytest.mark.parametrize("ratio", [0.5, 1.5])
def test_matches_dense_operator(smp, d, ratio):
    """rho(T) matrix-free equals max |eig| of the dense d^2 x d^2 operator (1e-10)."""
    ens = sim.wishart(4, d, 1, seed=d)
    eta = ratio * sim.thresholds(ens, smp).eta_exact
    want, _ = _rho_dense(ens, eta, smp)
    got = sim.spectral_radius(ens, eta, smp)
    assert got.rho == pytest.approx(want, rel=1e-10)
    assert got.log_rho == pytest.approx(np.log(want), rel=1e-10, abs=1e-12)


def test_lanczos_branch_matches_dense():
    """Above DENSE_MAX_D the Lanczos result equals the dense eigenvalue (1e-10)."""
    ens = sim.wishart(5, 12, 2, seed=4, factors=True)
    eta = 0.8 / ens.a
    want, _ = _rho_dense(ens, eta, Sampling(2))
    got = sim.spectral_radius(ens, eta, 2)
    assert got.rho == pytest.approx(want, rel=1e-10)
    assert np.linalg.eigvalsh(got.eigenmatrix).min() > -1e-8  # PSD (Perron-Frobenius)


def test_eigenmatrix_is_psd_eigenvector():
    """The returned eigenmatrix V satisfies T(V) = rho V and is PSD."""
    ens = sim.wishart(6, 3, 1, seed=1)
    eta = 0.9 / ens.a
    res = sim.spectral_radius(ens, eta, 1)
    np.testing.assert_allclose(sim.apply_T(ens, eta, 1, res.eigenmatrix),
                               res.rho * res.eigenmatrix, atol=1e-12)
    assert np.linalg.eigvalsh(res.eigenmatrix).min() > -1e-12


@pytest.mark.parametrize("smp", CASES, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thresholds_are_crossings(smp, seed):
    """eta_exact is where rho(T) crosses 1 and eta_theorem where the theorem's
    lambda_max crosses 1, both to 1e-8 relative by bisection."""
    ens = sim.wishart(5, 3, 1, seed=seed)
    th = sim.thresholds(ens, smp)
    rho = lambda e: sim.spectral_radius(ens, e, smp).rho  # noqa: E731
    assert crossing(rho, 1e-6 * th.eta_gd, th.eta_gd) == pytest.approx(th.eta_exact, rel=1e-8)
    lam = lambda e: theorem_lambda(ens, e, th.gamma)  # noqa: E731
    assert crossing(lam, 1e-6 * th.eta_gd, th.eta_gd) == pytest.approx(th.eta_theorem,
                                                                      rel=1e-8)
    assert th.eta_theorem <= th.eta_exact * (1 + 1e-10) <= th.eta_gd * (1 + 1e-10)


def test_thresholds_with_null_space():
    """A rank-deficient H (common null direction) leaves the thresholds finite and exact."""
    rng = np.random.default_rng(0)
    G = rng.standard_normal((6, 3, 1))
    G[:, 2, :] = 0.0  # every H_i kills e_3
    ens = sim.from_factors(G)
    th = sim.thresholds(ens, 1)
    assert np.isfinite(th.eta_exact)
    assert sim.spectral_radius(ens, 0.99 * th.eta_exact, 1).rho == pytest.approx(1.0, abs=1e-9)
    inner = sim.from_factors(G[:, :2, :])
    assert sim.thresholds(inner, 1).eta_exact == pytest.approx(th.eta_exact, rel=1e-10)


def test_report_verdicts():
    """report() agrees with the thresholds on both sides of eta_exact."""
    ens = sim.toy()[1]
    th = sim.thresholds(ens, 1)
    below, above = sim.report(ens, 0.99 * th.eta_exact, 1), sim.report(ens, 1.01 * th.eta_exact, 1)
    assert below.stable["exact"] and not above.stable["exact"]
    assert below.stable["theorem"] and below.stable["gd"] and below.stable["box"]
    assert sim.report(ens, 0.7, 1).rho == pytest.approx(reference().mean_square_07, rel=1e-12)


def test_toy_threshold():
    """Toy minimum x = 1, B = 1: eta_exact = eta_theorem = 2a/(a^2 + s^2) = 4/7.24,
    eta_gd = 2/a = 1."""
    ref = reference()
    th = sim.thresholds(sim.toy()[1], 1)
    assert th.eta_exact == pytest.approx(ref.eta_mean_square, rel=1e-12)
    assert th.eta_theorem == pytest.approx(ref.eta_mean_square, rel=1e-12)
    assert th.eta_gd == pytest.approx(ref.eta_gd, rel=1e-14)
