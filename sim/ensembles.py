"""Ensembles of per-sample Hessians ``H_i`` at an interpolating minimum.

An :class:`Ensemble` holds either dense ``Hs`` of shape ``(n, d, d)`` or factors
``G`` of shape ``(n, d, r)`` with ``H_i = G_i G_i^T`` (squared loss at an
interpolating minimum, ``G_i = J_i^T``). Everything downstream (exact moments,
thresholds, Monte Carlo) reads it through the same properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim._validate import check_int

PSD_RTOL = 1e-10
"""An eigenvalue ``>= -PSD_RTOL * max(1, lambda_max(H_i))`` counts as non-negative;
asymmetry up to ``PSD_RTOL * max(1, max|H_i|)`` is allowed (and symmetrised)."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _as_float_array(x, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array, got {type(x).__name__}") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0 or 0 in arr.shape:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name}[{i}] has non-finite entries")
    return arr


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Immutable per-sample Hessians.

    Build with the constructors of :mod:`sim.ensembles`, not directly.

    Attributes
    ----------
    Hs : ndarray (n, d, d) or None
        Dense per-sample Hessians.
    G : ndarray (n, d, r) or None
        Factors, ``H_i = G_i G_i^T``.
    name : str
        Readable description.
    """

    Hs: np.ndarray | None
    G: np.ndarray | None
    name: str = "ensemble"

    @property
    def n(self) -> int:
        return (self.Hs if self.Hs is not None else self.G).shape[0]

    @property
    def d(self) -> int:
        return (self.Hs if self.Hs is not None else self.G).shape[1]

    @property
    def r(self) -> int | None:
        """Rank of the factors (``None`` for dense ensembles)."""
        return None if self.G is None else self.G.shape[2]

    @property
    def has_factors(self) -> bool:
        return self.G is not None

    @cached_property
    def dense(self) -> np.ndarray:
        """``Hs`` ``(n, d, d)``, formed from the factors if needed (``O(n d^2 r)``)."""
        if self.Hs is not None:
            return self.Hs
        return _readonly(np.einsum("idr,ier->ide", self.G, self.G))

    @cached_property
    def H(self) -> np.ndarray:
        """Mean Hessian ``(1/n) sum_i H_i``."""
        if self.Hs is not None:
            return _readonly(self.Hs.mean(axis=0))
        Gf = self.G.transpose(1, 0, 2).reshape(self.d, -1)
        return _readonly(Gf @ Gf.T / self.n)

    @cached_property
    def centered(self) -> np.ndarray:
        """``H_i - H`` ``(n, d, d)`` (dense; formed from the factors if needed)."""
        return _readonly(self.dense - self.H[None])

    @cached_property
    def Sigma(self) -> np.ndarray:
        """``(1/n) sum_i H_i^2 - H^2`` (PSD), ``O(n d^2 r)`` with factors."""
        if self.Hs is not None:
            second = np.einsum("ijk,ikl->jl", self.Hs, self.Hs) / self.n
        else:
            gram = np.einsum("idr,ids->irs", self.G, self.G)  # G_i^T G_i
            Gg = np.einsum("idr,irs->ids", self.G, gram)
            Gf, Ggf = (x.transpose(1, 0, 2).reshape(self.d, -1) for x in (self.G, Gg))
            second = Ggf @ Gf.T / self.n
        out = second - self.H @ self.H
        return _readonly(0.5 * (out + out.T))

    @cached_property
    def a(self) -> float:
        """Sharpness ``lambda_max(H)``."""
        return float(np.linalg.eigvalsh(self.H)[-1])

    @cached_property
    def s(self) -> float:
        """Non-uniformity ``sqrt(lambda_max(Sigma))``."""
        return float(np.sqrt(max(np.linalg.eigvalsh(self.Sigma)[-1], 0.0)))

    def __repr__(self) -> str:
        kind = "dense" if self.Hs is not None else f"factors r={self.r}"
        return f"Ensemble({self.name!r}, n={self.n}, d={self.d}, {kind})"


def from_hessians(Hs, name: str = "hessians") -> Ensemble:
    """Ensemble from dense per-sample Hessians ``Hs`` ``(n, d, d)``.

    Raises
    ------
    ValueError
        Naming the first sample that is not finite, not symmetric or not PSD
        (tolerance :data:`PSD_RTOL`).
    """
    Hs = _as_float_array(Hs, "Hs", 3)
    n, d, d2 = Hs.shape
    if d != d2:
        raise ValueError(f"Hs must have shape (n, d, d), got {Hs.shape}")
    scale = np.maximum(1.0, np.abs(Hs).max(axis=(1, 2)))
    asym = np.abs(Hs - Hs.transpose(0, 2, 1)).max(axis=(1, 2))
    bad = np.flatnonzero(asym > PSD_RTOL * scale)
    if bad.size:
        raise ValueError(f"Hs[{bad[0]}] is not symmetric (max |H - H^T| = {asym[bad[0]]:.3g})")
    Hs = 0.5 * (Hs + Hs.transpose(0, 2, 1))
    eig = np.linalg.eigvalsh(Hs)
    bad = np.flatnonzero(eig[:, 0] < -PSD_RTOL * np.maximum(1.0, eig[:, -1]))
    if bad.size:
        raise ValueError(f"Hs[{bad[0]}] is not positive semi-definite "
                         f"(lambda_min = {eig[bad[0], 0]:.3g})")
    return Ensemble(_readonly(Hs), None, name)


def from_factors(G, name: str = "factors") -> Ensemble:
    """Ensemble from factors ``G`` ``(n, d, r)``, ``H_i = G_i G_i^T`` (PSD by construction).
    A 2-D ``G`` of shape ``(n, d)`` is read as rank one."""
    arr = np.asarray(G, dtype=np.float64) if not isinstance(G, np.ndarray) else G
    if getattr(arr, "ndim", None) == 2:
        arr = arr[:, :, None]
    G = _as_float_array(arr, "G", 3)
    return Ensemble(None, _readonly(G), name)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def wishart(n: int, d: int, r: int, seed: int = 0, *, factors: bool = False) -> Ensemble:
    """Wishart ensemble ``H_i = G_i G_i^T / r``, ``G_i`` with iid ``N(0, 1)`` entries.

    Parameters
    ----------
    n, d, r : int
        Samples, dimension, rank of each ``H_i``.
    seed : int
    factors : bool
        Keep the factors ``G_i / sqrt(r)`` instead of dense ``Hs``.
    """
    n, d, r = check_int(n, "n"), check_int(d, "d"), check_int(r, "r")
    G = _rng(seed).standard_normal((n, d, r)) / np.sqrt(r)
    ens = from_factors(G, name=f"wishart(n={n}, d={d}, r={r}, seed={seed})")
    return ens if factors else Ensemble(ens.dense, None, ens.name)


def rank_one(n: int, d: int, seed: int = 0) -> Ensemble:
    """Least squares ``f_i = 1/2 (w^T z_i - y_i)^2``: ``H_i = z_i z_i^T`` with
    ``z_i ~ N(0, I/d)`` (kept as rank-one factors)."""
    n, d = check_int(n, "n"), check_int(d, "d")
    Z = _rng(seed).standard_normal((n, d, 1)) / np.sqrt(d)
    return from_factors(Z, name=f"rank_one(n={n}, d={d}, seed={seed})")


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def commuting(eigenvalues, seed: int = 0) -> Ensemble:
    """Commuting ensemble ``H_i = Q diag(eigenvalues[i]) Q^T`` with one random
    rotation ``Q`` shared by all samples.

    Parameters
    ----------
    eigenvalues : array_like (n, d)
        Non-negative per-sample spectra.
    """
    lam = _as_float_array(eigenvalues, "eigenvalues", 2)
    bad = np.flatnonzero((lam < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"eigenvalues[{bad[0]}] has negative entries")
    Q = _random_rotation(_rng(seed), lam.shape[1])
    G = Q[None, :, :] * np.sqrt(lam)[:, None, :]
    ens = from_factors(G, name=f"commuting(n={lam.shape[0]}, d={lam.shape[1]}, seed={seed})")
    return Ensemble(ens.dense, None, ens.name)


def prescribed(a: float, s: float, d: int, n: int, seed: int = 0) -> Ensemble:
    """Commuting ensemble with sharpness exactly ``a`` and non-uniformity exactly ``s``.

    Along the first eigen-direction the curvatures are ``h_i = a + s z_i`` with
    ``z`` of mean 0 and population std 1 (a standardised Gaussian draw, or, if that
    would make some ``h_i < 0``, the one-spike vector ``(sqrt(n-1), -1/sqrt(n-1),
    ...)``); direction ``j >= 2`` carries ``c_j h`` for a fresh ``z`` and
    ``c_j < 1``. Non-negative curvatures with mean ``a`` have population std at most
    ``a sqrt(n-1)``, hence the bound on ``s``.
    """
    d, n = check_int(d, "d"), check_int(n, "n", low=2)
    a, s = float(a), float(s)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"a must be positive and finite, got {a}")
    if not (np.isfinite(s) and s >= 0):
        raise ValueError(f"s must be non-negative and finite, got {s}")
    if s > a * np.sqrt(n - 1) * (1 + 1e-12):
        raise ValueError(f"s must be <= a sqrt(n-1) = {a * np.sqrt(n - 1):.6g} for "
                         f"non-negative curvatures, got {s}")
    rng = _rng(seed)
    spike = np.full(n, -1.0 / np.sqrt(n - 1))
    spike[0] = np.sqrt(n - 1)

    def curvatures() -> np.ndarray:
        z = rng.standard_normal(n)
        z = (z - z.mean()) / z.std()
        if a + s * z.min() < 0:
            z = rng.permutation(spike)
        return np.maximum(a + s * z, 0.0)

    lam = np.empty((n, d))
    lam[:, 0] = curvatures()
    for j in range(1, d):
        lam[:, j] = rng.uniform(0.1, 0.9) * curvatures()
    Q = _random_rotation(rng, d)
    Hs = np.einsum("jk,ik,lk->ijl", Q, lam, Q)
    return Ensemble(_readonly(0.5 * (Hs + Hs.transpose(0, 2, 1))), None,
                    f"prescribed(a={a:g}, s={s:g}, d={d}, n={n}, seed={seed})")


def toy() -> tuple[Ensemble, Ensemble]:
    """The two minima of THEORY.md section 5 (``n = 2``, ``d = 1``).

    Returns
    -------
    (Ensemble, Ensemble)
        ``x = 0``: ``h = (2, 2)``, ``a = 2, s = 0``; ``x = 1``: ``h = (0.2, 3.8)``,
        ``a = 2, s = 1.8``.
    """
    flat = from_hessians(np.array([[[2.0]], [[2.0]]]), name="toy x=0")
    sharp = from_hessians(np.array([[[0.2]], [[3.8]]]), name="toy x=1")
    return flat, sharp


__all__ = ["Ensemble", "from_hessians", "from_factors", "wishart", "rank_one", "commuting",
           "prescribed", "toy", "PSD_RTOL"]
