"""Any PyTorch network as a :class:`sim.nets.Model`: exact curvature and thresholds of
your own model (``docs/theory.md``, section 11).

:class:`TorchModel` wraps a ``torch.nn.Module`` (linear, convolutional, pooling,
flatten, activation and eval-mode normalisation layers) and implements the model
protocol with ``torch.func``: ``functional_call`` on a flat float64 parameter vector,
``jvp`` (forward mode), ``vjp`` (reverse mode), per-sample Jacobians and the empirical
NTK by chunks under a memory budget, and exact Hessian-vector products by
forward-over-reverse. Everything that takes a model (:func:`sim.nets.curvature`,
:func:`sim.nets.to_ensemble`, :func:`sim.nets.polish`, :func:`sim.nets.batch_sharpness`)
takes it.

Losses: ``"mean"`` (``MSELoss``, ``c = 2/K``) and ``"half"`` (``c = 1``) as for
:class:`~sim.nets.MLP`, and ``"cross_entropy"`` (softmax cross-entropy against
one-hot or probability targets ``Y``). The per-sample Gauss-Newton Hessian is
``J_i^T L_i J_i``, where ``L_i`` is the Hessian of the per-sample loss in the outputs:
``c I`` for a squared loss, ``diag p_i - p_i p_i^T`` (``p_i`` the softmax) for
cross-entropy, of rank ``K - 1``, with the factor ``F_i = D_i (I - q_i q_i^T)``,
``D_i = diag sqrt(p_i)``, ``q_i = sqrt(p_i)`` (:meth:`TorchModel.output_factors`).
Cross-entropy has no zero-loss minimum: its thresholds are those of the linearization
at the current point, not stability of an interpolating minimum.

torch is an optional dependency (``pip install -e ".[torch]"``); ``import sim`` never
imports it, and :class:`TorchModel` raises an ``ImportError`` naming the extra when it
is absent.
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from sim._validate import check_bool, check_choice, check_int, check_shape, real_array

LOSSES = ("mean", "half", "cross_entropy")
JACOBIAN_BUDGET = 2**28
"""Bytes of per-sample Jacobians (``chunk x K x p`` float64) held at once by
:meth:`TorchModel.jacobians`, :meth:`~TorchModel.ntk` and :meth:`~TorchModel.ntk_blocks`
(256 MiB): the data are cut into chunks of samples that fit."""


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError("TorchModel needs PyTorch, an optional extra: "
                          "pip install -e \".[torch]\"") from exc
    if "torch._decomp.decompositions_for_jvp" not in sys.modules:
        # forward mode loads these on first use through torch.jit.script, which warns
        # that it is deprecated: torch's own business, not the user's
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import torch._decomp.decompositions_for_jvp  # noqa: F401
    return torch


def _batch_dependent(module) -> str | None:
    """The name of the first layer whose output depends on the other samples of the
    batch or on a random draw (train-mode batch normalisation, active dropout)."""
    torch = _torch()
    nn = torch.nn
    for name, layer in module.named_modules():
        label = name or type(layer).__name__
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.training:
            return (f"{label} ({type(layer).__name__} in training mode normalises by the "
                    f"batch's statistics: call module.eval())")
        if isinstance(layer, nn.modules.dropout._DropoutNd) and layer.training and layer.p > 0:
            return (f"{label} ({type(layer).__name__} in training mode is random: call "
                    f"module.eval())")
    return None


class TorchModel:
    """A ``torch.nn.Module`` as a model with flat float64 parameters.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a batch ``(n, *input_shape)`` to outputs ``(n, K)``. Copied: later changes
        to ``module`` do not reach the model. Its parameters, in ``named_parameters``
        order and each flattened row-major, make the flat vector (:meth:`flatten`,
        :meth:`unflatten`); buffers (running statistics) are held fixed.
    loss : {"mean", "half", "cross_entropy"}
    input_shape : tuple of int
        Shape of one sample. ``X`` may be given as ``(n, *input_shape)`` or flat,
        ``(n, prod(input_shape))`` (the data sets of :mod:`sim.data`).
    cast : bool
        Convert floating parameters and buffers to float64. Without it a module whose
        parameters are not float64 is refused (exact thresholds need float64).
    jacobian_budget : int
        Bytes of Jacobians held at once (:data:`JACOBIAN_BUDGET`).

    Raises
    ------
    ValueError
        A layer in training mode whose output depends on the batch or on chance
        (``BatchNorm``, ``Dropout``): the per-sample Hessians would not be defined.
    TypeError
        ``module`` is not a ``torch.nn.Module``, or its parameters are not float64
        and ``cast`` is False.
    """

    def __init__(self, module, loss: str = "mean", *, input_shape, cast: bool = False,
                 jacobian_budget: int = JACOBIAN_BUDGET):
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.loss_kind = check_choice(loss, "loss", LOSSES)
        try:
            shape = tuple(input_shape)
        except TypeError as exc:
            raise TypeError(f"input_shape must be a tuple of integers, got "
                            f"{input_shape!r}") from exc
        if not shape:
            raise ValueError("input_shape must have at least one dimension")
        self.input_shape = tuple(check_int(s, f"input_shape[{i}]") for i, s in enumerate(shape))
        cast = check_bool(cast, "cast")
        self.jacobian_budget = check_int(jacobian_budget, "jacobian_budget", 1)
        why = _batch_dependent(module)
        if why is not None:
            raise ValueError(f"module: layer {why}")
        module = copy.deepcopy(module)
        for name, par in module.named_parameters():
            if par.dtype != torch.float64:
                if not cast:
                    raise TypeError(f"module: parameter {name!r} is {par.dtype}, not "
                                    f"torch.float64; pass cast=True (or module.double())")
        if cast:
            module = module.double()
        for par in module.parameters():
            par.requires_grad_(False)
        self._module = module
        self._names = [name for name, _ in module.named_parameters()]
        self._shapes = [tuple(par.shape) for _, par in module.named_parameters()]
        self._sizes = [math.prod(s) for s in self._shapes]
        self._buffers = {name: buf for name, buf in module.named_buffers()}
        self._theta0 = np.concatenate(
            [par.detach().reshape(-1).numpy() for _, par in module.named_parameters()]
        ) if self._names else np.zeros(0)
        if not self._names:
            raise ValueError("module has no parameters")
        with torch.no_grad():
            out = self._call(self._params(torch.from_numpy(self._theta0)),
                             torch.zeros((1, *self.input_shape), dtype=torch.float64))
        if out.ndim != 2 or out.shape[0] != 1:
            raise ValueError(f"module must map (n, *input_shape) to (n, K), got output shape "
                             f"{tuple(out.shape)} for n = 1")
        self._K = int(out.shape[1])
        if self.loss_kind == "cross_entropy" and self._K < 2:
            raise ValueError("loss='cross_entropy' needs at least 2 outputs")

    def __repr__(self) -> str:
        return (f"TorchModel({type(self._module).__name__}, loss={self.loss_kind!r}, "
                f"input_shape={self.input_shape}, p={self.n_params})")

    # ------------------------------------------------------------------ protocol data
    @property
    def n_params(self) -> int:
        return len(self._theta0)

    @property
    def n_outputs(self) -> int:
        return self._K

    @property
    def n_inputs(self) -> int:
        return math.prod(self.input_shape)

    @property
    def c(self) -> float:
        """Per-sample factor of a squared loss (``H_i = c J_i^T J_i`` at a zero-loss
        minimum); 1 for cross-entropy, whose output Hessians are
        :meth:`output_hessians`."""
        return {"mean": 2.0 / self._K, "half": 1.0, "cross_entropy": 1.0}[self.loss_kind]

    @property
    def module(self):
        """The wrapped module (a private copy)."""
        return self._module

    def theta(self) -> np.ndarray:
        """The module's own parameters as a flat vector (a copy)."""
        return self._theta0.copy()

    def unflatten(self, theta) -> dict:
        """``{name: tensor}`` views of ``theta`` shaped like the module's parameters."""
        torch = _torch()
        t = torch.from_numpy(self.check_theta(theta))
        return self._params(t)

    def flatten(self, params) -> np.ndarray:
        """The flat vector of ``{name: tensor or array}`` (for instance a ``state_dict``'s
        parameters)."""
        parts = []
        for name, shape in zip(self._names, self._shapes, strict=True):
            if name not in params:
                raise ValueError(f"params lacks parameter {name!r}")
            value = params[name]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            arr = real_array(value, f"params[{name!r}]")
            if arr.shape != shape:
                raise ValueError(f"params[{name!r}] must have shape {shape}, got {arr.shape}")
            parts.append(arr.ravel())
        return np.concatenate(parts)

    # ------------------------------------------------------------------ checks
    def check_theta(self, theta) -> np.ndarray:
        return check_shape(theta, "theta", (self.n_params,))

    def check_inputs(self, X) -> np.ndarray:
        X = real_array(X, "X")
        if X.ndim == 2 and X.shape[1] == self.n_inputs:
            return X
        if X.shape[1:] == self.input_shape:
            return X
        raise ValueError(f"X must have shape (n, {self.n_inputs}) or (n, *{self.input_shape}), "
                         f"got {X.shape}")

    def check_targets(self, Y, n: int) -> np.ndarray:
        Y = check_shape(Y, "Y", (n, self._K))
        if self.loss_kind == "cross_entropy":
            if np.any(Y < 0) or np.any(np.abs(Y.sum(axis=1) - 1) > 1e-12):
                raise ValueError("Y must hold probability rows (non-negative, summing to 1 "
                                 "to 1e-12) for loss='cross_entropy'")
        return Y

    def check_vector(self, v, name: str = "v") -> np.ndarray:
        return check_shape(v, name, (self.n_params,))

    # ------------------------------------------------------------------ torch plumbing
    def _params(self, flat) -> dict:
        out, pos = {}, 0
        for name, shape, size in zip(self._names, self._shapes, self._sizes, strict=True):
            out[name] = flat[pos:pos + size].reshape(shape)
            pos += size
        return out

    def _call(self, params: dict, x):
        torch = _torch()
        return torch.func.functional_call(self._module, (params, self._buffers), (x,))

    def _x(self, X):
        torch = _torch()
        return torch.from_numpy(np.ascontiguousarray(X)).reshape(len(X), *self.input_shape)

    def _t(self, a):
        torch = _torch()
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))

    def _f(self, x):
        """``flat -> f(x; flat)`` for torch.func."""
        return lambda flat: self._call(self._params(flat), x)

    def _flat_loss(self, x, y):
        torch = _torch()
        n = x.shape[0]

        def loss(flat):
            out = self._call(self._params(flat), x)
            if self.loss_kind == "cross_entropy":
                return -(y * torch.log_softmax(out, dim=1)).sum() / n
            r = out - y
            return self.c / 2 * (r * r).sum() / n
        return loss

    # ------------------------------------------------------------------ passes
    def forward(self, theta, X) -> np.ndarray:
        """Outputs ``f(X; theta)``, ``(n, K)``."""
        torch = _torch()
        X = self.check_inputs(X)
        with torch.no_grad():
            return self._f(self._x(X))(self._t(self.check_theta(theta))).numpy().copy()

    def residuals(self, theta, X, Y) -> np.ndarray:
        """``f - Y`` (squared losses) or ``softmax(f) - Y`` (cross-entropy): in both cases
        the gradient of the loss is ``(c/n) sum_i J_i^T r_i``."""
        X = self.check_inputs(X)
        Y = self.check_targets(Y, len(X))
        out = self.forward(theta, X)
        if self.loss_kind == "cross_entropy":
            return _softmax(out) - Y
        return out - Y

    def loss(self, theta, X, Y) -> float:
        """``(c/2)(1/n) sum ||r_i||^2`` or the mean cross-entropy."""
        X = self.check_inputs(X)
        Y = self.check_targets(Y, len(X))
        out = self.forward(theta, X)
        if self.loss_kind == "cross_entropy":
            z = out - out.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-(Y * logp).sum() / len(X))
        r = out - Y
        return float(self.c / 2 * np.sum(r * r) / len(X))

    def gradient(self, theta, X, Y) -> np.ndarray:
        """Gradient of :meth:`loss`, ``(p,)``."""
        r = self.residuals(theta, X, Y)
        return self.vjp(theta, X, (self.c / len(r)) * r)

    def jvp(self, theta, X, v) -> np.ndarray:
        """``J_i v`` for every sample, ``(n, K)`` (forward mode)."""
        torch = _torch()
        X = self.check_inputs(X)
        _, tangent = torch.func.jvp(self._f(self._x(X)), (self._t(self.check_theta(theta)),),
                                    (self._t(self.check_vector(v)),))
        return tangent.numpy().copy()

    def vjp(self, theta, X, U) -> np.ndarray:
        """``sum_i J_i^T U_i``, ``(p,)`` (reverse mode)."""
        torch = _torch()
        X = self.check_inputs(X)
        U = real_array(U, "U", 2)
        if U.shape != (len(X), self._K):
            raise ValueError(f"U must have shape ({len(X)}, {self._K}), got {U.shape}")
        _, pull = torch.func.vjp(self._f(self._x(X)), self._t(self.check_theta(theta)))
        return pull(self._t(U))[0].numpy().copy()

    def _chunk(self) -> int:
        return max(1, self.jacobian_budget // (8 * self._K * max(self.n_params, 1)))

    def _jacobian_chunks(self, theta, X):
        """``(start, J)`` with ``J = (m, K, p)`` the Jacobians of samples
        ``start .. start + m``: reverse mode with one seed per output, per sample
        (``vmap`` of ``jacrev`` of the one-sample function: cost linear in ``m``)."""
        torch = _torch()
        t = self._t(theta)
        step = self._chunk()

        def one(flat, xi):  # f of one sample: (K,)
            return self._call(self._params(flat), xi[None])[0]

        per_sample = torch.func.vmap(torch.func.jacrev(one), in_dims=(None, 0))
        for start in range(0, len(X), step):
            yield start, per_sample(t, self._x(X[start:start + step]))  # (m, K, p)

    def jacobians(self, theta, X) -> np.ndarray:
        """Per-sample Jacobians ``J_i``, ``(n, K, p)`` (memory ``O(n K p)``)."""
        theta, X = self.check_theta(theta), self.check_inputs(X)
        out = np.empty((len(X), self._K, self.n_params))
        for start, J in self._jacobian_chunks(theta, X):
            out[start:start + len(J)] = J.numpy()
        return out

    def ntk_blocks(self, theta, X) -> np.ndarray:
        """``J_i J_i^T``, ``(n, K, K)``, chunk by chunk."""
        torch = _torch()
        theta, X = self.check_theta(theta), self.check_inputs(X)
        out = np.empty((len(X), self._K, self._K))
        for start, J in self._jacobian_chunks(theta, X):
            out[start:start + len(J)] = torch.matmul(J, J.transpose(1, 2)).numpy()
        return out

    def ntk(self, theta, X) -> np.ndarray:
        """The empirical NTK Gram matrix ``J J^T``, ``(n K, n K)`` grouped by sample.

        Notes
        -----
        Held in memory whole when the Jacobians fit the budget; otherwise each pair of
        chunks is formed again (``O(chunks^2)`` Jacobian passes, the memory of two).
        """
        theta, X = self.check_theta(theta), self.check_inputs(X)
        n, K = len(X), self._K
        out = np.empty((n * K, n * K))
        if self._chunk() >= n:
            J = next(self._jacobian_chunks(theta, X))[1].reshape(n * K, -1)
            return (J @ J.T).numpy()
        chunks = list(range(0, n, self._chunk()))
        for a in chunks:
            Ja = next(self._jacobian_chunks(theta, X[a:a + self._chunk()]))[1]
            Ja = Ja.reshape(-1, self.n_params)
            for b in chunks:
                if b > a:
                    break
                Jb = Ja if b == a else next(
                    self._jacobian_chunks(theta, X[b:b + self._chunk()]))[1].reshape(
                        -1, self.n_params)
                block = (Ja @ Jb.T).numpy()
                out[a * K:a * K + block.shape[0], b * K:b * K + block.shape[1]] = block
                out[b * K:b * K + block.shape[1], a * K:a * K + block.shape[0]] = block.T
        return out

    def output_hessians(self, theta, X) -> np.ndarray:
        """``L_i``, the Hessian of the per-sample loss in the outputs, ``(n, K, K)``:
        ``c I`` (squared losses) or ``diag p_i - p_i p_i^T`` (cross-entropy). The
        per-sample Gauss-Newton Hessian is ``J_i^T L_i J_i``."""
        X = self.check_inputs(X)
        if self.loss_kind != "cross_entropy":
            return np.broadcast_to(self.c * np.eye(self._K), (len(X), self._K, self._K)).copy()
        P = _softmax(self.forward(theta, X))
        return np.einsum("ik,kl->ikl", P, np.eye(self._K)) - P[:, :, None] * P[:, None, :]

    def output_factors(self, theta, X) -> np.ndarray:
        """``F_i`` with ``F_i F_i^T = L_i``, ``(n, K, K)``: ``sqrt(c) I``, or for
        cross-entropy ``diag(sqrt p_i) (I - q_i q_i^T)`` with ``q_i = sqrt(p_i)`` (a unit
        vector, so ``I - q q^T`` is a projector and ``F F^T = D (I - q q^T) D = L``)."""
        X = self.check_inputs(X)
        K = self._K
        if self.loss_kind != "cross_entropy":
            return np.broadcast_to(np.sqrt(self.c) * np.eye(K), (len(X), K, K)).copy()
        q = np.sqrt(_softmax(self.forward(theta, X)))
        proj = np.eye(K)[None] - q[:, :, None] * q[:, None, :]
        return q[:, :, None] * proj

    def hvp(self, theta, X, Y, v, kind: str = "exact") -> np.ndarray:
        """Hessian of :meth:`loss` times ``v``, ``(p,)``.

        ``kind="exact"``: forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``);
        ``"gauss_newton"``: ``(1/n) sum_i J_i^T L_i J_i v``.
        """
        torch = _torch()
        check_choice(kind, "kind", ("exact", "gauss_newton"))
        theta, X = self.check_theta(theta), self.check_inputs(X)
        Y = self.check_targets(Y, len(X))
        v = self.check_vector(v)
        if kind == "gauss_newton":
            u = self.jvp(theta, X, v)
            L = self.output_hessians(theta, X)
            return self.vjp(theta, X, np.einsum("ikl,il->ik", L, u) / len(X))
        loss = self._flat_loss(self._x(X), self._t(Y))
        _, hv = torch.func.jvp(torch.func.grad(loss), (self._t(theta),), (self._t(v),))
        return hv.numpy().copy()

    def linearize(self, theta, X) -> TorchLinearization:
        """``J v``, ``J^T U`` and ``J_i J_i^T`` at ``theta`` on ``X``, with the forward
        pass and the reverse graph made once."""
        return TorchLinearization(self, self.check_theta(theta), self.check_inputs(X))

    def predict(self, theta, X) -> np.ndarray:
        """Class predictions ``argmax_k f_k(x_i)``."""
        return np.argmax(self.forward(theta, X), axis=1)

    def accuracy(self, theta, X, labels) -> float:
        """Fraction of samples whose prediction equals ``labels`` (integers, or
        ``(n, K)`` targets read by their argmax)."""
        X = self.check_inputs(X)
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = np.argmax(labels, axis=1)
        if labels.shape != (len(X),):
            raise ValueError(f"labels must have {len(X)} entries, got shape {labels.shape}")
        return float(np.mean(self.predict(theta, X) == labels))


class TorchLinearization:
    """The linearization of a :class:`TorchModel` at one point: one ``torch.func.vjp``
    whose reverse graph serves every ``J^T U``; ``J v`` by ``torch.func.jvp`` (forward
    mode carries the primal along, so there is no graph to keep)."""

    def __init__(self, model: TorchModel, theta, X):
        torch = _torch()
        self._model, self._theta, self._X = model, theta, X
        self._f, self._t = model._f(model._x(X)), model._t(theta)
        _, self._pull = torch.func.vjp(self._f, self._t)
        self._shape = (len(X), model.n_outputs)

    def jvp(self, v) -> np.ndarray:
        torch = _torch()
        v = self._model.check_vector(v)
        return torch.func.jvp(self._f, (self._t,), (self._model._t(v),))[1].numpy().copy()

    def vjp(self, U) -> np.ndarray:
        U = real_array(U, "U", 2)
        if U.shape != self._shape:
            raise ValueError(f"U must have shape {self._shape}, got {U.shape}")
        return self._pull(self._model._t(U))[0].numpy().copy()

    def ntk_blocks(self) -> np.ndarray:
        return self._model.ntk_blocks(self._theta, self._X)


@dataclass(frozen=True, eq=False)
class Runs:
    """Outcome of :func:`sgd`: ``R`` runs.

    Attributes
    ----------
    thetas : ndarray (R, p)
        Final parameters (a run's last finite point where it blew up).
    t : ndarray (m,)
        Steps at which the losses were recorded (``0, check_every, ...``).
    loss_curves : ndarray (R, m)
        Full-data loss of each run at ``t`` (``inf`` from a blow-up on; after a run
        stopped at ``loss_tol`` its curve repeats its last loss).
    steps_run : ndarray (R,)
        Steps each run made (it stops at ``loss_tol`` or a blow-up).
    diverged : ndarray (R,) of bool
        The loss or the parameters left the float64 range.
    """

    thetas: np.ndarray
    t: np.ndarray
    loss_curves: np.ndarray
    steps_run: np.ndarray
    diverged: np.ndarray

    @property
    def loss(self) -> np.ndarray:
        """Each run's last recorded loss."""
        return self.loss_curves[:, -1]


def batches(n: int, B: int, runs: int, scheme: str, rng: np.random.Generator) -> np.ndarray:
    """One step's batch indices of every run, ``(runs, B)``: ``"without"`` a uniform
    ``B``-subset, ``"with"`` ``B`` uniform draws with replacement; ``B = n`` without
    replacement is the whole data set (GD)."""
    if scheme == "with":
        return rng.integers(0, n, size=(runs, B))
    if B == n:
        return np.broadcast_to(np.arange(n), (runs, n))
    return np.argsort(rng.random((runs, n)), axis=1)[:, :B]


def sgd(model: TorchModel, thetas0, X, Y, eta: float, B: int, steps: int, seed: int, *,
        scheme: str = "without", check_every: int = 10, loss_tol: float = 0.0,
        blowup: float = 1e30) -> Runs:
    """``R`` runs of SGD on ``model``'s loss at once (``torch.func.vmap`` of the batch
    gradient over the runs): ``theta <- theta - eta grad L_B(theta)``, ``B`` samples
    drawn by ``scheme`` at every step, independently per run, from ``seed``.

    Parameters
    ----------
    thetas0 : array_like (R, p) or (p,)
        Starts (one run for a single vector).
    check_every : int
        Steps between full-data loss records; a run stops after a record at or below
        ``loss_tol`` (0: never) or above ``blowup`` (not finite counts too).

    Notes
    -----
    Deterministic for a seed: batches come from ``numpy.random.default_rng(seed)``,
    drawn for every run at every step whether or not it has stopped, so that a run's
    batches do not depend on the others.
    """
    torch = _torch()
    from sim._validate import check_positive

    if not isinstance(model, TorchModel):
        raise TypeError(f"model must be a TorchModel, got {type(model).__name__}")
    T = np.atleast_2d(real_array(thetas0, "thetas0"))
    if T.shape[1] != model.n_params or T.ndim != 2:
        raise ValueError(f"thetas0 must have shape (R, {model.n_params}), got "
                         f"{np.shape(thetas0)}")
    X = model.check_inputs(X)
    Y = model.check_targets(Y, len(X))
    n = len(X)
    eta = check_positive(eta, "eta")
    B = check_int(B, "B", 1, None if scheme == "with" else n)
    steps = check_int(steps, "steps", 1)
    check_every = check_int(check_every, "check_every", 1)
    check_choice(scheme, "scheme", ("without", "with"))
    loss_tol = float(loss_tol)
    rng = np.random.default_rng(check_int(seed, "seed", 0))
    R = len(T)
    x, y = model._x(X), model._t(Y)

    def batch_loss(flat, xb, yb):
        return model._flat_loss(xb, yb)(flat)

    if R == 1:  # plain autograd: less per-call overhead than the torch.func transforms
        def step_grad(th, xb, yb):
            leaf = th[0].detach().requires_grad_(True)
            value = model._flat_loss(xb[0], yb[0])(leaf)
            return torch.autograd.grad(value, leaf)[0][None]
    else:
        step_grad = torch.func.vmap(torch.func.grad(batch_loss))
    full_loss = torch.func.vmap(lambda flat: model._flat_loss(x, y)(flat))
    theta = torch.from_numpy(T.copy())
    active = np.ones(R, dtype=bool)
    diverged = np.zeros(R, dtype=bool)
    steps_run = np.zeros(R, dtype=np.int64)
    t_rec = list(range(0, steps + 1, check_every))
    if t_rec[-1] != steps:
        t_rec.append(steps)
    curves = np.empty((R, len(t_rec)))
    with torch.no_grad():
        curves[:, 0] = full_loss(theta).numpy()
    bad = ~(curves[:, 0] <= blowup)
    diverged |= bad
    active &= ~bad & ~(curves[:, 0] <= loss_tol)
    k = 1
    for t in range(1, steps + 1):
        idx = batches(n, B, R, scheme, rng)
        if active.any():
            on = torch.from_numpy(np.flatnonzero(active))
            ix = torch.from_numpy(np.ascontiguousarray(idx[active]))
            g = step_grad(theta[on], x[ix], y[ix])
            theta[on] = theta[on] - eta * g
            steps_run[active] = t
        if t == t_rec[k]:
            with torch.no_grad():
                values = full_loss(theta).numpy()
            values = np.where(active, values, curves[:, k - 1])
            finite = np.isfinite(theta.numpy()).all(axis=1)
            bad = active & (~(values <= blowup) | ~finite)
            values[bad] = np.inf
            diverged |= bad
            curves[:, k] = values
            active &= ~bad & ~(values <= loss_tol)
            k += 1
            if not active.any():
                curves[:, k:] = curves[:, k - 1:k]
                break
    return Runs(theta.numpy().copy(), np.array(t_rec), curves, steps_run, diverged)


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def mlp_module(widths, activation: str = "relu"):
    """A ``torch.nn.Sequential`` of ``Linear`` layers with ``widths`` and ``activation``
    between them: the same function and flat parameter layout as
    ``sim.nets.MLP(widths, activation)`` (``theta`` loads with :meth:`TorchModel.unflatten`
    unchanged)."""
    torch = _torch()
    nn = torch.nn
    layers = []
    for k, (i, o) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(i, o, dtype=torch.float64))
        if k < len(widths) - 2:
            layers.append({"relu": nn.ReLU, "tanh": nn.Tanh}[check_choice(
                activation, "activation", ("relu", "tanh"))]())
    return nn.Sequential(*layers)


def conv_module(channels: int = 8, classes: int = 10, side: int = 8, hidden: int = 32,
                activation: str = "relu"):
    """A small convolutional net for ``side x side`` one-channel images:
    ``Conv2d(1, channels, 3, padding=1) -> act -> MaxPool2d(2) -> Flatten ->
    Linear(channels (side/2)^2, hidden) -> act -> Linear(hidden, classes)``, float64.
    (``docs/theory.md``, section 11; the paper's second architecture family.)"""
    torch = _torch()
    nn = torch.nn
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[check_choice(activation, "activation",
                                                          ("relu", "tanh"))]
    if side % 2:
        raise ValueError(f"side must be even (one 2x2 pooling), got {side}")
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1, dtype=torch.float64), act(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(channels * (side // 2) ** 2, hidden, dtype=torch.float64),
        act(), nn.Linear(hidden, classes, dtype=torch.float64))


def seeded(module_fn, seed: int, *args, **kwargs):
    """``module_fn(*args, **kwargs)`` built under ``torch.manual_seed(seed)`` (PyTorch's
    default initialisation, reproducible), with the global generator restored."""
    torch = _torch()
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        return module_fn(*args, **kwargs)
    finally:
        torch.random.set_rng_state(state)


__all__ = ["TorchModel", "TorchLinearization", "Runs", "sgd", "batches", "mlp_module",
           "conv_module", "seeded",
           "LOSSES", "JACOBIAN_BUDGET"]
