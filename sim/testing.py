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

from sim._validate import check_bool, check_choice, check_int, check_positive, check_real
from sim.ensembles import Ensemble, from_factors, from_hessians
from sim.sampling import MARKOV_SCHEMES, SCHEMES, Sampling

MAX_EIGENVALUE = 10.0

_floats = dict(allow_nan=False, allow_infinity=False)


@st.composite
def spectra(draw, d: int, *, min_value: float = 0.0, max_value: float = MAX_EIGENVALUE,
            allow_zero: bool = True) -> np.ndarray:
    """Non-negative eigenvalues, shape ``(d,)``, descending; zeros (rank deficiency)
    are drawn on purpose when ``allow_zero``."""
    d = check_int(d, "d")
    min_value, max_value = check_real(min_value, "min_value"), check_real(max_value, "max_value")
    allow_zero = check_bool(allow_zero, "allow_zero")
    values = draw(st.lists(
        st.floats(min_value=max(min_value, 1e-3), max_value=max_value, **_floats)
        | (st.just(0.0) if allow_zero else st.nothing()),
        min_size=d, max_size=d))
    return np.sort(np.array(values, dtype=float))[::-1]


@st.composite
def rotations(draw, d: int) -> np.ndarray:
    """A random orthogonal ``d x d`` matrix (Haar, from a drawn seed by QR with sign
    correction)."""
    d = check_int(d, "d")
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


def _value(draw, x, name: str, low: int = 1):
    """The integer ``name``: drawn from ``x`` if it is a strategy, else ``x`` itself."""
    return check_int(draw(x) if isinstance(x, st.SearchStrategy) else x, name, low)


@st.composite
def ensembles(draw, d=dims, n=sample_counts, **spectrum_kw) -> Ensemble:
    """General (non-commuting) ensembles: each ``H_i`` has its own spectrum and rotation.
    Strategies or fixed integers for ``d`` (default 1..6) and ``n`` (default 2..16)."""
    d = _value(draw, d, "d")
    n = _value(draw, n, "n")
    Hs = np.stack([draw(psd_matrices(d, **spectrum_kw))[0] for _ in range(n)])
    if not np.any(Hs):
        Hs[0] = np.eye(d)  # keep H != 0: an all-zero ensemble has no threshold
    return from_hessians(Hs, name=f"drawn(n={n}, d={d})")


@st.composite
def commuting_ensembles(draw, d=dims, n=sample_counts, **spectrum_kw) -> Ensemble:
    """Ensembles with one shared eigenbasis (all ``H_i`` commute)."""
    d = _value(draw, d, "d")
    n = _value(draw, n, "n")
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
    max_value = check_positive(max_value, "max_value")
    n = _value(draw, n, "n")
    h = np.array(draw(st.lists(st.floats(0.0, max_value, **_floats), min_size=n, max_size=n)))
    if not np.any(h > 1e-6):
        h[0] = 1.0
    return from_hessians(h[:, None, None], name=f"1d(n={n})")


@st.composite
def factor_ensembles(draw, d=dims, n=sample_counts, r=ranks) -> Ensemble:
    """Low-rank ensembles ``H_i = G_i G_i^T`` with ``G_i`` of shape ``(d, r)``."""
    d = _value(draw, d, "d")
    n = _value(draw, n, "n")
    r = _value(draw, r, "r")
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.floats(0.1, 3.0, **_floats))
    G = scale * np.random.default_rng(seed).standard_normal((n, d, r))
    return from_factors(G, name=f"factors(n={n}, d={d}, r={r})")


@st.composite
def uniform_ensembles(draw, d=dims, n=sample_counts) -> Ensemble:
    """Zero non-uniformity: every sample has the same Hessian (``Sigma = 0``)."""
    d = _value(draw, d, "d")
    n = _value(draw, n, "n")
    A, _ = draw(psd_matrices(d, allow_zero=False))
    return from_hessians(np.repeat(A[None], n, axis=0), name=f"uniform(n={n}, d={d})")


def any_ensemble(d=dims, n=sample_counts) -> st.SearchStrategy:
    """One of the ensemble families above."""
    return st.one_of(ensembles(d, n), commuting_ensembles(d, n), factor_ensembles(d, n),
                     uniform_ensembles(d, n))


def batch_sizes(n: int) -> st.SearchStrategy:
    """``B`` in ``[1, n]``, with the ends ``1`` (SGD) and ``n`` (GD) drawn often."""
    n = check_int(n, "n")
    return st.sampled_from([1, n]) | st.integers(1, n)


@st.composite
def samplings(draw, n, schemes=MARKOV_SCHEMES, p=None) -> Sampling:
    """A :class:`~sim.Sampling` valid for ``n`` samples (a strategy or an integer):
    a scheme from ``schemes``, ``B`` from :func:`batch_sizes`, the mixture's ``p`` from
    the strategy ``p`` (default any float in ``[0, 1]``), either ``drop_last`` for
    reshuffling."""
    n = _value(draw, n, "n")
    if isinstance(schemes, str) or not hasattr(schemes, "__iter__"):
        raise TypeError(f"schemes must be a sequence of scheme names, got {schemes!r}")
    schemes = tuple(check_choice(s, "schemes", SCHEMES) for s in schemes)
    if not schemes:
        raise ValueError("schemes must name at least one scheme")
    scheme = draw(st.sampled_from(tuple(schemes)))
    if scheme == "mixture":
        prob = draw(p if p is not None else st.floats(0.0, 1.0, **_floats))
        return Sampling(scheme="mixture", p=prob)
    drop_last = draw(st.booleans()) if scheme == "reshuffle" else True
    return Sampling(draw(batch_sizes(n)), scheme, drop_last=drop_last)


@st.composite
def batch_pairs(draw, n=sample_counts) -> tuple[int, int]:
    """``(n, B)`` with ``1 <= B <= n``."""
    n = _value(draw, n, "n")
    return n, draw(batch_sizes(n))


def lr_ratios(gap: tuple[float, float] = (0.9, 1.1), low: float = 0.05,
              high: float = 3.0) -> st.SearchStrategy:
    """Learning rates as a ratio to ``eta_exact``, kept out of ``gap`` (Monte Carlo
    cannot decide knife-edge cases)."""
    if isinstance(gap, str) or np.ndim(gap) != 1 or len(gap) != 2:
        raise TypeError(f"gap must be a pair (lo, hi), got {gap!r}")
    lo, hi = check_real(gap[0], "gap[0]"), check_real(gap[1], "gap[1]")
    low, high = check_real(low, "low"), check_real(high, "high")
    if not low < lo <= hi < high:
        raise ValueError(f"need low < gap[0] <= gap[1] < high, got {low}, {gap}, {high}")
    return st.floats(low, lo, **_floats) | st.floats(hi, high, **_floats)


# ---------------------------------------------------------------- argument kinds
# Values a public function must refuse (or accept) for an argument of a given kind:
# the fuzzing side of "errors name the argument" (tests/test_reliability_inputs.py).

_SIGNED = (np.int8, np.int16, np.int32, np.int64)
_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)


def wrong_kinds() -> st.SearchStrategy:
    """Values of no numeric kind at all: strings (``'no'`` is truthy), ``None``, bytes,
    complex numbers, containers (lists and dicts are unhashable)."""
    return st.sampled_from(["no", "1", "", None, b"1", 1 + 0j, np.complex128(0.5 + 1j),
                            [1], ["without"], (1,), {"a": 1}])


def _floats_where(keep) -> st.SearchStrategy:
    """Python and float32 floats (nan and infinities included) for which ``keep``."""
    return (st.floats() | st.floats(width=32).map(np.float32)).filter(keep)


def not_integers() -> st.SearchStrategy:
    """Values an integer argument refuses with a ``TypeError`` naming it (or, for
    ``nan``/``inf`` and fractions where whole floats are read as counts, a
    ``ValueError``): :func:`wrong_kinds`, booleans (``True`` is no count) and floats
    that are not whole."""
    return (wrong_kinds() | st.sampled_from([True, False, np.True_, np.False_])
            | _floats_where(lambda x: not float(x).is_integer()))


def not_booleans() -> st.SearchStrategy:
    """Values a boolean argument refuses with a ``TypeError``: anything but ``bool`` and
    ``numpy.bool_``, truthy or not (``'no'``, ``'False'``, ``0``, ``1``, ``0.0``, nan)."""
    return (wrong_kinds() | st.sampled_from(["True", "False", np.int64(1), np.float64(0.0)])
            | st.integers(-2, 2) | _floats_where(lambda x: True))


def not_probabilities() -> st.SearchStrategy:
    """Values a probability argument refuses: :func:`wrong_kinds` and booleans (a
    ``TypeError``), and real numbers outside ``[0, 1]``, nan and infinities (a
    ``ValueError``)."""
    return (wrong_kinds() | st.sampled_from([True, False, np.True_])
            | st.integers(-10**6, 10**6).filter(lambda k: k not in (0, 1))
            | _floats_where(lambda x: not 0.0 <= float(x) <= 1.0))


def numpy_integers(value: int) -> st.SearchStrategy:
    """``value`` as a NumPy integer scalar of every width that holds it (signed, and
    unsigned when ``value >= 0``): an integer argument accepts each."""
    value = check_int(value, "value", low=-128)
    types = _SIGNED + (_UNSIGNED if value >= 0 else ())
    if value > 127:
        types = tuple(t for t in types if np.iinfo(t).max >= value)
    return st.sampled_from(types).map(lambda t: t(value))


def numpy_booleans() -> st.SearchStrategy:
    """``numpy.bool_`` scalars (``np.True_``, ``np.False_``): a boolean argument accepts
    both."""
    return st.booleans().map(np.bool_)


def numpy_probabilities() -> st.SearchStrategy:
    """Probabilities in ``[0, 1]`` as NumPy ``float32``/``float64`` scalars, with the
    ends drawn often."""
    p = st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)
    return st.tuples(p, st.sampled_from([np.float32, np.float64])).map(lambda a: a[1](a[0]))


__all__ = ["spectra", "rotations", "psd_matrices", "ensembles", "commuting_ensembles",
           "one_d_ensembles", "factor_ensembles", "uniform_ensembles", "any_ensemble",
           "batch_sizes", "batch_pairs", "samplings", "lr_ratios", "MAX_EIGENVALUE",
           "wrong_kinds", "not_integers", "not_booleans", "not_probabilities", "numpy_integers",
           "numpy_booleans", "numpy_probabilities"]
