"""Fully connected networks with exact derivatives: the :class:`MLP` record.

Parameters are one flat float64 vector, layer by layer ``W_l`` (shape ``(out, in)``,
row-major, like ``torch.nn.Linear.weight``) then ``b_l``, so a PyTorch ``state_dict``
of Linear layers loads with :meth:`MLP.flatten` and no conversion. Hidden layers
apply the activation, the output layer is linear.

Every derivative is computed in closed form, vectorised over samples (``docs/theory.md``,
section 7): per-sample Jacobians by reverse mode with one seed per output, ``J v`` by
forward mode, ``J^T U`` by reverse mode, and the exact Hessian-vector product by
forward-over-reverse (the tangent of the backward pass).

Losses: ``"mean"`` is PyTorch's ``MSELoss`` (mean over samples and outputs),
``f = (1/(n K)) sum ||r_i||^2``, per-sample factor ``c = 2/K``; ``"half"`` is
``f = (1/n) sum 1/2 ||r_i||^2``, ``c = 1``. Then the per-sample Gauss-Newton Hessian
is ``c J_i^T J_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim._validate import (
    check_choice,
    check_int,
    check_real,
    check_seed,
    check_shape,
    real_array,
)

ACTIVATIONS = ("relu", "tanh")
LOSSES = ("mean", "half")
INITS = ("torch", "kaiming")


def _act(name: str, Z: np.ndarray):
    """Activation, first and second derivative at ``Z``."""
    if name == "relu":
        on = (Z > 0).astype(Z.dtype)
        return Z * on, on, np.zeros_like(Z)
    T = np.tanh(Z)
    d1 = 1.0 - T * T
    return T, d1, -2.0 * T * d1


@dataclass(frozen=True, init=False)
class MLP:
    """A fully connected network ``widths[0] -> ... -> widths[-1]``.

    Parameters
    ----------
    widths : sequence of int
        Layer sizes including the input and output sizes (at least two, each ``>= 1``).
    activation : {"relu", "tanh"}
        Applied after every hidden layer.
    loss : {"mean", "half"}
        Squared-loss convention (see the module docstring); stored as
        :attr:`loss_kind` (``net.loss(theta, X, Y)`` evaluates the loss).
    """

    widths: tuple
    activation: str
    loss_kind: str

    def __init__(self, widths, activation: str = "relu", loss: str = "mean"):
        try:
            widths = tuple(widths)
        except TypeError as exc:
            raise TypeError(f"widths must be a sequence of integers, got {widths!r}") from exc
        if len(widths) < 2:
            raise ValueError(f"widths must hold at least input and output sizes, got {widths}")
        object.__setattr__(self, "widths",
                           tuple(check_int(w, f"widths[{i}]") for i, w in enumerate(widths)))
        object.__setattr__(self, "activation", check_choice(activation, "activation",
                                                            ACTIVATIONS))
        object.__setattr__(self, "loss_kind", check_choice(loss, "loss", LOSSES))

    def __repr__(self) -> str:
        return f"MLP(widths={self.widths}, activation={self.activation!r}, loss={self.loss_kind!r})"

    # ------------------------------------------------------------------ layout
    @cached_property
    def shapes(self) -> tuple:
        """``((out, in), ...)`` of the weight matrices."""
        return tuple((o, i) for i, o in zip(self.widths[:-1], self.widths[1:], strict=True))

    @cached_property
    def offsets(self) -> tuple:
        """``(start_W, start_b, end)`` of each layer in the flat vector."""
        out, pos = [], 0
        for o, i in self.shapes:
            out.append((pos, pos + o * i, pos + o * i + o))
            pos += o * i + o
        return tuple(out)

    @property
    def n_params(self) -> int:
        return self.offsets[-1][2]

    @property
    def n_outputs(self) -> int:
        return self.widths[-1]

    @property
    def n_inputs(self) -> int:
        return self.widths[0]

    @property
    def c(self) -> float:
        """Per-sample Gauss-Newton factor: ``H_i = c J_i^T J_i`` at a zero-loss minimum."""
        return 2.0 / self.n_outputs if self.loss_kind == "mean" else 1.0

    def unflatten(self, theta) -> list:
        """``[(W_1, b_1), ...]`` as views of ``theta`` (``W_l`` of shape ``(out, in)``)."""
        theta = self.check_theta(theta)
        return [(theta[w:b].reshape(shape), theta[b:e])
                for (w, b, e), shape in zip(self.offsets, self.shapes, strict=True)]

    def flatten(self, layers) -> np.ndarray:
        """The flat vector of ``[(W_1, b_1), ...]`` (for instance the arrays of a PyTorch
        ``state_dict`` of Linear layers, in order)."""
        layers = list(layers)
        if len(layers) != len(self.shapes):
            raise ValueError(f"layers must hold {len(self.shapes)} (W, b) pairs, "
                             f"got {len(layers)}")
        parts = []
        for k, ((W, b), shape) in enumerate(zip(layers, self.shapes, strict=True)):
            W, b = real_array(W, f"layers[{k}][0]"), real_array(b, f"layers[{k}][1]")
            if W.shape != shape or b.shape != (shape[0],):
                raise ValueError(f"layer {k} must have W {shape} and b ({shape[0]},), got "
                                 f"{W.shape} and {b.shape}")
            parts += [W.ravel(), b]
        return np.concatenate(parts)

    def init(self, seed: int, init: str = "torch", scale: float = 1.0) -> np.ndarray:
        """Random parameters.

        Parameters
        ----------
        seed : int
        init : {"torch", "kaiming"}
            ``"torch"``: PyTorch's default ``nn.Linear`` initialisation,
            ``W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; ``"kaiming"``: Kaiming normal,
            ``W ~ N(0, 2/fan_in)``, ``b = 0``.
        scale : float
            Multiplies every parameter (large initialisations are a knob in the
            literature).
        """
        rng = np.random.default_rng(check_seed(seed))
        check_choice(init, "init", INITS)
        scale = check_real(scale, "scale")
        layers = []
        for o, i in self.shapes:
            if init == "torch":
                bound = 1.0 / np.sqrt(i)
                layers.append((rng.uniform(-bound, bound, (o, i)), rng.uniform(-bound, bound, o)))
            else:
                layers.append((rng.standard_normal((o, i)) * np.sqrt(2.0 / i), np.zeros(o)))
        return scale * self.flatten(layers)

    # ------------------------------------------------------------------ checks
    # (part of the model protocol, sim.nets.model.Model: each names the argument)
    def check_theta(self, theta) -> np.ndarray:
        return check_shape(theta, "theta", (self.n_params,))

    def check_inputs(self, X) -> np.ndarray:
        X = real_array(X, "X", 2)
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have {self.n_inputs} columns, got shape {X.shape}")
        return X

    def check_targets(self, Y, n: int) -> np.ndarray:
        Y = check_shape(Y, "Y", (n, self.n_outputs))
        return Y

    def check_vector(self, v) -> np.ndarray:
        return check_shape(v, "v", (self.n_params,))

    # ------------------------------------------------------------------ passes
    def _forward(self, layers, X):
        """Pre-activations ``Z_l``, activations ``A_l`` (``A_0 = X``) and derivatives."""
        A, Zs, D1, D2 = [X], [], [], []
        for k, (W, b) in enumerate(layers):
            Z = A[-1] @ W.T + b
            Zs.append(Z)
            if k < len(layers) - 1:
                a, d1, d2 = _act(self.activation, Z)
                A.append(a)
                D1.append(d1)
                D2.append(d2)
        return Zs, A, D1, D2

    def forward(self, theta, X) -> np.ndarray:
        """Outputs ``f(X; theta)``, shape ``(n, K)``."""
        Zs, _, _, _ = self._forward(self.unflatten(theta), self.check_inputs(X))
        return Zs[-1]

    def residuals(self, theta, X, Y) -> np.ndarray:
        X = self.check_inputs(X)
        return self.forward(theta, X) - self.check_targets(Y, len(X))

    def loss(self, theta, X, Y) -> float:
        """``(1/(n K)) sum ||r_i||^2`` (``"mean"``) or ``(1/n) sum 1/2 ||r_i||^2``."""
        r = self.residuals(theta, X, Y)
        return float(self.c / 2 * np.sum(r * r) / len(r))

    def _backward(self, layers, A, D1, G):
        """Reverse pass from output cotangents ``G`` ``(n, K)``: the flat ``sum_i J_i^T G_i``."""
        grads = [None] * len(layers)
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            grads[k] = (G.T @ A[k], G.sum(axis=0))
            if k:
                G = (G @ W) * D1[k - 1]
        return np.concatenate([x for gW, gb in grads for x in (gW.ravel(), gb)])

    def vjp(self, theta, X, U) -> np.ndarray:
        """``sum_i J_i^T U_i``, shape ``(p,)``, for cotangents ``U`` of shape ``(n, K)``."""
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        U = real_array(U, "U", 2)
        if U.shape != (len(X), self.n_outputs):
            raise ValueError(f"U must have shape ({len(X)}, {self.n_outputs}), got {U.shape}")
        _, A, D1, _ = self._forward(layers, X)
        return self._backward(layers, A, D1, U)

    def gradient(self, theta, X, Y) -> np.ndarray:
        """Gradient of :meth:`loss`, shape ``(p,)``: ``sum_i J_i^T (c/n) r_i``."""
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        Y = self.check_targets(Y, len(X))
        Zs, A, D1, _ = self._forward(layers, X)
        return self._backward(layers, A, D1, (self.c / len(X)) * (Zs[-1] - Y))

    def _tangent(self, layers, dlayers, A, D1):
        """Forward-mode tangents ``dZ_l`` and ``dA_l`` along ``dlayers``."""
        dA, dZs = [np.zeros_like(A[0])], []
        for k, ((W, _), (dW, db)) in enumerate(zip(layers, dlayers, strict=True)):
            dZ = A[k] @ dW.T + db
            if k:  # the inputs have no tangent
                dZ += dA[-1] @ W.T
            dZs.append(dZ)
            if k < len(layers) - 1:
                dA.append(D1[k] * dZ)
        return dZs, dA

    def jvp(self, theta, X, v) -> np.ndarray:
        """``J_i v`` for every sample, shape ``(n, K)`` (one forward-mode pass)."""
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        _, A, D1, _ = self._forward(layers, X)
        dZs, _ = self._tangent(layers, self.unflatten(self.check_vector(v)), A, D1)
        return dZs[-1]

    def jacobians(self, theta, X) -> np.ndarray:
        """Per-sample Jacobians ``J_i = d f(x_i) / d theta``, shape ``(n, K, p)``.

        Notes
        -----
        Reverse mode with the ``K`` output seeds at once; memory ``O(n K p)``.
        """
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        n, K = len(X), self.n_outputs
        _, A, D1, _ = self._forward(layers, X)
        J = np.empty((n, K, self.n_params))
        for k, G in self._seed_cotangents(layers, A, D1):
            w, b, e = self.offsets[k]
            J[:, :, w:b] = (G[:, :, :, None] * A[k][:, None, None, :]).reshape(n, K, -1)
            J[:, :, b:e] = G
        return J

    def _seed_cotangents(self, layers, A, D1):
        """Reverse sweep from the ``K`` output seeds: yields ``(l, G_l)`` from the last
        layer down, ``G_l`` ``(n, K, w_l)`` the cotangents of layer ``l``'s
        pre-activation (``d f_k(x_i) / d z_l``)."""
        n, K = len(A[0]), self.n_outputs
        G = np.broadcast_to(np.eye(K), (n, K, K))  # (sample, seed, unit)
        for k in range(len(layers) - 1, -1, -1):
            yield k, G
            if k:
                G = np.matmul(G, layers[k][0]) * D1[k - 1][:, None, :]

    def ntk_blocks(self, theta, X) -> np.ndarray:
        """Per-sample blocks ``J_i J_i^T`` of the empirical NTK Gram matrix, ``(n, K, K)``.

        Notes
        -----
        Reverse mode from the ``K`` output seeds, without forming the Jacobians: the
        derivative of ``f_k(x_i)`` by ``W_l`` is ``g_{l,ik} a_{l-1,i}^T`` (``g`` the
        cotangent of layer ``l``'s pre-activation), so
        ``J_i J_i^T = sum_l G_{l,i} G_{l,i}^T (||a_{l-1,i}||^2 + 1)`` with the bias
        giving the ``+ 1``: ``O(n K sum_l w_l w_{l-1})`` time, ``O(n K max w_l)`` memory.
        """
        layers = self.unflatten(theta)
        _, A, D1, _ = self._forward(layers, self.check_inputs(X))
        return self._ntk_blocks(layers, A, D1)

    def ntk(self, theta, X) -> np.ndarray:
        """The empirical NTK Gram matrix ``J J^T`` of all samples, ``(n K, n K)``, rows
        and columns grouped by sample (entry ``(i K + k, j K + l)`` is
        ``J_ik . J_jl``).

        Notes
        -----
        Without forming the Jacobians (see :meth:`ntk_blocks`):
        ``J_i J_j^T = sum_l G_{l,i} G_{l,j}^T (a_{l-1,i} . a_{l-1,j} + 1)``, one
        ``(n K) x (n K)`` product per layer of width ``w_l``:
        ``O((n K)^2 sum_l w_l)`` instead of ``O((n K)^2 p)`` for ``J J^T``.
        """
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        _, A, D1, _ = self._forward(layers, X)
        n, K = len(X), self.n_outputs
        out = np.zeros((n, K, n, K))
        for k, G in self._seed_cotangents(layers, A, D1):
            Gf = G.reshape(n * K, -1)
            out += (Gf @ Gf.T).reshape(n, K, n, K) * (A[k] @ A[k].T + 1.0)[:, None, :, None]
        return out.reshape(n * K, n * K)

    def _ntk_blocks(self, layers, A, D1):
        n, K = len(A[0]), self.n_outputs
        out = np.zeros((n, K, K))
        for k, G in self._seed_cotangents(layers, A, D1):
            out += np.matmul(G, G.transpose(0, 2, 1)) * (np.sum(A[k] * A[k], axis=1)
                                                         + 1.0)[:, None, None]
        return out

    def hvp(self, theta, X, Y, v, kind: str = "exact") -> np.ndarray:
        """Hessian of :meth:`loss` times ``v``, shape ``(p,)``.

        Parameters
        ----------
        kind : {"exact", "gauss_newton"}
            ``"exact"``: forward-over-reverse, the tangent of the gradient along ``v``
            (includes the residual term ``(c/n) sum_ik r_ik Hess f_k(x_i) v``);
            ``"gauss_newton"``: ``(c/n) sum_i J_i^T J_i v``, which equals the exact
            product at a zero-loss minimum.
        """
        check_choice(kind, "kind", ("exact", "gauss_newton"))
        layers = self.unflatten(theta)
        X = self.check_inputs(X)
        Y = self.check_targets(Y, len(X))
        dlayers = self.unflatten(self.check_vector(v))
        scale = self.c / len(X)
        Zs, A, D1, D2 = self._forward(layers, X)
        dZs, dA = self._tangent(layers, dlayers, A, D1)
        if kind == "gauss_newton":
            return self._backward(layers, A, D1, scale * dZs[-1])
        G, dG = scale * (Zs[-1] - Y), scale * dZs[-1]
        out = [None] * len(layers)
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            dW, _ = dlayers[k]
            out[k] = (dG.T @ A[k] + G.T @ dA[k], dG.sum(axis=0))
            if k:
                gA, dgA = G @ W, dG @ W + G @ dW
                G, dG = gA * D1[k - 1], dgA * D1[k - 1] + gA * D2[k - 1] * dZs[k - 1]
        return np.concatenate([x for gW, gb in out for x in (gW.ravel(), gb)])

    def linearize(self, theta, X) -> Linearization:
        """The linearization of the outputs at ``theta`` on ``X``: one forward pass, then
        any number of ``J v``, ``J^T U`` and the per-sample ``J_i J_i^T``."""
        layers = self.unflatten(theta)
        _, A, D1, _ = self._forward(layers, self.check_inputs(X))
        return Linearization(self, layers, A, D1)

    def predict(self, theta, X) -> np.ndarray:
        """Class predictions ``argmax_k f_k(x_i)``."""
        return np.argmax(self.forward(theta, X), axis=1)

    def accuracy(self, theta, X, labels) -> float:
        """Fraction of samples whose prediction equals ``labels`` (integers, or one-hot
        targets ``(n, K)`` read by their argmax)."""
        X = self.check_inputs(X)
        raw = np.asarray(labels)
        if raw.ndim == 2:
            raw = real_array(raw, "labels", 2)
            if raw.shape != (len(X), self.n_outputs):
                raise ValueError(f"labels (one-hot) must have shape ({len(X)}, "
                                 f"{self.n_outputs}), got {raw.shape}")
            raw = np.argmax(raw, axis=1)
        elif raw.ndim != 1 or raw.dtype.kind not in "iu":
            raise TypeError(f"labels must be integer labels (n,) or one-hot targets (n, K), "
                            f"got {raw.dtype} entries of shape {raw.shape}")
        elif raw.shape != (len(X),):
            raise ValueError(f"labels must hold {len(X)} labels (one per row of X), "
                             f"got {len(raw)}")
        return float(np.mean(self.predict(theta, X) == raw))


class Linearization:
    """``f(X; theta + v) ~ f(X; theta) + J v`` of an :class:`MLP`, with the forward pass
    at ``theta`` made once (:meth:`MLP.linearize`)."""

    def __init__(self, net: MLP, layers, A, D1):
        self.net, self._layers, self._A, self._D1 = net, layers, A, D1

    def jvp(self, v) -> np.ndarray:
        """``J_i v`` for every sample, ``(n, K)`` (one forward-mode pass)."""
        dlayers = self.net.unflatten(self.net.check_vector(v))
        dZs, _ = self.net._tangent(self._layers, dlayers, self._A, self._D1)
        return dZs[-1]

    def vjp(self, U) -> np.ndarray:
        """``sum_i J_i^T U_i``, ``(p,)`` (one reverse pass)."""
        U = real_array(U, "U", 2)
        shape = (len(self._A[0]), self.net.n_outputs)
        if U.shape != shape:
            raise ValueError(f"U must have shape {shape}, got {U.shape}")
        return self.net._backward(self._layers, self._A, self._D1, U)

    def ntk_blocks(self) -> np.ndarray:
        """``J_i J_i^T``, ``(n, K, K)``."""
        return self.net._ntk_blocks(self._layers, self._A, self._D1)


__all__ = ["MLP", "Linearization", "ACTIVATIONS", "LOSSES", "INITS"]
