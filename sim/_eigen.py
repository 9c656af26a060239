"""The top eigenpair of a symmetric operator given by its products: the one solver
behind ``rho(T)``, ``eta_exact`` (:mod:`sim.stability`) and a network's ``a`` and ``s``
(:mod:`sim.nets.curvature`).

Small operators are assembled from their products with the unit vectors and
diagonalised densely; larger ones go to Lanczos (``scipy.sparse.linalg.eigsh``,
``which="LA"``) matrix-free. Imports nothing from the simulators.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import ArpackError, LinearOperator, eigsh


def top_eigenpair(matvec, dim: int, *, tol: float, v0=None, ncv: int = 24,
                  dense_max: int = 0):
    """Largest eigenvalue ``lam`` of the symmetric ``dim x dim`` operator ``v -> matvec(v)``,
    a unit eigenvector ``v`` and the number of products made.

    Parameters
    ----------
    matvec : callable
        ``(dim,) -> (dim,)``, symmetric.
    dim : int
    tol : float
        Relative tolerance of Lanczos.
    v0 : ndarray (dim,), optional
        Start vector of Lanczos (normalised here); default all ones.
    ncv : int
        Lanczos vectors kept (at most ``dim - 1``).
    dense_max : int
        Up to this ``dim`` the operator is assembled (``dim`` products) and
        diagonalised by ``numpy.linalg.eigh``.

    Returns
    -------
    (float, ndarray (dim,), int)
    """
    if dim <= max(dense_max, 1):
        cols = [matvec(e) for e in np.eye(dim)]
        A = np.array(cols).T
        w, V = np.linalg.eigh(0.5 * (A + A.T))
        return float(w[-1]), V[:, -1], dim
    count = [0]

    def counted(v):
        count[0] += 1
        return matvec(v)

    op = LinearOperator((dim, dim), matvec=counted, dtype=np.float64)
    start = np.ones(dim) if v0 is None else np.asarray(v0, dtype=float)
    for attempt in range(2):
        try:
            w, V = eigsh(op, k=1, which="LA", tol=tol, v0=start / np.linalg.norm(start),
                         ncv=min(dim - 1, ncv))
            return float(w[0]), V[:, 0], count[0]
        except ArpackError as exc:
            if "error -9:" not in str(exc):  # -9: the start's image is 0 (A v = 0 exactly)
                raise
        # an operator that maps the start to exactly 0 (identical samples: Sigma = 0 in
        # exact arithmetic, and so in floating point) has no Krylov space to search:
        # try once more from a random start; twice zero is the zero operator's 0
        start = np.random.default_rng(attempt).standard_normal(dim)
    unit = start / np.linalg.norm(start)
    return 0.0, unit, count[0]


__all__ = ["top_eigenpair"]
