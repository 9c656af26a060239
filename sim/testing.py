"""Hypothesis strategies for stability experiments.

Needs ``hypothesis``, which the ``test`` extra installs
(``pip install -e ".[test]"``); ``import sim`` does not import this module, so the
package itself never needs hypothesis.

Built in layers, the way array-api-tests does it: spectra, then rotations, then PSD
matrices from both (no rejection of random matrices), then ensembles, batch sizes
and learning rates. Every strategy returns what it claims by construction, and
``tests/test_strategies.py`` checks that it does and that edge cases are reached.

    from hypothesis import given
    from sim.testing import ensembles, batch_pairs

    @given(ensembles(), batch_pairs())
    def test_my_conjecture(ens, nB): ...
"""

from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("sim.testing needs hypothesis: pip install -e '.[test]'") from exc

from sim.ensembles import Ensemble, from_factors, from_hessians
from sim.sampling import MARKOV_SCHEMES, SCHEMES, Sampling

MAX_EIGENVALUE = 10.0

_floats = dict(allow_nan=False, allow_infinity=False)


@st.composite
def spectra(draw, d: int, *, min_value: float = 0.0, max_value: float = MAX_EIGENVALUE,
            allow_zero: bool = True) -> np.ndarray:
    """Non-negative eigenvalues, shape ``(d,)``, descending; zeros (rank deficiency)
    are drawn on purpose when ``allow_zero``."""
    values = draw(st.lists(
        st.floats(min_value=max(min_value, 1e-3), max_value=max_value, **_floats)
        | (st.just(0.0) if allow_zero else st.nothing()),
        min_size=d, max_size=d))
    return np.sort(np.array(values, dtype=float))[::-1]


@st.composite
def rotations(draw, d: int) -> np.ndarray:
    """A random orthogonal ``d x d`` matrix (Haar, from a drawn seed by QR with sign
    correction)."""
    seed = draw(st.integers(0, 2**32 - 1))
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


@st.composite
def psd_matrices(draw, d: int, **spectrum_kw) -> tuple[np.ndarray, np.ndarray]:
    """``(Q diag(lam) Q^T, lam)``: a PSD matrix with exactly the drawn spectrum."""
    lam = draw(spectra(d, **spectrum_kw))
    Q = draw(rotations(d))
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T), lam


dims = st.integers(1, 6)
sample_counts = st.integers(2, 16)
ranks = st.integers(1, 3)


def _value(draw, x):
    """Draw from ``x`` if it is a strategy, else take it as the value."""
    return draw(x) if isinstance(x, st.SearchStrategy) else x


@st.composite
def ensembles(draw, d=dims, n=sample_counts, **spectrum_kw) -> Ensemble:
    """General (non-commuting) ensembles: each ``H_i`` has its own spectrum and rotation.
    Strategies or fixed integers for ``d`` (default 1..6) and ``n`` (default 2..16)."""
    d = _value(draw, d)
    n = _value(draw, n)
    Hs = np.stack([draw(psd_matrices(d, **spectrum_kw))[0] for _ in range(n)])
    if not np.any(Hs):
        Hs[0] = np.eye(d)  # keep H != 0: an all-zero ensemble has no threshold
    return from_hessians(Hs, name=f"drawn(n={n}, d={d})")


@st.composite
def commuting_ensembles(draw, d=dims, n=sample_counts, **spectrum_kw) -> Ensemble:
    """Ensembles with one shared eigenbasis (all ``H_i`` commute)."""
    d = _value(draw, d)
    n = _value(draw, n)
    Q = draw(rotations(d))
    lam = np.stack([draw(spectra(d, **spectrum_kw)) for _ in range(n)])
    if not np.any(lam):
        lam[0, 0] = 1.0
    Hs = np.einsum("jk,ik,lk->ijl", Q, lam, Q)
    return from_hessians(0.5 * (Hs + Hs.transpose(0, 2, 1)),
                         name=f"commuting(n={n}, d={d})")


@st.composite
def one_d_ensembles(draw, n=sample_counts, max_value: float = MAX_EIGENVALUE) -> Ensemble:
    """1-D ensembles: curvatures ``h_i >= 0`` (not all zero)."""
    n = _value(draw, n)
    h = np.array(draw(st.lists(st.floats(0.0, max_value, **_floats), min_size=n, max_size=n)))
    if not np.any(h > 1e-6):
        h[0] = 1.0
    return from_hessians(h[:, None, None], name=f"1d(n={n})")


@st.composite
def factor_ensembles(draw, d=dims, n=sample_counts, r=ranks) -> Ensemble:
    """Low-rank ensembles ``H_i = G_i G_i^T`` with ``G_i`` of shape ``(d, r)``."""
    d = _value(draw, d)
    n = _value(draw, n)
    r = _value(draw, r)
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.floats(0.1, 3.0, **_floats))
    G = scale * np.random.default_rng(seed).standard_normal((n, d, r))
    return from_factors(G, name=f"factors(n={n}, d={d}, r={r})")


@st.composite
def uniform_ensembles(draw, d=dims, n=sample_counts) -> Ensemble:
    """Zero non-uniformity: every sample has the same Hessian (``Sigma = 0``)."""
    d = _value(draw, d)
    n = _value(draw, n)
    A, _ = draw(psd_matrices(d, allow_zero=False))
    return from_hessians(np.repeat(A[None], n, axis=0), name=f"uniform(n={n}, d={d})")


def any_ensemble(d=dims, n=sample_counts) -> st.SearchStrategy:
    """One of the ensemble families above."""
    return st.one_of(ensembles(d, n), commuting_ensembles(d, n), factor_ensembles(d, n),
                     uniform_ensembles(d, n))


def batch_sizes(n: int) -> st.SearchStrategy:
    """``B`` in ``[1, n]``, with the ends ``1`` (SGD) and ``n`` (GD) drawn often."""
    return st.sampled_from([1, n]) | st.integers(1, n)


@st.composite
def samplings(draw, n, schemes=MARKOV_SCHEMES, p=None) -> Sampling:
    """A :class:`~sim.Sampling` valid for ``n`` samples (a strategy or an integer):
    a scheme from ``schemes``, ``B`` from :func:`batch_sizes`, the mixture's ``p`` from
    the strategy ``p`` (default any float in ``[0, 1]``), either ``drop_last`` for
    reshuffling."""
    n = _value(draw, n)
    unknown = set(schemes) - set(SCHEMES)
    if unknown:
        raise ValueError(f"unknown schemes {sorted(unknown)}")
    scheme = draw(st.sampled_from(tuple(schemes)))
    if scheme == "mixture":
        prob = draw(p if p is not None else st.floats(0.0, 1.0, **_floats))
        return Sampling(scheme="mixture", p=prob)
    drop_last = draw(st.booleans()) if scheme == "reshuffle" else True
    return Sampling(draw(batch_sizes(n)), scheme, drop_last=drop_last)


@st.composite
def batch_pairs(draw, n=sample_counts) -> tuple[int, int]:
    """``(n, B)`` with ``1 <= B <= n``."""
    n = _value(draw, n)
    return n, draw(batch_sizes(n))


def lr_ratios(gap: tuple[float, float] = (0.9, 1.1), low: float = 0.05,
              high: float = 3.0) -> st.SearchStrategy:
    """Learning rates as a ratio to ``eta_exact``, kept out of ``gap`` (Monte Carlo
    cannot decide knife-edge cases)."""
    lo, hi = gap
    if not low < lo <= hi < high:
        raise ValueError(f"need low < gap[0] <= gap[1] < high, got {low}, {gap}, {high}")
    return st.floats(low, lo, **_floats) | st.floats(hi, high, **_floats)


__all__ = ["spectra", "rotations", "psd_matrices", "ensembles", "commuting_ensembles",
           "one_d_ensembles", "factor_ensembles", "uniform_ensembles", "any_ensemble",
           "batch_sizes", "batch_pairs", "samplings", "lr_ratios", "MAX_EIGENVALUE"]
