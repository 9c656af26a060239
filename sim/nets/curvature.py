"""The curvature of a trained network: sharpness, non-uniformity and the per-sample
Hessian ensemble of a minimum (``docs/theory.md``, section 7).

At a zero-loss minimum the per-sample Hessians are ``H_i = c J_i^T J_i`` exactly, so
the whole linear engine (:mod:`sim.stability`, :mod:`sim.montecarlo`) applies to a trained
network through :func:`to_ensemble`. Off the minimum the exact per-sample Hessian adds
the residual term ``c sum_k r_ik Hess f_k(x_i)``; :func:`curvature` with
``kind="exact"`` measures with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim._eigen import top_eigenpair
from sim._validate import (
    check_bool,
    check_choice,
    check_int,
    check_memory,
    check_positive,
    real_array,
)
from sim.ensembles import Ensemble
from sim.nets.model import Model, check_model, output_factors, output_hessians

EXPLICIT_MAX = 2**22
"""``method="auto"`` multiplies by explicit Jacobians up to this ``n K p`` (32 MiB);
above it a product with the stored Jacobians costs more memory traffic than a few
batched passes through the net."""

CANCELLATION_MAX = 1e4
"""Matrix-free Gauss-Newton ``s`` first runs Lanczos on the uncentred product
``J^T [(c^2/n) J_i J_i^T u_i - (c/n) J (H v)]`` (batched passes and the NTK blocks, no
per-sample Jacobians). At its eigenvector the two terms cancel by the ratio
``||first|| / ||difference||``, which multiplies the round-off (``1e-16``) of ``s^2``;
above this ratio (``s`` below about ``1e-2 a``) Lanczos is rerun, from that vector, on
the centred product of :class:`_Operators`, so ``s`` keeps at least 12 digits either way."""

CURVATURE_METHODS = ("auto", "explicit", "matrix_free")
WHICH = ("both", "a", "s")


@dataclass(frozen=True)
class Curvature:
    """Sharpness and non-uniformity of a network at ``theta``.

    Attributes
    ----------
    a : float
        ``lambda_max(H)`` (NaN when not asked for: ``which="s"``).
    s : float
        ``sqrt(lambda_max(Sigma))`` (0 if that eigenvalue is negative by round-off; NaN
        when not asked for: ``which="a"``).
    a_residual, s_residual : float
        ``||H v - a v||`` and ``||Sigma w - s^2 w||`` of the returned unit eigenvectors:
        the accuracy of the Lanczos eigenpairs (NaN for a value not computed).
    matvecs : int
        Products with ``H`` and ``Sigma`` (each a pass over the data).
    kind : {"gauss_newton", "exact"}
    method : {"explicit", "matrix_free"}
    loss : float
        The loss at ``theta`` (0 at an interpolating minimum; NaN without targets).
    """

    a: float
    s: float
    a_residual: float
    s_residual: float
    matvecs: int
    kind: str
    method: str
    loss: float


class _Operators:
    """``v -> H v`` and ``v -> Sigma v`` of one network, data set and kind.

    Gauss-Newton products with ``H`` go through the linearization at ``theta``:
    ``u = J v`` (a forward-mode pass, or a product with the stored Jacobians) and
    ``H v = (c/n) J^T u`` (a reverse pass), with the forward pass at ``theta`` made once.

    ``Sigma`` is applied in centred form, ``Sigma v = (1/n) sum_i (H_i - H) y_i`` with the
    per-sample ``y_i = H_i v - m`` (``p``-vectors) and ``m`` a computed ``H v``:
    ``(1/n) sum_i H_i y_i - H ybar`` equals it for any ``m``, and round-off in ``y_i``
    (``1e-16 a |v|``) is multiplied by ``H_i - H`` (size ``s``), not by ``H_i`` (size
    ``a``). The uncentred ``(1/n) sum_i H_i^2 v - H^2 v`` would lose ``1e-16 a^2``, i.e.
    ``1e-8 a`` in ``s``. Gauss-Newton: ``H_i y = c J_i^T (J_i y)`` from the per-sample
    Jacobians (stored, or formed :data:`EXPLICIT_MAX` entries at a time); exact kind:
    per-sample Hessian-vector products.
    """

    def __init__(self, net: Model, theta, X, Y, kind: str, method: str):
        self.net, self.theta, self.X, self.Y, self.kind = net, theta, X, Y, kind
        self.n, self.c = len(X), net.c
        self.L = output_hessians(net, theta, X) if kind == "gauss_newton" else None
        self.count = 0
        self.cancellation = np.inf
        self.J = None
        if method == "explicit":
            if kind == "exact":
                raise ValueError("kind='exact' has no explicit form: use method='matrix_free'")
            self.J3 = net.jacobians(theta, X)  # (n, K, p)
            self.J = self.J3.reshape(-1, self.J3.shape[2])  # (n K, p): products are BLAS calls
        else:
            self.lin = net.linearize(theta, X)
        self._gram = None

    @property
    def gram(self):
        """``J_i J_i^T`` ``(n, K, K)``, formed on first use (only ``Sigma`` needs it)."""
        if self._gram is None:
            self._gram = self.lin.ntk_blocks()
        return self._gram

    @property
    def has_uncentred(self) -> bool:
        """Matrix-free Gauss-Newton: the cheap uncentred product exists."""
        return self.J is None and self.kind == "gauss_newton"

    def Sigma_uncentred(self, v):
        """``(1/n) sum_i H_i^2 v - H^2 v`` in output space, recording the cancellation
        ratio of its two terms in :attr:`cancellation` (see :data:`CANCELLATION_MAX`)."""
        self.count += 1
        n = self.n
        u = self._jvp(v)
        first = self._out(np.matmul(self.gram, self._out(u)[:, :, None])[:, :, 0]) / n
        U = first - self._out(self._jvp(self._gn(v))) / n
        size = np.linalg.norm(U)
        self.cancellation = np.linalg.norm(first) / size if size > 0 else np.inf
        return self._vjp(U)

    def _jvp(self, v):
        """``J_i v`` for every sample, ``(n, K)``."""
        if self.J is not None:
            return (self.J @ v).reshape(self.n, -1)
        return self.lin.jvp(v)

    def _vjp(self, U):
        """``sum_i J_i^T U_i``, ``(p,)``."""
        if self.J is not None:
            return self.J.T @ U.ravel()
        return self.lin.vjp(U)

    def _out(self, U, rows=slice(None)):
        """``L_i U_i`` for per-sample output vectors ``U`` (``c U`` for a squared loss)."""
        if self.L is None:
            return self.c * U
        return np.matmul(self.L[rows], U[:, :, None])[:, :, 0]

    def _gn(self, v):
        """Gauss-Newton ``H v = (1/n) J^T L J v`` (``(c/n) J^T J v`` for a squared loss)."""
        return self._vjp(self._out(self._jvp(v))) / self.n

    def _jacobian_blocks(self):
        """``(rows, J_rows)``: the per-sample Jacobians, stored or in blocks of at most
        :data:`EXPLICIT_MAX` entries."""
        if self.J is not None:
            yield slice(0, self.n), self.J3
            return
        K, p = self.net.n_outputs, self.net.n_params
        step = max(1, EXPLICIT_MAX // (K * p))
        for lo in range(0, self.n, step):
            rows = slice(lo, min(lo + step, self.n))
            yield rows, self.net.jacobians(self.theta, self.X[rows])

    def H(self, v):
        self.count += 1
        if self.kind == "exact":
            return self.net.hvp(self.theta, self.X, self.Y, v, "exact")
        return self._gn(v)

    def Sigma(self, v):
        self.count += 1
        p = v.shape[0]
        acc, ysum = np.zeros(p), np.zeros(p)
        if self.kind == "gauss_newton":
            Lu = self._out(self._jvp(v))  # L_i J_i v, (n, K)
            m = self._vjp(Lu) / self.n  # H v
            for rows, Jb in self._jacobian_blocks():
                Y = np.matmul(Lu[rows, None, :], Jb)[:, 0, :] - m  # (b, p): (H_i - H) v
                t = np.matmul(Jb, Y[:, :, None])[:, :, 0]  # J_i y_i, (b, K)
                acc += self._out(t, rows).ravel() @ Jb.reshape(-1, p)
                ysum += Y.sum(axis=0)
            return acc / self.n - self._gn(ysum / self.n)
        hvp = self.net.hvp
        m = hvp(self.theta, self.X, self.Y, v, "exact")
        for i in range(self.n):  # exact per-sample Hessians: the loss on sample i alone
            Xi, Yi = self.X[i:i + 1], self.Y[i:i + 1]
            y = hvp(self.theta, Xi, Yi, v, "exact") - m
            acc += hvp(self.theta, Xi, Yi, y, "exact")
            ysum += y
        return acc / self.n - hvp(self.theta, self.X, self.Y, ysum / self.n, "exact")


def _top(apply, p: int, tol: float, seed: int, v0=None):
    """Largest eigenvalue of a symmetric ``p x p`` operator, its unit eigenvector and
    the residual ``||A v - lambda v||`` (:func:`sim._eigen.top_eigenpair`, Lanczos from
    ``v0`` or a random start)."""
    if v0 is None:
        v0 = np.random.default_rng(seed).standard_normal(p)
    lam, v, _ = top_eigenpair(apply, p, tol=tol, v0=v0, ncv=16, dense_max=3)
    v = v / np.linalg.norm(v)
    return lam, v, float(np.linalg.norm(apply(v) - lam * v))


def curvature_memory(n: int, K: int, p: int, method: str) -> float:
    """Estimated bytes of :func:`curvature`: explicit, the Jacobians ``(n, K, p)`` and the
    per-sample ``y_i`` ``(n, p)`` of the centred ``Sigma`` product; matrix-free, one block
    of Jacobians (``max(EXPLICIT_MAX, K p)`` entries) and its ``y_i``, the NTK blocks
    ``(n, K, K)`` and four output-space arrays ``(n, K)``; both plus 24 ``p``-vectors of
    Lanczos and work (the net's activations are the model's own)."""
    if method == "explicit":
        entries = n * K * p + 2 * n * p
    else:
        block = max(EXPLICIT_MAX, K * p)
        entries = block + 2 * (block // K) + n * K * (K + 4)
    return 8.0 * (entries + 24 * p)


def curvature(net: Model, theta, X, Y, kind: str = "gauss_newton", tol: float = 1e-8, *,
              method: str = "auto", seed: int = 0, which: str = "both",
              memory_budget=None) -> Curvature:
    """Sharpness ``a = lambda_max(H)`` and non-uniformity ``s = sqrt(lambda_max(Sigma))``
    of the loss of ``net`` at ``theta`` on ``(X, Y)``, by Lanczos.

    Parameters
    ----------
    net : MLP
    theta : ndarray (p,)
    X, Y : ndarray (n, K_in), (n, K)
        Inputs and targets; ``Y`` may be ``None`` for ``kind="gauss_newton"``, which
        does not depend on it (``loss`` is then NaN).
    kind : {"gauss_newton", "exact"}
        Per-sample Hessians ``c J_i^T J_i`` (exact at a zero-loss minimum) or the exact
        per-sample Hessians (with the residual term; matrix-free only).
    tol : float
        Relative tolerance of the Lanczos eigenvalues (``scipy.sparse.linalg.eigsh``).
    method : {"auto", "explicit", "matrix_free"}
        ``explicit`` forms the per-sample Jacobians ``(n, K, p)`` once and multiplies by
        them; ``matrix_free`` uses batched JVPs and VJPs for ``H``, and for ``Sigma``
        the per-sample Jacobians of :data:`EXPLICIT_MAX` entries at a time
        (``gauss_newton``) or per-sample Hessian-vector products (``exact``).
        ``auto`` is explicit when ``n K p`` is at most :data:`EXPLICIT_MAX` and
        ``kind="gauss_newton"``. Both give the same numbers.
    seed : int
        Start vector of Lanczos.
    which : {"both", "a", "s"}
        Compute both, or only the sharpness or only the non-uniformity (the other is
        NaN).
    memory_budget : float, optional
        Bytes the computation may take (:func:`curvature_memory`); default half of
        physical memory (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is
        refused with a ``ValueError`` naming ``X`` (the ``n`` samples) before anything
        is allocated.

    Notes
    -----
    ``Sigma`` is applied in centred form (see :class:`_Operators`), so ``s`` of
    identical samples is 0 to about ``1e-16 a`` (the uncentred form would leave
    ``1e-8 a``); matrix-free Gauss-Newton tries the cheaper uncentred product first and
    keeps it only where it cancels by less than :data:`CANCELLATION_MAX`. Explicit:
    ``O(n K p)`` memory traffic per product with ``H`` or ``Sigma``; matrix-free: one
    forward pass at ``theta``, then one tangent and one reverse pass per product with
    ``H``, two of each per uncentred product with ``Sigma``, plus the per-sample
    Jacobians (about ``K`` reverse passes over the data) per centred one;
    ``kind="exact"``: two per-sample Hessian-vector products per sample and two full
    ones.
    """
    net = check_model(net)
    check_choice(kind, "kind", ("gauss_newton", "exact"))
    check_choice(method, "method", CURVATURE_METHODS)
    check_choice(which, "which", WHICH)
    tol = check_positive(tol, "tol")
    seed = check_int(seed, "seed", 0)
    X = net.check_inputs(X)
    if Y is None and kind == "exact":
        raise ValueError("Y is needed for kind='exact' (the residual term)")
    Y = None if Y is None else net.check_targets(Y, len(X))
    theta = net.check_theta(theta)
    if method == "auto":
        small = len(X) * net.n_outputs * net.n_params <= EXPLICIT_MAX
        method = "explicit" if small and kind == "gauss_newton" else "matrix_free"
    check_memory(curvature_memory(len(X), net.n_outputs, net.n_params, method), "X",
                 memory_budget, f"the {method} curvature of {len(X)} samples "
                 f"(K = {net.n_outputs}, p = {net.n_params})")
    ops = _Operators(net, theta, X, Y, kind, method)
    a = a_res = s = s_res = np.nan
    if which != "s":
        a, _, a_res = _top(ops.H, net.n_params, tol, seed)
    if which != "a":
        v0 = None
        if ops.has_uncentred:
            lam, v0, s_res = _top(ops.Sigma_uncentred, net.n_params, tol, seed + 1)
        if v0 is None or ops.cancellation > CANCELLATION_MAX:
            lam, _, s_res = _top(ops.Sigma, net.n_params, tol, seed + 1, v0)
        s = float(np.sqrt(max(lam, 0.0)))
    return Curvature(a=a, s=s, a_residual=a_res,
                     s_residual=s_res, matvecs=ops.count, kind=kind, method=method,
                     loss=np.nan if Y is None else net.loss(theta, X, Y))


def ensemble_memory(n: int, K: int, p: int, reduce: bool) -> float:
    """Estimated bytes of :func:`to_ensemble`: reduced, the NTK Gram matrix ``(n K)^2``
    while it is summed and symmetrised (three copies) and its eigendecomposition
    (:meth:`Ensemble.from_gram`, five); unreduced, the Jacobians ``(n, K, p)``, their
    transposed factors and the ensemble's private copy."""
    N = n * K
    return 8.0 * (8 * N * N if reduce else 3 * N * p)


def to_ensemble(net: Model, theta, X, *, reduce: bool | None = None, name: str | None = None,
                directions=None, memory_budget=None):
    """The per-sample Hessians ``H_i = c J_i^T J_i`` of ``net`` at ``theta`` as an
    :class:`~sim.Ensemble` with factors ``G_i = sqrt(c) J_i^T`` (``(n, p, K)``); for a
    loss with output Hessians ``L_i = F_i F_i^T`` (cross-entropy, ``docs/theory.md``,
    section 11) ``H_i = J_i^T L_i J_i`` with factors ``G_i = J_i^T F_i``.

    These are the exact per-sample Hessians of an interpolating (zero-loss) minimum,
    where the residual term vanishes; elsewhere they are the Gauss-Newton part, and
    ``curvature(kind="exact")`` (or :func:`residual_gap`) measures the gap.

    Parameters
    ----------
    reduce : bool, optional
        Return the exact reduction to ``range(H)`` (:meth:`Ensemble.reduced`), of
        dimension at most ``n K``, with ``a``, ``s`` and every threshold unchanged
        (``rho(T)``, ``Lambda(q)`` and the Lyapunov exponent are the reduced ensemble's:
        the full ones are ``max(1, rho)``, ``max(0, Lambda)``, ``max(0, lambda)`` when
        ``p > n K``; ``docs/theory.md``, section 7), built from the
        empirical NTK Gram matrix (:meth:`MLP.ntk`, :meth:`Ensemble.from_gram`) in
        ``O((n K)^2 sum_l w_l + (n K)^3)`` whatever ``p``. Default: when ``p > n K``.
    directions : array_like (m, p), optional
        Parameter-space vectors (displacements from ``theta``) to express in the
        ensemble's coordinates: reduced, ``z = C^T (sqrt(c) J v)`` (see
        :meth:`Ensemble.from_gram`; the part of ``v`` in ``null(H)`` drops out, as it
        never moves under the linearized dynamics); unreduced, ``v`` itself.
    memory_budget : float, optional
        Bytes the ensemble may take while it is built (:func:`ensemble_memory`: about
        ``64 (n K)^2`` reduced, ``24 n K p`` unreduced); default half of physical memory
        (:data:`sim._validate.MEMORY_FRACTION`). A larger estimate is refused with a
        ``ValueError`` naming ``X`` (the ``n`` samples) before anything is allocated.

    Returns
    -------
    Ensemble, or (Ensemble, ndarray (m, d)) with ``directions``
        ``d`` is the ensemble's dimension (``r`` reduced, ``p`` otherwise).
    """
    net = check_model(net)
    theta = net.check_theta(theta)
    X = net.check_inputs(X)
    n, K, p = len(X), net.n_outputs, net.n_params
    name = name or f"{net!r} at theta, n={n}"
    reduce = p > n * K if reduce is None else check_bool(reduce, "reduce")
    check_memory(ensemble_memory(n, K, p, reduce), "X", memory_budget,
                 f"the {'reduced ' if reduce else ''}ensemble of {n} samples "
                 f"(n K = {n * K}, p = {p})")
    D = None
    if directions is not None:
        D = real_array(directions, "directions", 2)
        if D.shape[1] != p:
            raise ValueError(f"directions must have shape (m, {p}), got {D.shape}")
    F = output_factors(net, theta, X)  # None: F_i = sqrt(c) I (a squared loss)

    def factor_outputs(U):  # (m, n, K) -> F_i^T U_i per sample, flattened to (m, n K)
        if F is None:
            return np.sqrt(net.c) * U.reshape(len(U), -1)
        return np.einsum("ika,mik->mia", F, U).reshape(len(U), -1)

    if reduce:  # from the NTK Gram matrix: no p-dimensional array is formed
        gram = net.ntk(theta, X)
        if F is None:
            gram *= net.c
        else:  # blocks F_i^T (J_i J_j^T) F_j
            gram = np.einsum("ika,ikjl,jlb->iajb", F, gram.reshape(n, K, n, K), F,
                             optimize=True).reshape(n * K, n * K)
        ens, C = Ensemble.from_gram(gram, n, name=f"{name} (reduced)",
                                    coordinates=True, memory_budget=memory_budget)
        if D is None:
            return ens
        JD = np.stack([net.jvp(theta, X, v) for v in D])  # (m, n, K)
        return ens, factor_outputs(JD) @ C
    J = net.jacobians(theta, X)  # (n, K, p)
    G = (np.sqrt(net.c) * J.transpose(0, 2, 1) if F is None
         else np.matmul(J.transpose(0, 2, 1), F))  # (n, p, K): G_i = J_i^T F_i
    ens = Ensemble(G=G, name=name)
    return ens if D is None else (ens, D.copy())


def residual_gap(net: Model, theta, X, Y, tol: float = 1e-8) -> float:
    """``(a_exact - a_GN) / a_GN``: the relative size of the residual term in the top
    eigenvalue of the Hessian at ``theta`` (0 at an interpolating minimum; for
    cross-entropy, which has none, it says how far the Gauss-Newton linearization is
    from the loss SGD descends, ``docs/theory.md``, section 11)."""
    gn = curvature(net, theta, X, None, tol=tol, which="a")
    exact = curvature(net, theta, X, Y, kind="exact", tol=tol, which="a")
    return float((exact.a - gn.a) / gn.a)


def batch_sharpness(net: Model, theta, X, Y, sampling, *, batches: int = 64,
                    kind: str = "exact", seed: int = 0) -> float:
    """Batch sharpness ``E_B[g_B^T H_B g_B / ||g_B||^2]``: the curvature of each mini-batch
    loss along its own gradient, averaged over ``batches`` batches drawn as ``sampling``
    draws them (``docs/theory.md``, section 10).

    ``g_B`` and ``H_B`` are the gradient and Hessian (``kind``) of the mean loss of batch
    ``B``; batches with ``g_B = 0`` are skipped (NaN if every one is). Random reshuffling
    draws each batch as a uniform subset (its marginal law); ``"mixture"`` is refused.
    For ``sampling = n`` (GD) there is one batch, the data set.
    """
    from sim.sampling import as_sampling

    net = check_model(net)
    X = net.check_inputs(X)
    Y = net.check_targets(Y, len(X))
    theta = net.check_theta(theta)
    smp = as_sampling(sampling)
    if smp.scheme == "mixture":
        raise ValueError("sampling: batch_sharpness draws 'without', 'with' or 'reshuffle' "
                         "batches, not 'mixture'")
    batches = check_int(batches, "batches", 1)
    n = len(X)
    if smp.B > n:
        raise ValueError(f"sampling: batch size {smp.B} exceeds n = {n}")
    full = smp.B == n and smp.scheme != "with"
    rng = np.random.default_rng(check_int(seed, "seed", 0))
    values = []
    for _ in range(1 if full else batches):
        idx = (np.arange(n) if full else rng.choice(n, smp.B, replace=smp.scheme == "with"))
        g = net.vjp(theta, X[idx], net.residuals(theta, X[idx], Y[idx])) * (net.c / len(idx))
        gg = float(g @ g)
        if gg > 0:
            values.append(float(g @ net.hvp(theta, X[idx], Y[idx], g, kind=kind)) / gg)
    return float(np.mean(values)) if values else float("nan")


__all__ = ["Curvature", "curvature", "to_ensemble", "batch_sharpness", "residual_gap",
           "EXPLICIT_MAX",
           "WHICH", "curvature_memory", "ensemble_memory", "CANCELLATION_MAX"]
