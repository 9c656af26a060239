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

from sim._validate import (
    MEMORY_FRACTION,
    check_bool,
    check_int,
    check_memory,
    check_positive,
    check_real,
    check_seed,
    memory_budget,
    real_array,
)

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


def _readonly(a) -> np.ndarray:
    """A private read-only float64 copy of ``a`` that cannot be made writable again.

    The data live in an immutable ``bytes`` object: ``setflags(write=True)`` raises
    ``ValueError`` on the returned array and on every array of its base chain, and the
    caller's array is never shared (it stays as writable as it was)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.size:
        out = np.frombuffer(a.tobytes(), dtype=np.float64).reshape(a.shape)
        if out.flags.aligned:
            return out
    out = a.copy()  # empty (nothing to write), or an unaligned buffer (not seen in CPython)
    out.setflags(write=False)
    return out


_GiB = 2.0**30


def _check_size(nbytes: float, name: str, what: str) -> None:
    """Refuse, before allocating, a derived array (a property: no ``memory_budget`` to
    pass) estimated at ``nbytes`` above the default budget of
    :func:`sim._validate.memory_budget`."""
    limit = memory_budget()
    if nbytes > limit:
        raise ValueError(
            f"{name}: the estimated memory for {what} is {nbytes / _GiB:.3g} GiB, over the "
            f"budget of {limit / _GiB:.3g} GiB ({MEMORY_FRACTION:g} of physical memory, "
            "sim._validate.MEMORY_FRACTION); work on ens.reduced() (dimension at most n r)")


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
    arr = real_array(G, "G")  # may be the caller's array: _readonly copies it
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
    :data:`PSD_RTOL`. Every array it stores or hands out (``Hs``, ``G``, ``H``,
    ``Sigma``, ...) is a private copy held in an immutable buffer: the caller's array is
    never kept, and ``setflags(write=True)`` raises ``ValueError`` on each of them and on
    their bases, so a cached ``a`` or ``s`` always describes the arrays. Pickles and
    copies are rebuilt through the constructor. The constructors of this module
    (:func:`from_hessians`, :func:`from_factors`, ...) build it.

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

    def __reduce__(self):
        # Pickles and copies go through the constructor, so they too hold private,
        # validated, read-only arrays (the cached properties are recomputed).
        return (Ensemble, (self.Hs, self.G, self.name))

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
        """``Hs`` ``(n, d, d)``, formed from the factors if needed (``O(n d^2 r)``; refused
        above the default memory budget)."""
        if self.Hs is not None:
            return self.Hs
        _check_size(2 * 8.0 * self.n * self.d**2, "dense", "the (n, d, d) Hessians")
        return _readonly(np.einsum("idr,ier->ide", self.G, self.G))

    @cached_property
    def H(self) -> np.ndarray:
        """Mean Hessian ``(1/n) sum_i H_i``."""
        if self.Hs is not None:
            return _readonly(self.Hs.mean(axis=0))
        _check_size(2 * 8.0 * self.d**2, "H", "the (d, d) mean Hessian")
        return _readonly(self.stacked @ self.stacked.T / self.n)

    @cached_property
    def centered(self) -> np.ndarray:
        """``H_i - H`` ``(n, d, d)`` (dense; formed from the factors if needed)."""
        if self.Hs is None:
            _check_size(3 * 8.0 * self.n * self.d**2, "centered", "the (n, d, d) H_i - H")
        return _readonly(self.dense - self.H[None])

    @cached_property
    def Sigma(self) -> np.ndarray:
        """``Sigma = (1/n) sum_i (H_i - H)^2`` (``docs/theory.md``, section 1), PSD.

        Computed in centred form, never as the difference ``(1/n) sum_i H_i^2 - H^2`` of
        two matrices of size ``a^2`` (whose round-off, ``1e-16 a^2``, is ``1e-8 a`` in
        ``s``). Dense: ``(1/n) sum_i C_i C_i^T`` with ``C_i = H_i - H``, so ``s`` is exact
        to round-off relative to ``s`` itself (0 for identical ``H_i``). Factors: with
        ``G_i`` aligned to ``G_1`` (column signs, and an orthogonal Procrustes rotation
        where that is the more accurate, :func:`_aligned`; neither changes ``H_i``),
        ``Gbar = mean_i G_i`` and ``D_i = G_i - Gbar``,
        ``X_i = H_i - Gbar Gbar^T = Gbar D_i^T + D_i G_i^T`` and
        ``Sigma = (1/n) sum_i X_i X_i^T - Xbar Xbar^T``, where both terms are of size
        ``s^2`` for near-uniform factors; ``s`` is then accurate to ``~1e-16 a``, and
        to round-off relative to ``s`` when the factors themselves are close.

        Notes
        -----
        Dense ``O(n d^3)``; factors ``O(n d^2 r)``. Refused above the default memory
        budget (:func:`sim._validate.memory_budget`).
        """
        if self.unit is not self:
            with np.errstate(over="ignore"):
                return _readonly(self.unit.Sigma * self.scale**2)
        n, d = self.n, self.d
        if self.Hs is not None:
            _check_size(8.0 * (2 * n * d * d + 3 * d * d), "Sigma", "the centred Hessians")
            C = self.centered  # C_i symmetric: C_i C_i = C_i C_i^T
            Cf = C.transpose(1, 0, 2).reshape(d, n * d)
            out = Cf @ Cf.T / n
        else:
            _check_size(8.0 * (6 * n * d * self.r + 6 * d * d), "Sigma",
                        "the centred factors")
            out = _factor_sigma(self.G)
        return _readonly(0.5 * (out + out.T))

    @cached_property
    def a(self) -> float:
        """Sharpness ``lambda_max(H)``."""
        if self.unit is not self:
            return self.unit.a * self.scale
        return float(max(np.linalg.eigvalsh(self.H)[-1], 0.0))

    @cached_property
    def s(self) -> float:
        """Non-uniformity ``sqrt(lambda_max(Sigma))`` (``Sigma`` in centred form)."""
        if self.unit is not self:
            return self.unit.s * self.scale
        return float(np.sqrt(max(np.linalg.eigvalsh(self.Sigma)[-1], 0.0)))

    def reduced(self, rtol: float = RANGE_RTOL, *, basis: bool = True, memory_budget=None
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
            In ``[0, 1)``. Eigenvalues of the Gram matrix (dense: of ``H``) below ``rtol``
            times the largest are dropped (their directions carry at most that relative
            part of ``H``).
        basis : bool
            Also form the basis ``U`` (``O(d (n r) r')``; skip it when only the reduced
            ensemble is needed).
        memory_budget : float, optional
            Bytes the reduction may take; default half of physical memory
            (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused before
            anything is allocated.

        Returns
        -------
        (Ensemble, ndarray (d, r') or None)
            The reduced ensemble (factors ``(n, r', r)``, or dense ``(n, r', r')``) and
            the orthonormal basis ``U`` of ``range(H)``.

        Raises
        ------
        ValueError
            For ``rtol`` outside ``[0, 1)``, a zero ensemble (``range(H) = {0}``) or a
            reduction above the memory budget.

        Notes
        -----
        Factors: ``O(d (n r)^2 + (n r)^3)`` once; afterwards every operation costs what
        it costs in dimension ``r' <= n r``, independent of ``d``.
        """
        rtol = _check_rtol(rtol)
        basis = check_bool(basis, "basis")
        if self.G is None:
            n, d = self.n, self.d
            check_memory(8.0 * (3 * d * d + 3 * n * d * d), "ens", memory_budget,
                         "the dense reduction")
            h, Q = np.linalg.eigh(self.H)
            keep = h > rtol * max(h[-1], 0.0)
            if not keep.any():
                raise ValueError("ens is zero (every H_i = 0): range(H) = {0} has no "
                                 "reduced ensemble")
            U = Q[:, keep]
            return Ensemble(Hs=U.T @ self.Hs @ U, name=f"{self.name} (reduced)"), _readonly(U)
        n, d, r = self.G.shape
        N = n * r
        check_memory(8.0 * (5 * N * N + (2 * d * N if basis else d * N)), "ens",
                     memory_budget, f"the ({N}, {N}) Gram matrix and its eigenvectors")
        Phi = self.G.transpose(1, 0, 2).reshape(d, N)  # columns grouped by sample
        lam, V = _gram_eigen(Phi.T @ Phi, rtol, "ens")
        red = _from_gram_eigen(lam, V, n, r, f"{self.name} (reduced)")
        U = _readonly((Phi @ V) / np.sqrt(lam)) if basis else None
        return red, U

    @classmethod
    def from_gram(cls, gram, n: int, rtol: float = RANGE_RTOL, name: str = "gram", *,
                  coordinates: bool = False, memory_budget=None):
        """The reduced factor ensemble of factors known only through their Gram matrix.

        For factors ``G_i`` (``d x r``) stacked as ``Phi = [G_1 ... G_n]``, ``gram`` is
        ``Phi^T Phi`` (``n r x n r``, columns grouped by sample). The result is what
        :meth:`reduced` returns for those factors, with no ``d``-dimensional array
        formed: for a network, the empirical NTK Gram matrix gives the per-sample
        Hessian ensemble of the minimum directly (:func:`sim.nets.to_ensemble`).

        Parameters
        ----------
        gram : ndarray (n r, n r)
            Symmetric (``|gram - gram^T| <= PSD_RTOL max |gram|``, then symmetrised) and
            PSD (``lambda_min >= -PSD_RTOL lambda_max``), not zero.
        n : int
            Number of samples (``n r`` must be the size of ``gram``).
        rtol : float
            As in :meth:`reduced`.
        coordinates : bool
            Also return ``C = V Lambda^{-1/2}`` (``n r x r'``): the coordinates of a
            vector ``x`` in the reduced basis ``U = Phi C`` are ``C^T (Phi^T x)``, so
            they too need only the products ``G_i^T x`` (for a network, ``J x``).
        memory_budget : float, optional
            Bytes the eigendecomposition may take (about five ``(n r)^2`` arrays:
            the symmetrised copy, the eigenvectors, LAPACK's workspace and the
            factors); default half of physical memory. A larger estimate is refused
            before anything is allocated.

        Returns
        -------
        Ensemble, or (Ensemble, ndarray (n r, r')) with ``coordinates``
        """
        gram = real_array(gram, "gram", 2)
        n = check_int(n, "n", 1)
        rtol = _check_rtol(rtol)
        coordinates = check_bool(coordinates, "coordinates")
        if gram.shape[0] != gram.shape[1] or gram.shape[0] % n:
            raise ValueError(f"gram must be square of a size divisible by n = {n}, "
                             f"got shape {gram.shape}")
        N = gram.shape[0]
        check_memory(8.0 * 5 * N * N, "gram", memory_budget,
                     f"the eigendecomposition of the ({N}, {N}) Gram matrix")
        top = float(np.abs(gram).max())
        asym = float(np.abs(gram - gram.T).max())
        if asym > PSD_RTOL * top:
            raise ValueError(f"gram must be symmetric: max |gram - gram^T| = {asym:.3g} "
                             f"exceeds PSD_RTOL * max |gram| = {PSD_RTOL * top:.3g}")
        lam, V = _gram_eigen(0.5 * (gram + gram.T), rtol, "gram")
        ens = _from_gram_eigen(lam, V, n, N // n, name)
        return (ens, _readonly(V / np.sqrt(lam))) if coordinates else ens


def _check_rtol(rtol) -> float:
    rtol = check_real(rtol, "rtol")
    if not 0.0 <= rtol < 1.0:
        raise ValueError(f"rtol must be in [0, 1), got {rtol!r}")
    return rtol


def _gram_eigen(gram: np.ndarray, rtol: float, name: str):
    """Eigenpairs of a symmetric Gram matrix above ``rtol`` times its largest eigenvalue;
    a ``ValueError`` naming ``name`` when it is clearly indefinite (an eigenvalue below
    ``-PSD_RTOL`` times the largest, or all eigenvalues negative) or zero."""
    lam, V = np.linalg.eigh(gram)
    if lam[0] < -PSD_RTOL * max(lam[-1], 0.0):
        raise ValueError(f"{name} must be positive semi-definite: lambda_min = {lam[0]:.3g}, "
                         f"lambda_max = {lam[-1]:.3g} (tolerance PSD_RTOL * lambda_max)")
    keep = lam > rtol * max(lam[-1], 0.0)
    if not keep.any():
        raise ValueError(f"{name} is zero (every H_i = 0): range(H) = {{0}} has no reduced "
                         "ensemble")
    return lam[keep], V[:, keep]


def _from_gram_eigen(lam, V, n: int, r: int, name: str) -> Ensemble:
    R = np.sqrt(lam)[:, None] * V.T  # (r', n r): the factors in the basis of range(H)
    return Ensemble(G=R.reshape(len(lam), n, r).transpose(1, 0, 2), name=name)


def _aligned(G: np.ndarray) -> np.ndarray:
    """The factors ``G_i Q_i`` with orthogonal ``Q_i`` (the same ``H_i``) close to ``G_1``.

    Column signs are flipped to agree with ``G_1``'s (exact). For ``r > 1``, the
    orthogonal Procrustes rotation of ``G_i`` onto ``G_1`` is applied where
    ``||G_i - G_1||^2 > ||G_1|| ||G_i Q_i - G_1||``: unrotated, the part of
    ``G_i - G_1`` that a rotation would remove inflates the terms of :func:`_factor_sigma`
    (relative round-off ``eps (||D|| / ||D_rot||)^2`` in ``s^2``); rotated, ``G_i Q_i``
    carries round-off ``eps ||G||``, relative ``eps ||G|| / ||D_rot||``. The rule takes the
    smaller, so near-uniform factors stay exact and rotated copies of one factor align.
    """
    ref = G[0]
    signs = np.where(np.einsum("idr,dr->ir", G, ref) < 0, -1.0, 1.0)
    A = G * signs[:, None, :]
    if G.shape[2] > 1:
        U, _, Vt = np.linalg.svd(np.matmul(A.transpose(0, 2, 1), ref))  # A_i^T G_1
        rotated = np.matmul(A, U @ Vt)
        far = np.linalg.norm(A - ref, axis=(1, 2)) ** 2
        rotate = far > np.linalg.norm(ref) * np.linalg.norm(rotated - ref, axis=(1, 2))
        A = np.where(rotate[:, None, None], rotated, A)
    return A


def _factor_sigma(G: np.ndarray) -> np.ndarray:
    """``(1/n) sum_i (H_i - H)^2`` of ``H_i = G_i G_i^T`` from centred factors (see
    :attr:`Ensemble.Sigma`): ``O(n d^2 r)``, with no term of size ``a^2``."""
    n, d, r = G.shape
    A = _aligned(G)
    Gbar = A.mean(axis=0)  # (d, r)
    D = A - Gbar  # (n, d, r)
    # X_i = Gbar D_i^T + D_i A_i^T, so X_i X_i^T
    #     = Gbar (D_i^T D_i) Gbar^T + Gbar (D_i^T A_i) D_i^T + transpose + D_i (A_i^T A_i) D_i^T
    Dt = D.transpose(0, 2, 1)
    Df = D.transpose(1, 0, 2).reshape(d, n * r)
    P = np.matmul(Dt, D).sum(axis=0)  # sum_i D_i^T D_i, (r, r)
    Q = np.matmul(Dt, A).transpose(1, 0, 2).reshape(r, n * r)  # [D_i^T A_i]_i, (r, n r)
    cross = Gbar @ (Q @ Df.T)  # Gbar sum_i (D_i^T A_i) D_i^T, (d, d)
    S = np.matmul(A.transpose(0, 2, 1), A)  # A_i^T A_i, (n, r, r)
    DS = np.matmul(D, S).transpose(1, 0, 2).reshape(d, n * r)
    second = (Gbar @ P @ Gbar.T + cross + cross.T + DS @ Df.T) / n
    X = Gbar @ D.mean(axis=0).T + Df @ A.transpose(1, 0, 2).reshape(d, n * r).T / n
    X = 0.5 * (X + X.T)  # mean_i X_i = H - Gbar Gbar^T
    return second - X @ X.T


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


def _check_dense_size(n: int, d: int, copies: int, budget, what: str) -> None:
    check_memory(8.0 * copies * n * d * d, "n, d", budget, what)


def wishart(n: int, d: int, r: int, seed: int = 0, *, factors: bool = False,
            memory_budget=None) -> Ensemble:
    """Wishart ensemble ``H_i = G_i G_i^T / r``, ``G_i`` with iid ``N(0, 1)`` entries.

    Parameters
    ----------
    n, d, r : int
        Samples, dimension, rank of each ``H_i``.
    seed : int
    factors : bool
        Keep the factors ``G_i / sqrt(r)`` instead of dense ``Hs``.
    memory_budget : float, optional
        Bytes the ensemble may take while it is built (three ``(n, d, r)`` arrays, and
        four ``(n, d, d)`` ones for dense ``Hs``); default half of physical memory
        (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused before
        anything is allocated.
    """
    n, d, r = check_int(n, "n"), check_int(d, "d"), check_int(r, "r")
    factors = check_bool(factors, "factors")
    check_memory(8.0 * 3 * n * d * r, "n, d, r", memory_budget, "the (n, d, r) factors")
    if not factors:
        _check_dense_size(n, d, 4, memory_budget, "the (n, d, d) Hessians")
    G = _rng(seed).standard_normal((n, d, r)) / np.sqrt(r)
    name = f"wishart(n={n}, d={d}, r={r}, seed={seed})"
    if factors:
        return from_factors(G, name=name)
    return Ensemble(Hs=np.einsum("idr,ier->ide", G, G), name=name)


def rank_one(n: int, d: int, seed: int = 0, *, memory_budget=None) -> Ensemble:
    """Least squares ``f_i = 1/2 (w^T z_i - y_i)^2``: ``H_i = z_i z_i^T`` with
    ``z_i ~ N(0, I/d)`` (kept as rank-one factors).

    ``memory_budget``: bytes for the factors while they are built (three ``(n, d)``
    arrays); default half of physical memory, refused before allocating above it."""
    n, d = check_int(n, "n"), check_int(d, "d")
    check_memory(8.0 * 3 * n * d, "n, d", memory_budget, "the (n, d) factors")
    Z = _rng(seed).standard_normal((n, d, 1)) / np.sqrt(d)
    return from_factors(Z, name=f"rank_one(n={n}, d={d}, seed={seed})")


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def commuting(eigenvalues, seed: int = 0, *, memory_budget=None) -> Ensemble:
    """Commuting ensemble ``H_i = Q diag(eigenvalues[i]) Q^T`` with one random
    rotation ``Q`` shared by all samples.

    Parameters
    ----------
    eigenvalues : array_like (n, d)
        Non-negative per-sample spectra.
    memory_budget : float, optional
        Bytes for the ``(n, d, d)`` Hessians while they are built (four such arrays);
        default half of physical memory, refused before allocating above it.
    """
    lam = real_array(eigenvalues, "eigenvalues", 2)
    bad = np.flatnonzero((lam < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"eigenvalues[{bad[0]}] has negative entries")
    n, d = lam.shape
    check_memory(8.0 * 4 * n * d * d, "eigenvalues", memory_budget,
                 "the (n, d, d) Hessians")
    Q = _random_rotation(_rng(seed), d)
    G = Q[None, :, :] * np.sqrt(lam)[:, None, :]
    return Ensemble(Hs=np.einsum("idr,ier->ide", G, G),
                    name=f"commuting(n={n}, d={d}, seed={seed})")


_TUNING_SHIFTS = 60
"""Values of the second lever tried by :func:`_exact_curvatures` (each gives an
independent last-bit residual; the best of 121 is about 100 times below a single one)."""


def _exact_curvatures(a: float, s: float, n: int, z: np.ndarray):
    """Curvatures on the float64 grid near ``a`` with mean ``a`` and population standard
    deviation ``s`` to about ``1e-15`` relative, or ``None`` where no such tuning applies.

    Curvatures near ``a`` are multiples of a grid ``u`` (about ``1e-16 a``), so rounding
    ``a + s z_i`` moves ``s`` by about ``u``: ``1e-8`` relative at ``s = 1e-8 a``. Here
    ``h_i = base + k_i u`` with integers ``k_i``: ``k_i = round((1 - tau) s z_i / u)``
    for all samples but the last (``z_n = 0``, at the mean), ``tau = 3 u / s`` keeping
    their variance below the target, then the last ``k_n`` solves the quadratic
    ``n sum k^2 - (sum k)^2 = (n s / u)^2`` to the nearest integer, with the sample of
    smallest ``|z_i|`` shifted by up to :data:`_TUNING_SHIFTS` grid steps to pick the
    smallest residual; ``base`` puts the mean at ``a`` to within ``u / 2``. Exact integer
    arithmetic throughout (:class:`fractions.Fraction`)."""
    from fractions import Fraction
    from math import floor, sqrt

    if n < 3 or s == 0.0 or z[-1] != 0.0:
        return None
    top = a + s * float(z.max())
    u = 2.0 ** (np.frexp(top * (1 + 1e-6))[1] - 53)  # every multiple of u below 2^53 u
    k = [int(round(v)) for v in (s * (1 - 3 * u / s) / u) * z[:-1]]
    m = int(np.argmin(np.abs(z[:-1])))
    target = n * n * (Fraction(s) / Fraction(u)) ** 2
    S0, Q0 = sum(k), sum(x * x for x in k)
    best = None
    for shift in range(-_TUNING_SHIFTS, _TUNING_SHIFTS + 1):
        S, Q = S0 + shift, Q0 + 2 * shift * k[m] + shift * shift  # k[m] += shift
        gap = target - (n * Q - Fraction(n * S * S, n - 1))  # the variance still missing
        if gap < 0:
            continue
        centre, half = S / (n - 1), sqrt(float(gap / (n - 1)))
        for c in (centre + half, centre - half):
            for x in (floor(c), floor(c) + 1):
                err = abs(n * (Q + x * x) - (S + x) ** 2 - target)
                if best is None or err < best[0]:
                    best = (err, shift, x, S + x)
    if best is None:
        return None
    _, shift, x, total = best
    kk = np.array(k + [x], dtype=np.float64)  # |k| < 2^53: exact
    kk[m] += shift
    base = np.round((a - u * float(total) / n) / u) * u
    h = base + kk * u  # exact: a multiple of u below 2^53 u
    return h if h.min() >= 0 else None


def prescribed(a: float, s: float, d: int, n: int, seed: int = 0, *,
               memory_budget=None) -> Ensemble:
    """Commuting ensemble with sharpness exactly ``a`` and non-uniformity exactly ``s``.

    Along the first eigen-direction the curvatures are ``h_i = a + s z_i`` with
    ``z`` of mean 0 and population std 1 (a standardised Gaussian draw with one sample
    at the mean, or, if that would make some ``h_i < 0``, the one-spike vector
    ``(sqrt(n-1), -1/sqrt(n-1), ...)``); direction ``j >= 2`` carries ``c_j h`` for a
    fresh ``z`` and ``c_j < 1``. Non-negative curvatures with mean ``a`` have population
    std at most ``a sqrt(n-1)``, hence the bound on ``s``.

    The first direction is a random coordinate axis and the others a random rotation of
    its complement: its curvatures are then stored exactly, and are tuned in their last
    bits (:func:`_exact_curvatures`) so that ``a`` and ``s`` hold to about ``1e-15``
    relative however small ``s / a`` is (a rotated direction would carry the round-off
    of its ``a``-sized entries, ``1e-16 a``, into ``s``). With ``n = 2``,
    ``s = |h_1 - h_2| / 2`` is a multiple of half the grid of floats near ``a``, so it
    holds to ``1e-16 a``, not relative to ``s``.

    ``memory_budget``: bytes for the ``(n, d, d)`` Hessians while they are built (four
    such arrays); default half of physical memory, refused before allocating above it.
    """
    d, n = check_int(d, "d"), check_int(n, "n", low=2)
    a, s = check_positive(a, "a"), check_real(s, "s")
    if s < 0:
        raise ValueError(f"s must be non-negative and finite, got {s}")
    if s > a * np.sqrt(n - 1) * (1 + 1e-12):
        raise ValueError(f"s must be <= a sqrt(n-1) = {a * np.sqrt(n - 1):.6g} for "
                         f"non-negative curvatures, got {s}")
    _check_dense_size(n, d, 4, memory_budget, "the (n, d, d) Hessians")
    rng = _rng(seed)
    spike = np.full(n, -1.0 / np.sqrt(n - 1))
    spike[0] = np.sqrt(n - 1)

    def standardised(z: np.ndarray) -> np.ndarray:
        return (z - z.mean()) / z.std()

    def curvatures() -> np.ndarray:
        z = standardised(rng.standard_normal(n))
        if a + s * z.min() < 0:
            z = rng.permutation(spike)
        return np.maximum(a + s * z, 0.0)

    z = rng.standard_normal(n)
    if n >= 3:  # one sample at the mean: the lever of _exact_curvatures
        z[:-1] = standardised(z[:-1]) * np.sqrt(n / (n - 1))
        z[-1] = 0.0
    else:
        z = standardised(z)
    if a + s * z.min() < 0:
        z = rng.permutation(spike)
    h = _exact_curvatures(a, s, n, z)
    if h is None:  # n = 2, s = 0 or the spike (s > a / 3 or so: round-off ~1e-16 s)
        h = np.maximum(a + s * z, 0.0)
    lam = np.empty((n, d))
    lam[:, 0] = rng.permutation(h)
    for j in range(1, d):
        lam[:, j] = rng.uniform(0.1, 0.9) * curvatures()
    axis = int(rng.integers(d))
    rest = np.array([j for j in range(d) if j != axis], dtype=np.int64)
    Hs = np.zeros((n, d, d))
    Hs[:, axis, axis] = lam[:, 0]
    if d > 1:
        Q = _random_rotation(rng, d - 1)
        B = np.einsum("jk,ik,lk->ijl", Q, lam[:, 1:], Q)
        Hs[:, rest[:, None], rest[None, :]] = 0.5 * (B + B.transpose(0, 2, 1))
    return Ensemble(Hs=Hs, name=f"prescribed(a={a:g}, s={s:g}, d={d}, n={n}, seed={seed})")


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
