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
from sim._validate import check_choice, check_int, check_positive, real_array
from sim.ensembles import Ensemble
from sim.nets.model import Model, check_model

EXPLICIT_MAX = 2**22
"""``method="auto"`` multiplies by explicit Jacobians up to this ``n K p`` (32 MiB);
above it a product with the stored Jacobians costs more memory traffic than a few
batched passes through the net."""

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

    Gauss-Newton products go through the linearization at ``theta``: ``u = J v``
    (a forward-mode pass, or a product with the stored Jacobians) and ``J^T U`` (a
    reverse pass), with the forward pass at ``theta`` made once. With ``u = J v``,
    ``H v = (c/n) J^T u`` and, since ``H_i = c J_i^T J_i``,
    ``Sigma v = J^T [(c^2/n) (J_i J_i^T u_i)_i - (c/n) J (H v)]``: two products with
    ``J`` and two with ``J^T`` per product with ``Sigma``.
    """

    def __init__(self, net: Model, theta, X, Y, kind: str, method: str):
        self.net, self.theta, self.X, self.Y, self.kind = net, theta, X, Y, kind
        self.n, self.c = len(X), net.c
        self.count = 0
        self.J = None
        if method == "explicit":
            if kind == "exact":
                raise ValueError("kind='exact' has no explicit form: use method='matrix_free'")
            J = net.jacobians(theta, X)  # (n, K, p)
            self.gram = np.matmul(J, J.transpose(0, 2, 1))  # J_i J_i^T, (n, K, K)
            self.J = J.reshape(-1, J.shape[2])  # (n K, p): products are BLAS calls
        else:
            self.lin = net.linearize(theta, X)
            if kind == "gauss_newton":
                self.gram = self.lin.ntk_blocks()

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

    def H(self, v):
        self.count += 1
        if self.kind == "exact":
            return self.net.hvp(self.theta, self.X, self.Y, v, "exact")
        return (self.c / self.n) * self._vjp(self._jvp(v))

    def Sigma(self, v):
        self.count += 1
        if self.kind == "gauss_newton":
            u = self._jvp(v)
            Hv = (self.c / self.n) * self._vjp(u)
            U = (self.c**2 / self.n) * np.matmul(self.gram, u[:, :, None])[:, :, 0]
            return self._vjp(U - (self.c / self.n) * self._jvp(Hv))
        out = np.zeros_like(v)
        for i in range(self.n):  # exact per-sample Hessians: H_i = n * hvp on sample i
            Xi, Yi = self.X[i:i + 1], self.Y[i:i + 1]
            hv = self.net.hvp(self.theta, Xi, Yi, v, "exact")
            out += self.net.hvp(self.theta, Xi, Yi, hv, "exact")
        hv = self.net.hvp(self.theta, self.X, self.Y, v, "exact")
        return out / self.n - self.net.hvp(self.theta, self.X, self.Y, hv, "exact")


def _top(apply, p: int, tol: float, seed: int):
    """Largest eigenvalue of a symmetric ``p x p`` operator, its unit eigenvector and
    the residual ``||A v - lambda v||`` (:func:`sim._eigen.top_eigenpair`, Lanczos from
    a random start)."""
    v0 = np.random.default_rng(seed).standard_normal(p)
    lam, v, _ = top_eigenpair(apply, p, tol=tol, v0=v0, ncv=16, dense_max=3)
    v = v / np.linalg.norm(v)
    return lam, v, float(np.linalg.norm(apply(v) - lam * v))


def curvature(net: Model, theta, X, Y, kind: str = "gauss_newton", tol: float = 1e-8, *,
              method: str = "auto", seed: int = 0, which: str = "both") -> Curvature:
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
        them; ``matrix_free`` uses batched JVPs and VJPs (plus, for ``gauss_newton``, the
        per-sample ``K x K`` Gram matrices, :meth:`MLP.ntk_blocks`).
        ``auto`` is explicit when ``n K p`` is at most :data:`EXPLICIT_MAX` and
        ``kind="gauss_newton"``. Both give the same numbers.
    seed : int
        Start vector of Lanczos.
    which : {"both", "a", "s"}
        Compute both, or only the sharpness or only the non-uniformity (the other is
        NaN).

    Notes
    -----
    Explicit: ``O(n K p)`` memory traffic per product with ``H`` or ``Sigma``;
    matrix-free: one forward pass at ``theta``, then one tangent and one reverse pass
    per product with ``H``, two of each per product with ``Sigma``
    (``kind="exact"``: ``Sigma`` needs two per-sample Hessian-vector products per
    sample).
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
    ops = _Operators(net, theta, X, Y, kind, method)
    a = a_res = s = s_res = np.nan
    if which != "s":
        a, _, a_res = _top(ops.H, net.n_params, tol, seed)
    if which != "a":
        lam, _, s_res = _top(ops.Sigma, net.n_params, tol, seed + 1)
        s = float(np.sqrt(max(lam, 0.0)))
    return Curvature(a=a, s=s, a_residual=a_res,
                     s_residual=s_res, matvecs=ops.count, kind=kind, method=method,
                     loss=np.nan if Y is None else net.loss(theta, X, Y))


def to_ensemble(net: Model, theta, X, *, reduce: bool | None = None, name: str | None = None,
                directions=None):
    """The per-sample Hessians ``H_i = c J_i^T J_i`` of ``net`` at ``theta`` as an
    :class:`~sim.Ensemble` with factors ``G_i = sqrt(c) J_i^T`` (``(n, p, K)``).

    These are the exact per-sample Hessians of an interpolating (zero-loss) minimum,
    where the residual term vanishes; elsewhere they are the Gauss-Newton part, and
    ``curvature(kind="exact")`` measures the gap.

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
    if reduce is None:
        reduce = p > n * K
    D = None
    if directions is not None:
        D = real_array(directions, "directions", 2)
        if D.shape[1] != p:
            raise ValueError(f"directions must have shape (m, {p}), got {D.shape}")
    if reduce:  # from the NTK Gram matrix c J J^T: no p-dimensional array is formed
        ens, C = Ensemble.from_gram(net.c * net.ntk(theta, X), n, name=f"{name} (reduced)",
                                    coordinates=True)
        if D is None:
            return ens
        JD = np.stack([net.jvp(theta, X, v).ravel() for v in D])  # (m, n K)
        return ens, np.sqrt(net.c) * JD @ C
    G = np.sqrt(net.c) * net.jacobians(theta, X).transpose(0, 2, 1)  # (n, p, K)
    ens = Ensemble(G=G, name=name)
    return ens if D is None else (ens, D.copy())


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


__all__ = ["Curvature", "curvature", "to_ensemble", "batch_sharpness", "EXPLICIT_MAX",
           "WHICH"]
