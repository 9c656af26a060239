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

from sim._validate import check_int, check_positive, check_real, check_seed, real_array

PSD_RTOL = 1e-10
"""Tolerance of the validation, relative to the ensemble's scale: an eigenvalue of
``H_i`` counts as non-negative if it is ``>= -PSD_RTOL * max_j lambda_max(H_j)``, and
asymmetry up to ``PSD_RTOL * max |H_j|`` is allowed (and symmetrised)."""


RANGE_RTOL = 1e-13
"""The numerical range of ``H``: eigenvalues of ``H`` (equivalently, of the Gram matrix
``Phi^T Phi`` of the stacked factors, whose non-zero eigenvalues are ``n`` times
``H``'s) below ``RANGE_RTOL`` times the largest count as zero. About 500 times the
round-off of ``eigh``; used by :meth:`Ensemble.reduced`, the exact threshold and the
Gauss-Newton polish of networks."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _checked_hessians(Hs) -> np.ndarray:
    Hs = real_array(Hs, "Hs", 3)
    n, d, d2 = Hs.shape
    if d != d2:
        raise ValueError(f"Hs must have shape (n, d, d), got {Hs.shape}")
    top = np.abs(Hs).max()
    scale = _power_of_four(top)
    unit = Hs / scale
    asym = np.abs(unit - unit.transpose(0, 2, 1)).max(axis=(1, 2))
    bad = np.flatnonzero(asym > PSD_RTOL * np.abs(unit).max())
    if bad.size:
        raise ValueError(f"Hs[{bad[0]}] is not symmetric "
                         f"(max |H - H^T| = {asym[bad[0]] * scale:.3g})")
    unit = 0.5 * (unit + unit.transpose(0, 2, 1))
    eig = np.linalg.eigvalsh(unit)
    bad = np.flatnonzero(eig[:, 0] < -PSD_RTOL * max(eig[:, -1].max(), 0.0))
    if bad.size:
        raise ValueError(f"Hs[{bad[0]}] is not positive semi-definite "
                         f"(lambda_min = {eig[bad[0], 0] * scale:.3g})")
    return _readonly(unit * scale)


def _checked_factors(G) -> np.ndarray:
    arr = real_array(G, "G")
    if arr.ndim == 2:  # (n, d): rank one
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"G must have shape (n, d, r) or (n, d), got {arr.shape}")
    return _readonly(arr)


def _power_of_four(m: float) -> float:
    """The power of 4 nearest to ``m > 0`` in log scale (1 for ``m = 0``): dividing
    by it, or its square root, is exact in binary floating point."""
    if not m > 0:
        return 1.0
    return float(np.ldexp(1.0, 2 * int(np.round(np.log2(m) / 2))))


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Immutable, validated per-sample Hessians.

    Give exactly one of ``Hs`` and ``G``. Construction checks that the arrays are
    real, finite, of the right shape, and for ``Hs`` symmetric and PSD within
    :data:`PSD_RTOL`; the stored arrays are read-only copies. The constructors of
    this module (:func:`from_hessians`, :func:`from_factors`, ...) build it.

    Attributes
    ----------
    Hs : ndarray (n, d, d) or None
        Dense per-sample Hessians.
    G : ndarray (n, d, r) or None
        Factors, ``H_i = G_i G_i^T``.
    name : str
        Readable description.

    Notes
    -----
    Spectral quantities are computed on :attr:`unit`, the ensemble divided by the
    power of 4 :attr:`scale` nearest its largest entry, so ``a`` and ``s`` are right
    for Hessians anywhere in the float64 range (``Sigma`` itself overflows beyond
    about ``1e154``; ``s`` does not). Dividing by a power of 4 is exact, so results
    are invariant under ``Hs -> c Hs, eta -> eta / c`` for powers of 4 to the last
    bit, and to round-off for any ``c``.
    """

    Hs: np.ndarray | None = None
    G: np.ndarray | None = None
    name: str = "ensemble"

    def __post_init__(self):
        if (self.Hs is None) == (self.G is None):
            raise ValueError("give exactly one of Hs and G")
        if self.Hs is not None:
            object.__setattr__(self, "Hs", _checked_hessians(self.Hs))
        else:
            object.__setattr__(self, "G", _checked_factors(self.G))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r}")

    def __repr__(self) -> str:
        kind = "dense" if self.Hs is not None else f"factors r={self.r}"
        return f"Ensemble({self.name!r}, n={self.n}, d={self.d}, {kind})"

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
    def scale(self) -> float:
        """Power of 4 nearest the largest ``|H_i|`` entry (``|G_i|^2`` for factors)."""
        if self.Hs is not None:
            return _power_of_four(float(np.abs(self.Hs).max()))
        return _power_of_four(float(np.abs(self.G).max()) ** 2)

    @cached_property
    def unit(self) -> Ensemble:
        """The ensemble divided by :attr:`scale` (entries of order 1); ``self`` when
        the scale is 1. ``T`` of ``(ens, eta)`` is ``T`` of ``(ens.unit, eta * scale)``."""
        if self.scale == 1.0:
            return self
        if self.Hs is not None:
            return Ensemble(Hs=self.Hs / self.scale, name=self.name)
        return Ensemble(G=self.G / np.sqrt(self.scale), name=self.name)

    @cached_property
    def columns(self) -> np.ndarray:
        """The factors' columns contiguous, ``G_i^T`` stacked ``(n, r, d)`` (factors only):
        the layout of the simulation kernels, whose products ``G_i^T x`` and
        ``G_i (G_i^T x)`` then run over contiguous rows."""
        if self.G is None:
            raise AttributeError("factor columns exist for factor ensembles only")
        return _readonly(self.G.transpose(0, 2, 1))

    @cached_property
    def stacked(self) -> np.ndarray:
        """The factors side by side, ``[G_1 ... G_n]`` ``(d, n r)`` (factors only)."""
        if self.G is None:
            raise AttributeError("stacked factors exist for factor ensembles only")
        return _readonly(self.G.transpose(1, 0, 2).reshape(self.d, -1))

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
        return _readonly(self.stacked @ self.stacked.T / self.n)

    @cached_property
    def centered(self) -> np.ndarray:
        """``H_i - H`` ``(n, d, d)`` (dense; formed from the factors if needed)."""
        return _readonly(self.dense - self.H[None])

    @cached_property
    def Sigma(self) -> np.ndarray:
        """``(1/n) sum_i H_i^2 - H^2`` (PSD), ``O(n d^2 r)`` with factors."""
        if self.unit is not self:
            with np.errstate(over="ignore"):
                return _readonly(self.unit.Sigma * self.scale**2)
        if self.Hs is not None:
            second = np.einsum("ijk,ikl->jl", self.Hs, self.Hs) / self.n
        else:
            gram = np.matmul(self.G.transpose(0, 2, 1), self.G)  # G_i^T G_i, (n, r, r)
            Gg = np.matmul(self.G, gram).transpose(1, 0, 2).reshape(self.d, -1)
            second = Gg @ self.stacked.T / self.n
        out = second - self.H @ self.H
        return _readonly(0.5 * (out + out.T))

    @cached_property
    def a(self) -> float:
        """Sharpness ``lambda_max(H)``."""
        if self.unit is not self:
            return self.unit.a * self.scale
        return float(max(np.linalg.eigvalsh(self.H)[-1], 0.0))

    @cached_property
    def s(self) -> float:
        """Non-uniformity ``sqrt(lambda_max(Sigma))``."""
        if self.unit is not self:
            return self.unit.s * self.scale
        return float(np.sqrt(max(np.linalg.eigvalsh(self.Sigma)[-1], 0.0)))

    def reduced(self, rtol: float = RANGE_RTOL, *, basis: bool = True
                ) -> tuple[Ensemble, np.ndarray | None]:
        """The exact reduction of the ensemble to ``range(H)``.

        ``null(H)`` is the intersection of the ``null(H_i)`` (each ``H_i`` is PSD), so a
        component of ``x`` there never moves and ``a``, ``s`` and every threshold are
        those of the ensemble restricted to ``range(H)``. Growth rates are the reduced
        ensemble's: when ``H`` is singular the null block of ``T`` has eigenvalue 1, so
        ``rho(T)`` of the full ensemble is ``max(1, rho)`` of the reduced one (and the
        Lyapunov exponent ``max(0, lambda)``; ``docs/theory.md``, section 7). With factors,
        stack ``Phi = [G_1 ... G_n]`` (``d x n r``) and diagonalise its Gram matrix
        ``Phi^T Phi = V Lambda V^T`` (for a network at a minimum, the empirical NTK Gram
        matrix); the reduced factors are the column blocks of ``Lambda^{1/2} V^T`` and
        the basis is ``U = Phi V Lambda^{-1/2}``, so that ``G_i = U G'_i``.

        Parameters
        ----------
        rtol : float
            Eigenvalues of the Gram matrix (dense: of ``H``) below ``rtol`` times the
            largest are dropped (their directions carry at most that relative part of
            ``H``).
        basis : bool
            Also form the basis ``U`` (``O(d (n r) r')``; skip it when only the reduced
            ensemble is needed).

        Returns
        -------
        (Ensemble, ndarray (d, r') or None)
            The reduced ensemble (factors ``(n, r', r)``, or dense ``(n, r', r')``) and
            the orthonormal basis ``U`` of ``range(H)``.

        Notes
        -----
        Factors: ``O(d (n r)^2 + (n r)^3)`` once; afterwards every operation costs what
        it costs in dimension ``r' <= n r``, independent of ``d``.
        """
        if self.G is None:
            h, Q = np.linalg.eigh(self.H)
            keep = h > rtol * max(h[-1], 0.0)
            U = Q[:, keep]
            return Ensemble(Hs=U.T @ self.Hs @ U, name=f"{self.name} (reduced)"), _readonly(U)
        n, d, r = self.G.shape
        Phi = self.G.transpose(1, 0, 2).reshape(d, n * r)  # columns grouped by sample
        lam, V = _gram_eigen(Phi.T @ Phi, rtol)
        red = _from_gram_eigen(lam, V, n, r, f"{self.name} (reduced)")
        U = _readonly((Phi @ V) / np.sqrt(lam)) if basis else None
        return red, U

    @classmethod
    def from_gram(cls, gram, n: int, rtol: float = RANGE_RTOL, name: str = "gram", *,
                  coordinates: bool = False):
        """The reduced factor ensemble of factors known only through their Gram matrix.

        For factors ``G_i`` (``d x r``) stacked as ``Phi = [G_1 ... G_n]``, ``gram`` is
        ``Phi^T Phi`` (``n r x n r``, columns grouped by sample). The result is what
        :meth:`reduced` returns for those factors, with no ``d``-dimensional array
        formed: for a network, the empirical NTK Gram matrix gives the per-sample
        Hessian ensemble of the minimum directly (:func:`sim.nets.to_ensemble`).

        Parameters
        ----------
        gram : ndarray (n r, n r)
            Symmetric PSD.
        n : int
            Number of samples (``n r`` must be the size of ``gram``).
        rtol : float
            As in :meth:`reduced`.
        coordinates : bool
            Also return ``C = V Lambda^{-1/2}`` (``n r x r'``): the coordinates of a
            vector ``x`` in the reduced basis ``U = Phi C`` are ``C^T (Phi^T x)``, so
            they too need only the products ``G_i^T x`` (for a network, ``J x``).

        Returns
        -------
        Ensemble, or (Ensemble, ndarray (n r, r')) with ``coordinates``
        """
        gram = real_array(gram, "gram", 2)
        n = check_int(n, "n", 1)
        if gram.shape[0] != gram.shape[1] or gram.shape[0] % n:
            raise ValueError(f"gram must be square of a size divisible by n = {n}, "
                             f"got shape {gram.shape}")
        lam, V = _gram_eigen(0.5 * (gram + gram.T), rtol)
        ens = _from_gram_eigen(lam, V, n, gram.shape[0] // n, name)
        return (ens, _readonly(V / np.sqrt(lam))) if coordinates else ens


def _gram_eigen(gram: np.ndarray, rtol: float):
    """Eigenpairs of a Gram matrix above ``rtol`` times its largest eigenvalue."""
    lam, V = np.linalg.eigh(gram)
    keep = lam > rtol * max(lam[-1], 0.0)
    return lam[keep], V[:, keep]


def _from_gram_eigen(lam, V, n: int, r: int, name: str) -> Ensemble:
    R = np.sqrt(lam)[:, None] * V.T  # (r', n r): the factors in the basis of range(H)
    return Ensemble(G=R.reshape(len(lam), n, r).transpose(1, 0, 2), name=name)


def check_ensemble(ens) -> Ensemble:
    """``ens`` if it is an :class:`Ensemble`, else a ``TypeError``."""
    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a sim.Ensemble, got {type(ens).__name__}")
    return ens


def from_hessians(Hs, name: str = "hessians") -> Ensemble:
    """Ensemble from dense per-sample Hessians ``Hs`` ``(n, d, d)``.

    Raises
    ------
    TypeError
        For non-real entries (complex, strings, objects).
    ValueError
        Naming the first sample that is not finite, not symmetric or not PSD
        (tolerance :data:`PSD_RTOL`).
    """
    return Ensemble(Hs=Hs, name=name)


def from_factors(G, name: str = "factors") -> Ensemble:
    """Ensemble from factors ``G`` ``(n, d, r)``, ``H_i = G_i G_i^T`` (PSD by construction).
    A 2-D ``G`` of shape ``(n, d)`` is read as rank one."""
    return Ensemble(G=G, name=name)


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(check_seed(seed))


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
    return ens if factors else Ensemble(Hs=ens.dense, name=ens.name)


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
    lam = real_array(eigenvalues, "eigenvalues", 2)
    bad = np.flatnonzero((lam < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"eigenvalues[{bad[0]}] has negative entries")
    Q = _random_rotation(_rng(seed), lam.shape[1])
    G = Q[None, :, :] * np.sqrt(lam)[:, None, :]
    ens = from_factors(G, name=f"commuting(n={lam.shape[0]}, d={lam.shape[1]}, seed={seed})")
    return Ensemble(Hs=ens.dense, name=ens.name)


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
    a, s = check_positive(a, "a"), check_real(s, "s")
    if s < 0:
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
    return Ensemble(Hs=0.5 * (Hs + Hs.transpose(0, 2, 1)),
                    name=f"prescribed(a={a:g}, s={s:g}, d={d}, n={n}, seed={seed})")


def toy() -> tuple[Ensemble, Ensemble]:
    """The two minima of the toy (``docs/theory.md``, section 5) (``n = 2``, ``d = 1``).

    Returns
    -------
    (Ensemble, Ensemble)
        ``x = 0``: ``h = (2, 2)``, ``a = 2, s = 0``; ``x = 1``: ``h = (0.2, 3.8)``,
        ``a = 2, s = 1.8``.
    """
    flat = from_hessians(np.array([[[2.0]], [[2.0]]]), name="toy x=0")
    sharp = from_hessians(np.array([[[0.2]], [[3.8]]]), name="toy x=1")
    return flat, sharp


__all__ = ["Ensemble", "check_ensemble", "from_hessians", "from_factors", "wishart",
           "rank_one", "commuting", "prescribed", "toy", "PSD_RTOL"]
