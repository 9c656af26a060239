"""The top eigenvalue of a large symmetric operator with three vectors in memory:
Lanczos without reorthogonalization, with a checkpoint to resume long runs.

For ``T`` at the paper's size (``d = 10^4``: a vector is a ``d x d`` matrix, 800 MB in
float64) the solver behind :func:`sim._eigen.top_eigenpair` (``eigsh``, 24 vectors)
does not fit in memory. The three-term recurrence

    beta_{k+1} v_{k+1} = A v_k - alpha_k v_k - beta_k v_{k-1}

needs only ``v_{k-1}``, ``v_k`` and the new product. Without reorthogonalization the
vectors lose orthogonality once a Ritz value converges, which makes copies ("ghosts")
of converged eigenvalues appear in the tridiagonal matrix, but the largest Ritz value
still converges to ``lambda_max`` as fast as with full reorthogonalization (Paige's
theory; Cullum & Willoughby), and the residual estimate ``beta_{k+1} |s_k|`` (``s`` the
Ritz vector of the tridiagonal matrix) stays a valid stopping rule for it. The
eigenvector, when asked for, comes from a second pass that regenerates the ``v_k`` from
the stored coefficients and accumulates ``sum_k s_k v_k`` (as many products again).

Vectors may be symmetric matrices stored packed (:func:`pack`, :func:`unpack`): the
upper triangle with off-diagonal entries scaled by ``sqrt 2``, so the Euclidean dot
product of packed vectors is the Frobenius product of the matrices, at half the memory.
Imports nothing from the simulators.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.linalg import eigh_tridiagonal

CHECKPOINT_VERSION = 1


def packed_size(d: int) -> int:
    return d * (d + 1) // 2


ROOT2 = np.sqrt(2.0)
_BLOCK = 256


def pack(M: np.ndarray) -> np.ndarray:
    """The upper triangle of a symmetric ``d x d`` matrix, row by row, off-diagonal
    entries times ``sqrt 2`` (``pack(A) . pack(B) = sum(A * B)``). Row slices, no index
    arrays: the memory is the output's."""
    d = M.shape[0]
    out = np.empty(packed_size(d))
    pos = 0
    for j in range(d):
        out[pos] = M[j, j]
        np.multiply(M[j, j + 1:], ROOT2, out=out[pos + 1:pos + d - j])
        pos += d - j
    return out


def unpack(v: np.ndarray, d: int, out: np.ndarray | None = None) -> np.ndarray:
    """The symmetric ``d x d`` matrix of a packed vector (inverse of :func:`pack`): rows
    of the upper triangle, then the lower one by block transposes."""
    M = np.empty((d, d)) if out is None else out
    pos = 0
    for j in range(d):
        M[j, j] = v[pos]
        np.divide(v[pos + 1:pos + d - j], ROOT2, out=M[j, j + 1:])
        pos += d - j
    for b0 in range(0, d, _BLOCK):
        b1 = min(b0 + _BLOCK, d)
        blk = M[b0:b1, b0:b1]
        blk[...] = np.triu(blk) + np.triu(blk, 1).T  # the diagonal block
        M[b1:, b0:b1] = M[b0:b1, b1:].T
    return M


@dataclass(frozen=True)
class LeanEigen:
    """Outcome of :func:`lean_top_eigenvalue`.

    Attributes
    ----------
    value : float
        The largest eigenvalue.
    residual : float
        ``beta_{k+1} |s_k|``: the residual norm ``||A x - value x||`` of the Ritz vector
        (exact arithmetic), relative to nothing.
    iterations : int
        Lanczos steps (products with the operator) of the first pass.
    products : int
        All products made, the second pass included, in this call (a resumed run counts
        those since the checkpoint).
    vector : ndarray or None
        The unit eigenvector (``vector=True``).
    converged : bool
        The stopping rule ``stop`` was met.
    stop : str
        ``"residual"`` (``residual <= tol |value|``: an eigenvalue lies within
        ``residual`` of ``value``), ``"gap"`` (value only: the Kato-Temple estimate
        ``residual^2 / gap <= tol |value| /`` :data:`GAP_SAFETY`, see
        :func:`lean_top_eigenvalue`), ``"invariant"`` (an invariant subspace was found:
        exact), or ``"max_iter"`` (not converged).
    """

    value: float
    residual: float
    iterations: int
    products: int
    vector: np.ndarray | None
    converged: bool
    stop: str = "residual"


GAP_SAFETY = 10.0
"""The ``"gap"`` rule asks the estimated eigenvalue error ``residual^2 / gap`` to be this
many times below ``tol |value|`` (the gap is estimated from Ritz values, which can
overstate it while the second eigenvalue is unresolved)."""
STABLE_STEPS = 3
"""The ``"gap"`` rule also asks the top Ritz value to have moved by at most ``tol
|value|`` over this many steps."""


def _fingerprint(tag: str, dim: int) -> str:
    return hashlib.sha256(f"{CHECKPOINT_VERSION}|{tag}|{dim}".encode()).hexdigest()


def _save(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _ritz(alphas, betas):
    """Top eigenpair of the tridiagonal matrix (``alphas`` diagonal, ``betas[1:]``
    off-diagonal) and its second eigenvalue (``-inf`` for one step)."""
    k = len(alphas)
    if k == 1:
        return float(alphas[0]), np.ones(1), -np.inf
    w, s = eigh_tridiagonal(np.asarray(alphas), np.asarray(betas[1:k]),
                            select="i", select_range=(k - 2, k - 1))
    return float(w[1]), s[:, 1], float(w[0])


def lean_top_eigenvalue(matvec, dim: int, *, tol: float, v0=None, max_iter: int = 500,
                        vector: bool = False, checkpoint: str | os.PathLike | None = None,
                        tag: str = "", every: int = 5) -> LeanEigen:
    """Largest eigenvalue of the symmetric operator ``v -> matvec(v)`` on ``R^dim`` with
    three vectors in memory (see the module docstring).

    Parameters
    ----------
    matvec : callable
        ``(dim,) -> (dim,)`` float64, symmetric.
    dim : int
    tol : float
        Relative accuracy of the value. Stop when the residual estimate is at most
        ``tol |value|`` (then an eigenvalue lies within ``tol |value|``), or, without
        ``vector``, when the error estimate of the top Ritz value is: for a Ritz value
        with residual ``rho`` and the rest of the spectrum at distance ``delta``, the
        nearest eigenvalue lies within ``rho^2 / delta`` (Kato-Temple). ``delta`` is
        estimated by the gap to the second Ritz value, and the rule asks
        ``rho^2 / delta <= tol |value| /`` :data:`GAP_SAFETY` and a top Ritz value that
        moved by at most ``tol |value|`` over the last :data:`STABLE_STEPS` steps. The
        value then converges in about two thirds of the steps the residual needs.
    v0 : ndarray (dim,), optional
        Start (normalised here); default all ones.
    max_iter : int
        Lanczos steps at most (``converged`` is False if they run out).
    vector : bool
        Also return the eigenvector (a second pass: as many products again, and ``v0``
        kept in memory: four vectors).
    checkpoint : path, optional
        A file the state (two vectors, the coefficients, and ``v0`` with ``vector``) is
        saved to every ``every`` steps, atomically; a run started with the same path,
        ``tag`` and ``dim`` resumes from it (other files are refused). Removed at the end.
    tag : str
        Names the operator in the checkpoint (say, a hash of the ensemble, ``eta`` and
        ``gamma``): a checkpoint of another operator is not resumed.
    """
    start = np.ones(dim) if v0 is None else np.array(v0, dtype=float)
    del v0  # a caller that passed the only reference frees it here (800 MB at r = 10^4)
    start /= np.linalg.norm(start)
    print_tag = _fingerprint(tag, dim)
    path = Path(checkpoint) if checkpoint is not None else None
    alphas, betas = [], [0.0]
    v_prev, v = np.zeros(dim), start
    if path is not None and path.is_file():
        with np.load(path) as saved:
            if str(saved["fingerprint"]) != print_tag:
                raise ValueError(f"checkpoint: {path} holds the state of another operator "
                                 "(tag or size differ); remove it or pass another path")
            alphas, betas = list(saved["alphas"]), list(saved["betas"])
            v_prev, v = saved["v_prev"].copy(), saved["v"].copy()
            if vector:
                start = saved["v0"].copy()
    if not vector:
        start = None  # only the eigenvector's second pass needs the start again
    products = 0
    value, s, converged, stop = -np.inf, np.ones(1), False, "max_iter"
    # the top Ritz value after each step so far: a resumed run stops where an
    # uninterrupted one would (the gap rule looks STABLE_STEPS back)
    history = [_ritz(alphas[:k], betas[:k + 1])[0] for k in range(1, len(alphas) + 1)]
    while len(alphas) < max_iter:
        w = np.asarray(matvec(v), dtype=float)
        products += 1
        alpha = float(w @ v)
        w -= alpha * v
        w -= betas[-1] * v_prev
        beta = float(np.linalg.norm(w))
        alphas.append(alpha)
        betas.append(beta)
        value, s, second = _ritz(alphas, betas)
        residual = beta * abs(s[-1])
        history.append(value)
        if residual <= tol * abs(value) or beta <= 1e-300:
            converged, stop = True, "residual" if beta > 1e-300 else "invariant"
            break
        if (not vector and len(history) > STABLE_STEPS and value > second
                and residual**2 <= tol * abs(value) * (value - second) / GAP_SAFETY
                and abs(value - history[-1 - STABLE_STEPS]) <= tol * abs(value)):
            converged, stop = True, "gap"
            break
        v_prev, v = v, w / beta
        del w
        if path is not None and len(alphas) % every == 0:
            extra = {"v0": start} if vector else {}
            _save(path, fingerprint=np.array(print_tag), alphas=np.array(alphas),
                  betas=np.array(betas), v_prev=v_prev, v=v, **extra)
    k = len(alphas)
    if alphas:
        value, s, _ = _ritz(alphas, betas)
        residual = betas[-1] * abs(s[-1])
    else:
        residual = np.inf
    x = None
    if vector and k:
        x = s[0] * start
        q_prev, q = np.zeros(dim), start
        for j in range(k - 1):
            w = np.asarray(matvec(q), dtype=float)
            products += 1
            w -= alphas[j] * q
            w -= betas[j] * q_prev
            q_prev, q = q, w / betas[j + 1]
            x += s[j + 1] * q
        x /= np.linalg.norm(x)
    if path is not None and path.is_file():
        path.unlink()
    return LeanEigen(float(value), float(residual), k, products, x, converged, stop)


__all__ = ["LeanEigen", "lean_top_eigenvalue", "pack", "unpack", "packed_size"]
