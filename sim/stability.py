"""Stability of linearized SGD: spectral radius of ``T``, thresholds, verdicts.

``docs/theory.md``, section 4. ``T`` maps PSD matrices to PSD matrices and is self-adjoint in
the Frobenius inner product on symmetric matrices, so ``rho(T) = lambda_max(T)``
with a PSD eigenmatrix, and Lanczos (``scipy.sparse.linalg.eigsh``) on a matrix-free
operator finds it. The exact threshold is ``eta_exact = 2 / lambda_max(C^+ D)`` with
``C(M) = (H M + M H)/2`` and ``D(M) = (1 - gamma) H M H + gamma S(M)``; in the
eigenbasis of ``H``, ``C`` is the entrywise product with ``(h_j + h_k)/2``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from sim._device import DeviceSandwich, check_device
from sim._eigen import top_eigenpair
from sim._lanczos import lean_top_eigenvalue, pack, packed_size, unpack
from sim._validate import check_bool, check_choice, check_memory, check_positive, check_probability
from sim._validate import memory_budget as budget_bytes
from sim.ensembles import RANGE_RTOL, Ensemble
from sim.moments import apply_scaled, kappa, markov_gamma, sandwich_average
from sim.sampling import Sampling

DENSE_MAX_D = 10
"""Up to this ``d`` the operator is assembled on the ``d(d+1)/2`` symmetric basis and
diagonalised densely; above it, Lanczos runs matrix-free."""

VERDICT_RTOL = 1e-8
"""Relative tolerance of every verdict of :func:`report`: GD's condition holds when
``eta a <= 2 (1 + VERDICT_RTOL)``, the theorem's when ``lambda <= 1 + VERDICT_RTOL``,
mean-square stability when ``rho(T) <= 1 + VERDICT_RTOL``, the box when both its
inequalities hold to the same tolerance. Thresholds are computed to about ``1e-12``,
so :func:`report` at a threshold of :func:`thresholds` confirms the notion."""


LANCZOS_NCV = 24
"""Lanczos vectors kept by :func:`_top_eigen` above :data:`DENSE_MAX_D` (each a ``d x d``
matrix) with ``solver="eigsh"``."""

SOLVERS = ("auto", "eigsh", "lean")
"""Top-eigenvalue solvers of ``T``: ``eigsh`` (:func:`sim._eigen.top_eigenpair`,
:data:`LANCZOS_NCV` vectors), ``lean`` (:func:`sim._lanczos.lean_top_eigenvalue`: three
packed symmetric vectors, checkpoints), ``auto``: lean above :data:`LEAN_MIN_D` or where
eigsh does not fit the memory budget."""

LEAN_MIN_D = 1000
"""``solver="auto"`` uses the lean solver above this ``d``: there the Krylov space of
the unrestarted three-term recurrence reaches the top eigenvalue in fewer products
than restarted ``eigsh``, and each vector is a ``d x d`` matrix."""


def operator_memory(ens: Ensemble, solver: str = "eigsh") -> float:
    """Estimated bytes of the top eigenvalue of ``T`` (and of ``C^+ D``): the solver's
    vectors (``eigsh``: ``LANCZOS_NCV + 8`` matrices ``d x d``, the dense symmetric basis
    up to :data:`DENSE_MAX_D`; ``lean``: three packed and four full ``d x d`` matrices),
    and the operator's own arrays: the centred ``H_i - H`` and a product with them
    (``2 n d^2``) for dense ensembles, four ``(n, d, r)`` and ``(n, r, r)`` work arrays
    for factors."""
    n, d = ens.n, ens.d
    if d <= DENSE_MAX_D:
        mats = (d * (d + 1) // 2 + 8) * d * d
    elif solver == "lean":
        mats = 3 * d * (d + 1) // 2 + 4 * d * d
    else:
        mats = d * d * (LANCZOS_NCV + 8)
    work = 2 * n * d * d if ens.G is None else 4 * n * ens.r * (d + ens.r)
    return 8.0 * (mats + work)


def _solver(ens: Ensemble, solver: str, budget) -> str:
    """The solver ``solver="auto"`` picks (see :data:`SOLVERS`), after checking that it
    fits the memory budget (a ``ValueError`` naming ``ens`` otherwise)."""
    check_choice(solver, "solver", SOLVERS)
    if solver == "auto":
        solver = "lean" if ens.d > LEAN_MIN_D else "eigsh"
        if solver == "eigsh" and operator_memory(ens) > budget_bytes(budget):
            solver = "lean"
    check_memory(operator_memory(ens, solver), "ens", budget,
                 f"rho(T) of d = {ens.d}, n = {ens.n} with solver {solver!r} (T acts on "
                 "d x d matrices; ens.reduced() has d <= n r)")
    return solver


def _check_operator_memory(ens: Ensemble, budget) -> None:
    _solver(ens, "auto", budget)


def _sym_basis(d: int):
    for j in range(d):
        for k in range(j, d):
            E = np.zeros((d, d))
            if j == k:
                E[j, j] = 1.0
            else:
                E[j, k] = E[k, j] = np.sqrt(0.5)
            yield E


def _top_eigen(apply_sym, d: int, tol: float, v0: np.ndarray | None = None, *,
               solver: str = "eigsh", vector: bool = True, checkpoint=None, tag: str = ""):
    """Largest eigenvalue of a Frobenius-self-adjoint map on symmetric ``d x d``
    matrices and its unit eigenmatrix (sign: non-negative trace; ``None`` with
    ``vector=False`` and the lean solver), by :func:`sim._eigen.top_eigenpair`: on the
    coordinates of the orthonormal symmetric basis up to :data:`DENSE_MAX_D`, on
    vectorised matrices (symmetrised) above; or, ``solver="lean"``, by
    :func:`sim._lanczos.lean_top_eigenvalue` on packed symmetric matrices."""
    if solver == "lean" and d > DENSE_MAX_D:
        # the packed start is handed over as the only reference (the solver copies and
        # drops it), and the full one is dropped here: r x r is 800 MB at r = 10^4
        start = [pack(np.eye(d) if v0 is None else v0)]
        del v0
        work = np.empty((d, d))

        def packed(v):
            return pack(apply_sym(unpack(v, d, out=work)))

        res = lean_top_eigenvalue(packed, packed_size(d), tol=tol, v0=start.pop(),
                                  vector=vector, checkpoint=checkpoint, tag=tag)
        if not res.converged:
            raise ArithmeticError(f"the lean Lanczos solver did not converge in "
                                  f"{res.iterations} steps (residual {res.residual:.3g})")
        top = None
        if vector:
            top = unpack(res.vector, d)
            if np.trace(top) < 0:
                top = -top
            top /= np.linalg.norm(top)
        return res.value, top, res.products
    if d <= DENSE_MAX_D:
        basis = list(_sym_basis(d))

        def coords(c):
            image = apply_sym(sum(ck * E for ck, E in zip(c, basis, strict=True)))
            return np.array([np.sum(E * image) for E in basis])

        lam, c, its = top_eigenpair(coords, len(basis), tol=tol, dense_max=len(basis))
        top = sum(ck * E for ck, E in zip(c, basis, strict=True))
    else:
        def matvec(v):
            M = v.reshape(d, d)
            return apply_sym(0.5 * (M + M.T)).ravel()

        start = (np.eye(d) if v0 is None else v0).ravel()
        lam, vec, its = top_eigenpair(matvec, d * d, tol=tol, v0=start, ncv=LANCZOS_NCV)
        top = vec.reshape(d, d)
        top = 0.5 * (top + top.T)
    if np.trace(top) < 0:
        top = -top
    return float(lam), top / np.linalg.norm(top), its


@dataclass(frozen=True)
class SpectralRadius:
    """``rho(T)`` and its eigenmatrix.

    Attributes
    ----------
    rho : float
        Spectral radius (= largest eigenvalue) of ``T``; ``inf`` beyond the float64
        range.
    log_rho : float
        ``log rho(T)``, finite for any ``eta`` (the per-step growth rate of
        ``log E||x_t||^2``).
    eigenmatrix : ndarray (d, d)
        Unit-Frobenius symmetric eigenmatrix, PSD when the top eigenvalue is simple.
    applications : int
        Number of applications of ``T``.
    """

    rho: float
    log_rho: float
    eigenmatrix: np.ndarray = field(repr=False)
    applications: int


def _log_top(unit: Ensemble, eta_u: float, g: float, tol: float, solver: str = "eigsh"):
    """``log rho(T)``, eigenmatrix and count for a unit-scale ensemble. ``T / kappa^2``
    is diagonalised; ``rho(T) <= lambda_max(T(I))`` (a positive map attains its norm at
    ``I``), which also bounds the estimate from above."""
    k = kappa(unit, eta_u)
    lam, V, its = _top_eigen(lambda M: apply_scaled(unit, eta_u, g, M, k), unit.d, tol,
                             solver=solver)
    lam = min(lam, _theorem_scaled(unit, eta_u, g, k))
    with np.errstate(divide="ignore"):
        return float(np.log(max(lam, 0.0)) + 2.0 * np.log(k)), V, its


def spectral_radius(ens: Ensemble, eta: float, sampling, tol: float = 1e-10, *,
                    memory_budget=None, solver: str = "auto") -> SpectralRadius:
    """Spectral radius of the second-moment map, matrix-free.

    Parameters
    ----------
    ens : Ensemble
    eta : float
        Learning rate ``> 0``.
    sampling : Sampling or int
        Batch sampling (an integer ``B`` means ``Sampling(B)``); not ``"reshuffle"``.
    tol : float
        Relative accuracy of ``rho`` (Lanczos residual tolerance).
    memory_budget : float, optional
        Bytes the computation may take (:func:`operator_memory`); default half of
        physical memory (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is
        refused with a ``ValueError`` naming ``ens`` before anything is allocated.

    Notes
    -----
    Each Lanczos step applies ``T`` once: ``O(d^3 + n d^2 r)`` with factors. Memory
    ``O(d^2)`` per Lanczos vector (:data:`LANCZOS_NCV` of them). Computed on
    ``ens.unit`` with ``T`` divided by ``max(1, eta a)^2``, so any ``eta`` gives a finite
    ``log_rho``.
    """
    _, g = markov_gamma(ens, sampling)
    eta = check_positive(eta, "eta")
    tol = check_positive(tol, "tol")
    solver = _solver(ens, solver, memory_budget)
    log_rho, V, its = _log_top(ens.unit, eta * ens.scale, g, tol, solver)
    with np.errstate(over="ignore"):
        rho = float(np.exp(log_rho))
    return SpectralRadius(rho, log_rho, V, its)


DIAGONAL_RTOL = 1e-11
"""``H`` counts as diagonal when its off-diagonal part, scaled by ``H_jj^{-1/2}`` on both
sides, has Frobenius norm at most this: then every eigenvalue of ``H`` is within this
relative distance of a diagonal entry (relative perturbation theory for scaled diagonally
dominant matrices), below the threshold's ``tol``."""


def _scaled_offdiagonal(H: np.ndarray) -> float:
    """Frobenius norm of ``D^{-1/2} (H - D) D^{-1/2}``, ``D = diag(H)`` (``inf`` where a
    diagonal entry is not positive), in blocks of rows (no ``d x d`` temporary)."""
    h = np.diag(H)
    if np.any(h <= 0):
        return np.inf
    root = 1.0 / np.sqrt(h)
    total, step = 0.0, max(1, 2**22 // max(len(h), 1))
    for i in range(0, len(h), step):
        block = H[i:i + step] * root[i:i + step, None] * root[None, :]
        block[np.arange(block.shape[0]), np.arange(i, i + block.shape[0])] = 0.0
        total += float(np.sum(block * block))
    return float(np.sqrt(total))


def _range_of_H(ens: Ensemble):
    """``(h, U)``: the eigenvalues of ``H`` above ``RANGE_RTOL h_max``, ascending, and
    their eigenvectors. Where ``H`` is already diagonal to :data:`DIAGONAL_RTOL` (a
    reduced ensemble from :meth:`Ensemble.from_gram` is: its ``H`` is ``Lambda / n`` up
    to the orthogonality of the Gram matrix's eigenvectors), ``U`` is the index array of
    its coordinates instead: no ``O(d^3)`` eigendecomposition (minutes at ``d = 10^4``),
    and small ``h`` keep their relative accuracy, which an eigensolver's absolute
    backward error ``eps h_max`` would not give them."""
    # H of a factor ensemble is formed here, not cached on it, unless it already is: at
    # the paper's size it would hold 800 MB through the whole solve
    H = ens.__dict__.get("H")
    if H is None:
        H = ens.stacked @ ens.stacked.T / ens.n if ens.G is not None else ens.H
    if H.shape[0] > 1 and _scaled_offdiagonal(H) <= DIAGONAL_RTOL:
        h = np.diag(H).copy()
        order = np.argsort(h, kind="stable")
        h = h[order]
        keep = h > RANGE_RTOL * h[-1]
        return h[keep], order[keep]
    h, U = np.linalg.eigh(H)
    keep = h > RANGE_RTOL * max(h[-1], 0.0)
    return h[keep], U[:, keep]


def _in_basis(M: np.ndarray, U: np.ndarray) -> np.ndarray:
    """``U^T M U`` for a basis from :func:`_range_of_H` (columns, or coordinate indices)."""
    return M[np.ix_(U, U)] if U.ndim == 1 else U.T @ M @ U


def _rotated(ens: Ensemble, U: np.ndarray) -> Ensemble:
    """The ensemble in the basis ``U`` (columns, or coordinate indices), restricted to
    their span (a new, validated, read-only :class:`Ensemble`)."""
    if U.ndim == 1:
        if U.size == ens.d and np.array_equal(U, np.arange(ens.d)):
            return ens  # already that basis (immutable: no copy)
        if ens.G is not None:
            return Ensemble(G=ens.G[:, U, :], name=ens.name)
        return Ensemble(Hs=ens.Hs[:, U][:, :, U], name=ens.name)
    if ens.G is not None:
        return Ensemble(G=np.matmul(U.T, ens.G), name=ens.name)
    return Ensemble(Hs=U.T @ ens.Hs @ U, name=ens.name)


def eta_theorem(ens: Ensemble, gamma: float) -> float:
    """Largest ``eta`` with ``lambda_max((I - eta H)^2 + eta^2 gamma Sigma) <= 1``:
    ``2 / lambda_max(H^{+1/2} K H^{+1/2})``, ``K = H^2 + gamma Sigma``."""
    if ens.unit is not ens:
        with np.errstate(over="ignore"):  # subnormal ensembles: eta beyond 1e308 is inf
            return float(eta_theorem(ens.unit, gamma) / ens.scale)
    h, U = _range_of_H(ens)
    if h.size == 0:
        return np.inf
    K = _in_basis(ens.H @ ens.H + gamma * ens.Sigma, U)
    W = K / np.sqrt(np.outer(h, h))
    return float(2.0 / np.linalg.eigvalsh(0.5 * (W + W.T))[-1])


COARSE_FRACTION = 0.3
"""Warm start of the lean ``eta_exact`` solve: each coarser level keeps this fraction of
the directions of ``H`` (the largest ``h``)."""

COARSE_MIN_D = 150
"""No coarse level below this many directions (there a cold solve is cheap)."""

COARSE_TOL = 1e-6
"""Relative accuracy of the coarse levels' top eigenpairs (``tol`` where that is looser;
only a start: the final value is to ``tol`` whatever the start)."""

COARSE_MIX = 0.1
"""Weight of the cold start ``diag(1/h)`` kept in the warm start (both of unit Frobenius
norm): every direction keeps a tenth of its cold weight, so a top eigenmatrix that lies
off the sharp block is still in the start (see ``docs/theory.md``, section 12)."""


@dataclass(frozen=True)
class _Solve:
    eta: float
    applications: int  # products at the full rank
    coarse_applications: int  # products at the coarse levels
    coarse_cost: float  # the coarse products in full-rank products: sum (k / r)^2
    rank: int
    flops: float  # of all sandwich averages (factor ensembles; 0 for dense)


def _exact_operator(rot: Ensemble, h: np.ndarray, gamma: float, device):
    """``X -> C^{-1/2} D C^{-1/2} X`` of an ensemble in the eigenbasis of ``H``."""
    q = 1.0 / np.sqrt(0.5 * (h[:, None] + h[None, :]))  # C^{-1/2} entrywise
    if device is not None and rot.G is not None:
        sandwich = DeviceSandwich(rot.G, device)
    else:
        def sandwich(M):
            return sandwich_average(rot, M)

    def apply_sym(M):
        X = q * M
        DX = sandwich(X)
        DX *= gamma
        X *= h[:, None]  # in place: r x r temporaries are 800 MB at the paper's size
        X *= h[None, :]
        X *= 1.0 - gamma
        DX += X
        del X
        DX *= q
        return DX

    return apply_sym


def _sandwich_flops(ens: Ensemble, d: int) -> float:
    """Flops of one sandwich average restricted to ``d`` directions (``4 d^2 n r``; 0 for
    dense ensembles, whose cost is not GEMM-shaped)."""
    return 4.0 * d * d * ens.n * ens.r if ens.G is not None else 0.0


def _coarse_sizes(d: int) -> list[int]:
    """Sizes of the coarse levels above a lean solve at ``d``, finest first."""
    sizes = []
    k = int(np.ceil(COARSE_FRACTION * d))
    while k >= COARSE_MIN_D:
        sizes.append(k)
        k = int(np.ceil(COARSE_FRACTION * k))
    return sizes


def _embedded(V: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The start at the directions ``h`` (ascending) from the eigenmatrix ``V`` of the
    top ``len(V)`` of them: ``V`` projected on the PSD cone (its negative eigenvalues,
    round-off of the coarse solve, set to 0) and normalised, in its block, plus
    :data:`COARSE_MIX` of the unit ``diag(1/h)``: positive definite."""
    d, k = h.size, V.shape[0]
    w, Q = np.linalg.eigh(V)
    P = (Q * np.clip(w, 0.0, None)) @ Q.T
    start = np.diag(COARSE_MIX / h / np.linalg.norm(1.0 / h))
    start[d - k:, d - k:] += P / np.linalg.norm(P)
    return start


def _warm_start(rot: Ensemble, h: np.ndarray, gamma: float, tol: float, device):
    """A start for the lean solve at full rank from the top eigenmatrices of the same
    operator compressed to the largest ``h`` (:func:`_coarse_sizes`), coarsest first,
    each level started from the last. A compression's top eigenvalue is a lower bound of
    the full one (Rayleigh-Ritz); its eigenmatrix is a cheap approximation of the full
    top eigenmatrix, as close as the block's coupling to the other directions allows.
    A level that does not converge ends the chain (its start is kept). Returns
    ``(start, products, cost, flops)``: ``cost`` in full-rank products; ``start`` is
    ``None`` when no level ran."""
    start, products, cost, flops = None, 0, 0.0, 0.0
    for k in reversed(_coarse_sizes(h.size)):
        hk = h[h.size - k:]
        sub = _rotated(rot, np.arange(h.size - k, h.size))
        v0 = np.diag(1.0 / hk) if start is None else _embedded(start, hk)
        try:
            _, start, p = _top_eigen(_exact_operator(sub, hk, gamma, device), k,
                                     max(COARSE_TOL, tol), v0=v0, solver="lean", vector=True)
        except ArithmeticError:  # did not converge: the last level's start stands
            break
        products += p
        cost += p * (k / h.size) ** 2
        flops += p * _sandwich_flops(rot, k)
    if start is None:
        return None, products, cost, flops
    return _embedded(start, h), products, cost, flops


def _eta_exact(ens: Ensemble, gamma: float, tol: float, solver: str, checkpoint=None,
               device=None, warm: bool = True) -> _Solve:
    """``eta_exact`` of a unit-scale ensemble and its cost (see :func:`eta_exact`)."""
    h, U = _range_of_H(ens)
    if h.size == 0:
        return _Solve(np.inf, 0, 0, 0.0, 0, 0.0)
    rot = _rotated(ens, U)
    start, coarse, cost, flops = None, 0, 0.0, 0.0
    resuming = checkpoint is not None and os.path.isfile(checkpoint)
    if solver == "lean" and warm and not resuming:
        start, coarse, cost, flops = _warm_start(rot, h, gamma, tol, device)
    # handed over as the only reference (_top_eigen drops it once packed)
    v0 = [np.diag(1.0 / h) if start is None else start]
    del start
    tag = f"eta_exact|{gamma!r}|{ens.d}|{ens.n}|{_digest(rot)}"
    lam, _, products = _top_eigen(_exact_operator(rot, h, gamma, device), h.size, tol,
                                  v0=v0.pop(), solver=solver, vector=False,
                                  checkpoint=checkpoint, tag=tag)
    return _Solve(float(2.0 / lam), products, coarse, cost, h.size,
                  flops + products * _sandwich_flops(rot, h.size))


def _digest(ens: Ensemble) -> str:
    """A short hash of an ensemble's arrays (names a checkpoint's operator)."""
    import hashlib

    arr = ens.G if ens.G is not None else ens.Hs
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def eta_exact(ens: Ensemble, gamma: float, tol: float = 1e-10, *, solver: str = "eigsh",
              checkpoint=None, device=None, warm_start: bool = True) -> float:
    """Largest mean-square-stable ``eta``: ``2 / lambda_max(C^{+1/2} D C^{+1/2})``,
    computed matrix-free in the eigenbasis of ``H`` restricted to its range (on the
    null space of ``H`` every ``H_i`` vanishes, so ``T`` is the identity there).
    ``solver``: see :data:`SOLVERS` (``checkpoint``: a file the lean solver saves its
    state to and resumes from). ``device`` (``"cpu"``, ``"cuda"``, a ``torch.device``;
    needs the ``[torch]`` extra): the sandwich averages of a factor ensemble run there
    in torch (:mod:`sim._device`); ``None``: numpy. Dense ensembles always use numpy.
    ``warm_start`` (lean solver, where the rank ``r`` has ``ceil(COARSE_FRACTION r) >=
    COARSE_MIN_D``): start from the top eigenmatrix of the operator compressed to the
    largest eigenvalues of ``H``, solved the same way (``docs/theory.md``, section 12);
    the value is the same to ``tol``, usually in fewer products at full rank."""
    gamma = check_probability(gamma, "gamma")
    check_choice(solver, "solver", SOLVERS)
    device = check_device(device)
    warm_start = check_bool(warm_start, "warm_start")
    if solver == "auto":
        solver = "lean" if ens.d > LEAN_MIN_D else "eigsh"
    if ens.unit is not ens:
        with np.errstate(over="ignore"):  # subnormal ensembles: eta beyond 1e308 is inf
            return float(eta_exact(ens.unit, gamma, tol, solver=solver, checkpoint=checkpoint,
                                   device=device, warm_start=warm_start) / ens.scale)
    return _eta_exact(ens, gamma, tol, solver, checkpoint, device, warm_start).eta


@dataclass(frozen=True)
class ExactThreshold:
    """:func:`exact_threshold`: ``eta_exact`` and what it cost.

    Attributes
    ----------
    eta_exact : float
    solver : {"eigsh", "lean"}
    applications : int
        Products with the operator ``C^{-1/2} D C^{-1/2}`` at full rank (one sandwich
        average each).
    seconds : float
        Wall time of the solve: the eigenbasis of ``H`` (an eigendecomposition unless
        ``H`` is diagonal) and the rotation, the coarse levels, and the solve at full
        rank.
    gflops : float
        Flops of the sandwich averages over the solve's wall time: ``4 r^2 n k`` flops
        each for factors ``(n, d, k)`` restricted to rank ``r`` (two GEMMs ``r x r`` by
        ``r x n k``), the coarse levels' at their own ``r``; NaN for dense ensembles.
    rank : int
        ``r``, the dimension of ``range(H)``.
    memory : float
        The solver's estimated peak bytes (:func:`operator_memory`).
    device : str
        Where the sandwich averages ran: ``"numpy"`` (also when none ran: full batch,
        ``H = 0``, or a dense ensemble), or the torch device as given (``"cpu"``,
        ``"cuda"``, ``"cuda:1"``).
    coarse_applications : int
        Products at the coarse levels of the warm start (each cheaper by the square of
        its size over ``r``).
    coarse_cost : float
        The coarse products counted in full-rank products: ``sum (k / r)^2`` over them.
    """

    eta_exact: float
    solver: str
    applications: int
    seconds: float
    gflops: float
    rank: int
    memory: float
    device: str = "numpy"
    coarse_applications: int = 0
    coarse_cost: float = 0.0


def exact_threshold(ens: Ensemble, sampling, *, tol: float = 1e-10, solver: str = "auto",
                    checkpoint=None, memory_budget=None, device=None,
                    warm_start: bool = True) -> ExactThreshold:
    """``eta_exact`` of ``ens`` and ``sampling`` with the solver's cost (for benchmarks and
    runs of tens of minutes: ``checkpoint`` makes a killed lean solve resume; ``device``
    and ``warm_start``: as in :func:`eta_exact`)."""
    import time

    _, g = markov_gamma(ens, sampling)
    device = check_device(device)
    tol = check_positive(tol, "tol")
    warm_start = check_bool(warm_start, "warm_start")
    solver = _solver(ens, solver, memory_budget)
    start = time.perf_counter()
    unit = ens.unit
    if g == 0:
        res = _Solve(2.0 / unit.a if unit.a > 0 else np.inf, 0, 0, 0.0, 0, 0.0)
    else:
        res = _eta_exact(unit, g, tol, solver, checkpoint, device, warm_start)
    seconds = time.perf_counter() - start
    with np.errstate(over="ignore"):
        value = float(res.eta / ens.scale)
    products = res.applications + res.coarse_applications
    gflops = (res.flops / seconds / 1e9 if ens.G is not None and products and seconds > 0
              else np.nan)
    return ExactThreshold(value, solver, res.applications, seconds, gflops, res.rank,
                          operator_memory(ens, solver),
                          "numpy" if device is None or ens.G is None or products == 0
                          else str(device), res.coarse_applications, res.coarse_cost)


@dataclass(frozen=True)
class Thresholds:
    """Learning-rate thresholds of one ensemble and sampling.

    ``eta_theorem <= eta_exact <= eta_gd`` and ``eta_theorem <= eta_box``.

    Attributes
    ----------
    a, s, gamma : float
    eta_gd : float
        ``2/a`` (necessary).
    eta_box : float
        Largest ``eta`` inside the box ``a <= 2/eta, s <= 1/(eta sqrt(gamma))``.
    eta_theorem : float
        Largest ``eta`` meeting Wu-Ma-E's sufficient condition.
    eta_exact : float
        Largest mean-square-stable ``eta`` (``rho(T) <= 1``).
    """

    a: float
    s: float
    gamma: float
    eta_gd: float
    eta_box: float
    eta_theorem: float
    eta_exact: float


def thresholds(ens: Ensemble, sampling, *, memory_budget=None, solver: str = "auto",
               checkpoint=None, device=None, warm_start: bool = True) -> Thresholds:
    """All thresholds of ``docs/theory.md``, section 4, for ``ens`` and ``sampling``
    (a :class:`Sampling` or an integer ``B``; not ``"reshuffle"``).

    A threshold beyond the float64 range (an ensemble of subnormal entries) is ``inf``,
    without overflow warnings. ``memory_budget``: as in :func:`spectral_radius` (default
    half of physical memory; refused before allocating above it). ``device``: where
    ``eta_exact``'s sandwich averages run, and ``warm_start``: as in :func:`eta_exact`."""
    _, g = markov_gamma(ens, sampling)
    device = check_device(device)
    warm_start = check_bool(warm_start, "warm_start")
    solver = _solver(ens, solver, memory_budget)
    a, s = ens.a, ens.s
    with np.errstate(over="ignore"):
        eta_gd = float(2.0 / a) if a > 0 else np.inf
        eta_box = float(min(eta_gd, 1.0 / (s * np.sqrt(g)) if s * g > 0 else np.inf))
    if g == 0:  # full batch: T = A (x) A, rho = max_j (1 - eta h_j)^2, every notion is GD's
        return Thresholds(a, s, g, eta_gd, eta_box, eta_gd, eta_gd)
    return Thresholds(a, s, g, eta_gd, eta_box, eta_theorem(ens, g),
                      eta_exact(ens, g, solver=solver, checkpoint=checkpoint, device=device,
                                warm_start=warm_start))


@dataclass(frozen=True)
class StabilityReport:
    """Verdicts of every stability notion at one learning rate and sampling.

    Attributes
    ----------
    eta : float
    sampling : Sampling
    gamma, a, s : float
    rho, log_rho : float
        ``rho(T)`` (``inf`` beyond the float64 range) and its logarithm.
    theorem_lambda : float
        ``lambda_max((I - eta H)^2 + eta^2 gamma Sigma)``; the theorem's condition
        holds iff ``<= 1``.
    box : bool
        ``a <= 2/eta`` and ``s <= 1/(eta sqrt(gamma))``.
    stable : dict
        ``{"gd", "box", "theorem", "exact"}`` -> bool, each to the relative tolerance
        :data:`VERDICT_RTOL`. ``theorem`` implies ``exact``: the estimate of ``rho`` is
        capped by ``theorem_lambda``, which bounds it.
    """

    eta: float
    sampling: Sampling
    gamma: float
    a: float
    s: float
    rho: float
    log_rho: float
    theorem_lambda: float
    box: bool
    stable: dict


def _theorem_scaled(unit: Ensemble, eta_u: float, gamma: float, k: float) -> float:
    """``lambda_max(T(I)) / k^2`` for a unit-scale ensemble."""
    A = np.eye(unit.d) / k - (eta_u / k) * unit.H
    if unit.a == 0:  # every H_i = 0: T(I) = I
        return float(np.linalg.eigvalsh(A @ A)[-1])
    return float(np.linalg.eigvalsh(A @ A + (eta_u / k) * (eta_u / k) * gamma * unit.Sigma)[-1])


def theorem_lambda(ens: Ensemble, eta: float, gamma: float) -> float:
    """``lambda_max((I - eta H)^2 + eta^2 gamma Sigma) = lambda_max(T(I))`` (``inf``
    beyond the float64 range)."""
    unit, eta_u = ens.unit, eta * ens.scale
    k = kappa(unit, eta_u)
    with np.errstate(over="ignore"):
        return _theorem_scaled(unit, eta_u, gamma, k) * k * k


def report(ens: Ensemble, eta: float, sampling, *, memory_budget=None) -> StabilityReport:
    """Evaluate every notion of ``docs/theory.md``, section 4, at one learning rate.

    Parameters
    ----------
    ens : Ensemble
    eta : float
    sampling : Sampling or int
    memory_budget : float, optional
        As in :func:`spectral_radius` (default half of physical memory).

    Notes
    -----
    Verdicts use the relative tolerance :data:`VERDICT_RTOL`, so ``report`` at
    ``thresholds(...).eta_exact`` is mean-square stable, at ``eta_theorem`` meets the
    theorem and at ``eta_gd`` meets GD's condition. The all-zero ensemble is stable
    at every ``eta`` (``T`` is the identity).
    """
    sampling, g = markov_gamma(ens, sampling)
    eta = check_positive(eta, "eta")
    sr = spectral_radius(ens, eta, sampling, memory_budget=memory_budget)
    lam = theorem_lambda(ens, eta, g)
    slack = 1.0 + VERDICT_RTOL
    eta_u = eta * ens.scale
    a_u, s_u = ens.unit.a, ens.unit.s
    gd = bool(eta_u * a_u <= 2.0 * slack)
    box = bool(gd and eta_u * np.sqrt(g) * s_u <= slack)
    theorem = bool(lam <= slack)
    # rho(T) <= lambda_max(T(I)) exactly, so the theorem's verdict implies this one
    # (the "or" only settles rounding in the last bit of the two logarithms).
    exact = theorem or bool(sr.log_rho <= np.log1p(VERDICT_RTOL))
    return StabilityReport(eta, sampling, g, ens.a, ens.s, sr.rho, sr.log_rho, lam, box,
                           {"gd": gd, "box": box, "theorem": theorem, "exact": exact})


__all__ = ["spectral_radius", "SpectralRadius", "thresholds", "Thresholds", "report",
           "StabilityReport", "eta_theorem", "eta_exact", "theorem_lambda", "VERDICT_RTOL",
           "operator_memory", "LANCZOS_NCV", "SOLVERS", "LEAN_MIN_D", "ExactThreshold",
           "exact_threshold"]
