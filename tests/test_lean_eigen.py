"""Claim: the three-vector Lanczos solver (``sim._lanczos``) finds the top eigenvalue of
a symmetric operator to the requested tolerance without reorthogonalization, its
checkpoint resumes a killed run to the same numbers, and packed symmetric storage
keeps the Frobenius product. Tolerances: 1e-10 relative for eigenvalues asked to 1e-12
(the residual bound ``||r||^2 / gap`` is far smaller for separated tops)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim._lanczos import lean_top_eigenvalue, pack, packed_size, unpack


def operator(dim: int, seed: int, gap: float = 0.2, second: bool = False):
    """A symmetric matrix from a drawn spectrum (top separated by ``gap`` from 1, the
    largest drawn value; with ``second`` the second eigenvalue is exactly 1, so the gap
    is exactly ``gap``) and a random rotation."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    w = np.sort(rng.uniform(-1.0, 1.0, dim))
    if second and dim > 1:
        w[-2] = 1.0
    w[-1] = 1.0 + gap
    return (Q * w) @ Q.T, w[-1], Q[:, -1]


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(2, 300), seed=st.integers(0, 2**31), gap=st.floats(0.05, 2.0))
def test_top_eigenvalue_and_vector(dim, seed, gap):
    A, top, u = operator(dim, seed, gap)
    res = lean_top_eigenvalue(lambda v: A @ v, dim, tol=1e-12, vector=True)
    assert res.converged
    assert res.value == pytest.approx(top, rel=1e-10)
    assert abs(abs(res.vector @ u) - 1.0) < 1e-8
    assert np.linalg.norm(A @ res.vector - res.value * res.vector) < 1e-6
    assert res.products == 2 * res.iterations - 1


def test_value_only_converges_before_the_dimension():
    """Without ``vector`` (one pass, no start vector kept) the value converges in far
    fewer steps than the dimension: the loss of orthogonality does not stall it."""
    A, top, _ = operator(300, 1)
    res = lean_top_eigenvalue(lambda v: A @ v, 300, tol=1e-12)
    assert res.vector is None and res.value == pytest.approx(top, rel=1e-10)
    assert res.iterations < 300  # converged long before the dimension


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(3, 400), seed=st.integers(0, 2**31),
       gap=st.sampled_from([1e-3, 1e-2, 0.1, 1.0]), tol=st.sampled_from([1e-8, 1e-10]))
def test_gap_rule_keeps_the_value_to_tol(dim, seed, gap, tol):
    """The value-only stop (Kato-Temple estimate ``rho^2 / gap`` with a safety factor of
    10, and a Ritz value steady over three steps) keeps the value to ``tol`` relative,
    for gaps of exactly 1e-3 to 1 (second eigenvalue 1), from a generic start. From a
    start nearly orthogonal to the top eigenvector (overlap 1e-6) it may stop at the
    second eigenvalue before the top one has grown into the Krylov space (the residual
    rule, running longer, sometimes finds the top): what it returns is then still an
    eigenvalue to ``tol``. This is why ``eta_exact`` starts from a PSD matrix, whose
    overlap with the PSD top eigenmatrix is positive (``docs/theory.md``, section 12)."""
    A, top, u = operator(dim, seed, gap, second=True)
    res = lean_top_eigenvalue(lambda x: A @ x, dim, tol=tol)
    assert res.converged and res.stop in ("gap", "residual", "invariant")
    assert res.value == pytest.approx(top, rel=tol)
    rng = np.random.default_rng(seed + 1)
    v = rng.standard_normal(dim)
    v -= (v @ u) * u
    v = v / np.linalg.norm(v) + 1e-6 * u
    gap_rule = lean_top_eigenvalue(lambda x: A @ x, dim, tol=tol, v0=v)
    assert gap_rule.converged
    eigenvalues = np.linalg.eigvalsh(A)
    assert np.min(np.abs(eigenvalues - gap_rule.value)) <= 2 * tol * abs(gap_rule.value)


def test_gap_rule_saves_steps():
    """On a separated top (gap 0.05 of the spread, d = 1000) the gap rule stops at
    least a quarter earlier than the residual rule (measured 53 against 80 steps)."""
    A, top, _ = operator(1000, 4, gap=0.05)
    value = lean_top_eigenvalue(lambda v: A @ v, 1000, tol=1e-10)
    residual = lean_top_eigenvalue(lambda v: A @ v, 1000, tol=1e-10, vector=True)
    assert value.stop == "gap" and value.value == pytest.approx(top, rel=1e-10)
    assert value.iterations <= 0.75 * residual.iterations


def killed_after(A, products: int, path) -> None:
    """A lean solve of ``A`` (tag "A", checkpoint every 5 steps) killed at its
    ``products``-th product."""
    calls = [0]

    def dying(v):
        calls[0] += 1
        if calls[0] == products:
            raise KeyboardInterrupt
        return A @ v

    with pytest.raises(KeyboardInterrupt):
        lean_top_eigenvalue(dying, len(A), tol=1e-12, checkpoint=path, tag="A", every=5)


def test_checkpoint_resumes_to_the_same_numbers(tmp_path):
    """Killed after 12 products, resumed from its checkpoint (saved every 5 steps): the
    same value, residual and step count as an uninterrupted run, bit for bit, and the
    file is gone at the end."""
    A, _, _ = operator(200, 2)
    path = tmp_path / "state.npz"
    killed_after(A, 12, path)
    assert path.is_file()
    resumed = lean_top_eigenvalue(lambda v: A @ v, 200, tol=1e-12, checkpoint=path, tag="A",
                                  every=5)
    whole = lean_top_eigenvalue(lambda v: A @ v, 200, tol=1e-12)
    assert (resumed.value, resumed.residual, resumed.iterations) == (
        whole.value, whole.residual, whole.iterations)
    assert resumed.products == whole.products - 10
    assert not path.exists()


def test_checkpoint_of_another_operator_is_refused(tmp_path):
    A, _, _ = operator(50, 3)
    path = tmp_path / "state.npz"
    killed_after(A, 7, path)
    with pytest.raises(ValueError, match="checkpoint: .* another operator"):
        lean_top_eigenvalue(lambda v: A @ v, 50, tol=1e-12, checkpoint=path, tag="B")


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_packed_storage_keeps_the_frobenius_product(d, seed):
    rng = np.random.default_rng(seed)
    M, N = rng.standard_normal((2, d, d))
    M, N = M + M.T, N + N.T
    assert pack(M).shape == (packed_size(d),)
    assert pack(M) @ pack(N) == pytest.approx(np.sum(M * N), rel=1e-12, abs=1e-12)
    assert np.array_equal(unpack(pack(M), d), M) or np.allclose(unpack(pack(M), d), M,
                                                                 rtol=1e-15, atol=1e-15)


# ---------------------------------------------------------------- in sim.stability
import sim  # noqa: E402
from sim.stability import LEAN_MIN_D, exact_threshold, operator_memory  # noqa: E402


@settings(max_examples=6, deadline=None)
@given(n=st.integers(3, 12), d=st.integers(11, 40), r=st.integers(1, 3),
       factors=st.booleans(), B=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_lean_threshold_equals_eigsh(n, d, r, factors, B, seed):
    """``eta_exact`` and ``rho(T)`` by the lean solver equal eigsh's to 1e-10 relative on
    sizes both can run (d above the dense-basis size, so both are Lanczos)."""
    ens = sim.wishart(n, d, r, seed=seed % 2**31, factors=factors)
    B = min(B, n - 1)
    lean = exact_threshold(ens, B, solver="lean")
    ref = exact_threshold(ens, B, solver="eigsh")
    assert lean.solver == "lean" and ref.solver == "eigsh"
    assert lean.eta_exact == pytest.approx(ref.eta_exact, rel=1e-10)
    eta = 0.9 * ref.eta_exact
    red, _ = ens.reduced(basis=False)  # on null(H) T is the identity: a multiple top 1
    if red.d <= sim.stability.DENSE_MAX_D:
        return
    a = sim.spectral_radius(red, eta, B, solver="lean")
    b = sim.spectral_radius(red, eta, B, solver="eigsh")
    assert a.rho == pytest.approx(b.rho, rel=1e-10)
    assert abs(np.sum(a.eigenmatrix * b.eigenmatrix)) == pytest.approx(1.0, abs=1e-6)


def test_auto_picks_lean_by_size_and_budget():
    """``auto`` is eigsh at small ``d`` and lean above :data:`LEAN_MIN_D`, or where
    eigsh's 24 vectors exceed the budget and lean's three fit."""
    ens = sim.wishart(4, 30, 2, seed=0, factors=True)
    assert exact_threshold(ens, 1).solver == "eigsh"
    tight = (operator_memory(ens, "lean") + operator_memory(ens, "eigsh")) / 2
    assert exact_threshold(ens, 1, memory_budget=tight).solver == "lean"
    with pytest.raises(ValueError, match="ens: the estimated memory"):
        exact_threshold(ens, 1, memory_budget=operator_memory(ens, "lean") / 2)
    big = sim.wishart(2, LEAN_MIN_D + 1, 1, seed=0, factors=True)
    assert sim.stability._solver(big, "auto", None) == "lean"


def _killed_solve(ens, path, at: int, rank: int | None = None) -> None:
    """Run a lean ``exact_threshold(ens, 2)`` with ``checkpoint=path`` and kill it at the
    ``at``-th sandwich average (counting only those at ``rank`` where given)."""
    import sim.stability as stab

    calls = [0]
    real = stab.sandwich_average

    def dying(e, M):
        calls[0] += rank is None or M.shape[0] == rank
        if calls[0] == at:
            raise KeyboardInterrupt
        return real(e, M)

    stab.sandwich_average = dying
    try:
        with pytest.raises(KeyboardInterrupt):
            exact_threshold(ens, 2, solver="lean", checkpoint=path)
    finally:
        stab.sandwich_average = real


def test_threshold_checkpoint_resumes(tmp_path):
    """A lean ``eta_exact`` killed mid-solve resumes from its checkpoint to the same
    value as an uninterrupted solve."""

    ens = sim.wishart(6, 25, 2, seed=4, factors=True)
    path = tmp_path / "eta.npz"
    _killed_solve(ens, path, at=13)
    assert path.is_file()
    resumed = exact_threshold(ens, 2, solver="lean", checkpoint=path)
    whole = exact_threshold(ens, 2, solver="lean")
    assert resumed.eta_exact == whole.eta_exact
    assert resumed.applications < whole.applications and not path.exists()


# ------------------------------------------------- warm start and the diagonal H path
from sim.moments import markov_gamma  # noqa: E402
from sim.stability import (  # noqa: E402
    COARSE_MIN_D,
    _coarse_sizes,
    _embedded,
    _range_of_H,
    eta_exact,
    eta_theorem,
)

# Two solves, each within tol = 1e-10 of the eigenvalue, agree to 2 tol.
AGREE = 2e-10


def _big_factors(seed: int, d: int = 600, n: int = 70, r: int = 8):
    """A factor ensemble whose ``range(H)`` (dimension ``n r = 560 < d``, so of full rank
    with a well-conditioned ``H``) has coarse levels."""
    return sim.wishart(n, d, r, seed=seed, factors=True)


def test_coarse_sizes():
    """Levels of 30% (rounded up) down to ``COARSE_MIN_D`` = 150 directions."""
    assert COARSE_MIN_D == 150
    assert _coarse_sizes(10**4) == [3000, 900, 270]
    assert _coarse_sizes(2000) == [600, 180]
    assert _coarse_sizes(560) == [168]
    assert _coarse_sizes(497) == [150] and _coarse_sizes(496) == []
    assert _coarse_sizes(10) == []


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 20))
def test_warm_start_keeps_the_value(seed, B):
    """The lean solve from the coarse levels' eigenmatrix gives the value of the cold lean
    solve and of eigsh (to ``AGREE``): the start changes the path, not the limit."""
    ens = _big_factors(seed)
    warm = exact_threshold(ens, B, solver="lean")
    cold = exact_threshold(ens, B, solver="lean", warm_start=False)
    ref = exact_threshold(ens, B, solver="eigsh")
    assert warm.rank == 560 and warm.coarse_applications > 0
    assert warm.coarse_cost == pytest.approx(warm.coarse_applications * (168 / 560) ** 2)
    assert cold.coarse_applications == 0 and ref.coarse_applications == 0
    assert warm.eta_exact == pytest.approx(ref.eta_exact, rel=AGREE)
    assert cold.eta_exact == pytest.approx(ref.eta_exact, rel=AGREE)
    g = markov_gamma(ens, B)[1]
    assert eta_exact(ens, g, solver="lean") == pytest.approx(warm.eta_exact, rel=AGREE)
    assert sim.thresholds(ens, B, solver="lean", warm_start=False).eta_exact == \
        pytest.approx(cold.eta_exact, rel=AGREE)


@pytest.mark.parametrize("gap", [0.5, 0.02, 0.004])
def test_warm_start_finds_a_top_off_the_sharp_block(gap, monkeypatch):
    """Diagonal ``H_i`` make ``T`` diagonal on matrix entries: the top eigenmatrix is the
    entry ``E_jj`` maximising ``(gamma E[h_ij^2] + (1 - gamma) h_j^2) / h_j``. Put it on a
    direction of moderate ``h`` (below every one of the 35% sharpest, 5 to 10) that one
    sample of 20 carries (at ``B = 1``, ``gamma = 1``: value ``20 h_j``), just above the
    sharpest uniform direction (value 10). The coarse level (18 of 60 directions, with
    ``COARSE_MIN_D`` lowered to 15 to keep the test small) sees only the sharp block,
    yet the warm solve returns ``2 / (10 + gap)`` to the solver's ``tol``, as eigsh
    does."""
    monkeypatch.setattr(sim.stability, "COARSE_MIN_D", 15)
    rng = np.random.default_rng(1)
    n, d = 20, 60
    diag = np.tile(rng.uniform(0.01, 1.0, size=d), (n, 1))
    top = rng.choice(d, 21, replace=False)
    diag[:, top] = rng.uniform(5.0, 10.0, size=top.size)
    diag[:, top[0]] = 10.0
    j = np.setdiff1d(np.arange(d), top)[0]
    diag[:, j] = 0.0
    diag[0, j] = 10.0 + gap  # h_j = (10 + gap) / 20
    ens = sim.Ensemble(Hs=np.einsum("ij,jk->ijk", diag, np.eye(d)))
    warm = exact_threshold(ens, 1, solver="lean")
    assert warm.coarse_applications > 0 and warm.rank == d
    assert warm.eta_exact == pytest.approx(2.0 / (10.0 + gap), rel=1e-10)
    assert exact_threshold(ens, 1, solver="eigsh").eta_exact == pytest.approx(
        warm.eta_exact, rel=AGREE)


def test_warm_start_is_positive_definite():
    """The start is positive definite (the PSD projection of an indefinite coarse
    eigenmatrix, plus the cold start), of which the top eigenmatrix has a positive
    Frobenius product."""
    rng = np.random.default_rng(0)
    h = np.sort(rng.exponential(size=40))
    A = rng.standard_normal((12, 12))
    start = _embedded(A + A.T, h)  # indefinite on purpose
    assert np.linalg.eigvalsh(start)[0] > 0


def test_warm_start_and_gamma_are_checked():
    ens = _big_factors(0)
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match="warm_start"):
            exact_threshold(ens, 2, solver="lean", warm_start=bad)
        with pytest.raises(TypeError, match="warm_start"):
            eta_exact(ens, 0.5, solver="lean", warm_start=bad)
        with pytest.raises(TypeError, match="warm_start"):
            sim.thresholds(ens, 2, warm_start=bad)
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="gamma"):
            eta_exact(ens, bad)


def test_warm_checkpoint_resumes_without_the_coarse_levels(tmp_path):
    """A warm lean solve killed at full rank resumes from its checkpoint (the coarse
    levels are not rerun: the saved state is the start) to the value of the
    uninterrupted warm solve, bit for bit (the resumed run rebuilds the Ritz history the
    gap rule looks back on)."""

    ens = _big_factors(3)
    whole = exact_threshold(ens, 2, solver="lean")
    assert whole.applications >= 6, "too few steps at full rank for a checkpoint"
    path = tmp_path / "eta.npz"
    _killed_solve(ens, path, at=6, rank=whole.rank)
    assert path.is_file()
    resumed = exact_threshold(ens, 2, solver="lean", checkpoint=path)
    assert resumed.coarse_applications == 0 and not path.exists()
    assert resumed.eta_exact == whole.eta_exact
    assert resumed.applications == whole.applications - 5


def test_from_gram_takes_the_index_basis_and_warm_start():
    """The production path: a reduced ensemble from ``from_gram`` (diagonal ``H``, index
    basis, no eigh) at a rank with coarse levels gives eigsh's value."""
    rng = np.random.default_rng(5)
    Phi = rng.standard_normal((900, 60 * 9)) * rng.exponential(size=900)[:, None]
    ens = sim.Ensemble.from_gram(Phi.T @ Phi, 60)
    assert _range_of_H(ens.unit)[1].ndim == 1
    warm = exact_threshold(ens, 3, solver="lean")
    assert warm.rank == 540 and warm.coarse_applications > 0
    assert warm.eta_exact == pytest.approx(exact_threshold(ens, 3, solver="eigsh").eta_exact,
                                           rel=AGREE)


def _rotate(ens, seed: int):
    """The same ensemble in a random orthonormal basis (``H`` no longer diagonal)."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((ens.d, ens.d)))
    if ens.G is not None:
        return sim.Ensemble(G=np.matmul(Q, ens.G))
    return sim.Ensemble(Hs=Q @ ens.Hs @ Q.T)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), factors=st.booleans(), B=st.integers(1, 4))
def test_diagonal_H_skips_the_eigendecomposition(seed, factors, B):
    """Where ``H`` is diagonal (a reduced ensemble from ``from_gram``; dense diagonal
    ``H_i`` in a shuffled order), its coordinates are the eigenbasis (an index array, no
    ``eigh``), and ``eta_exact`` and ``eta_theorem`` equal those of a rotated copy,
    which takes the ``eigh`` path, to ``AGREE``."""
    rng = np.random.default_rng(seed)
    if factors:
        Phi = rng.standard_normal((40, 12 * 3))  # d = 40, n = 12, r = 3
        ens = sim.Ensemble.from_gram(Phi.T @ Phi, 12)
    else:
        diag = rng.exponential(size=(6, 15)) * (rng.random((6, 15)) < 0.8)
        diag[0] += 0.1  # every direction in range(H)
        ens = sim.Ensemble(Hs=np.einsum("ij,jk->ijk", diag, np.eye(15)))
    h, U = _range_of_H(ens.unit)
    assert U.ndim == 1 and np.all(np.diff(h) >= 0)
    rot = _rotate(ens, seed)
    assert _range_of_H(rot.unit)[1].ndim == 2
    g = markov_gamma(ens, B)[1]
    for solver in ("lean", "eigsh"):
        assert eta_exact(ens, g, solver=solver) == pytest.approx(
            eta_exact(rot, g, solver=solver), rel=AGREE)
    assert eta_theorem(ens, g) == pytest.approx(eta_theorem(rot, g), rel=AGREE)
