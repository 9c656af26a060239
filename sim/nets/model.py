"""The model protocol: what :func:`sim.nets.curvature`, :func:`sim.nets.to_ensemble`,
:func:`sim.nets.polish` and the network studies need from a model.

A model is a function ``f(x; theta)`` of flat float64 parameters ``theta`` (``p`` of
them) with ``K`` outputs per sample, and a squared loss with per-sample factor ``c``
(``H_i = c J_i^T J_i`` at a zero-loss minimum; ``docs/theory.md``, section 7).
:class:`sim.nets.MLP` implements it in NumPy; an adapter for another framework
implements the same members and nothing else in ``sim`` needs to know which it has.
Training (:func:`sim.nets.train`) is the MLP's own numba kernel and is not part of it.

A loss other than the squared ones (``loss_kind`` not in :data:`SQUARED_LOSSES`) adds
two members, ``output_hessians(theta, X)`` and ``output_factors(theta, X)``: the
per-sample Gauss-Newton Hessian is then ``J_i^T L_i J_i`` (:func:`output_hessians`);
``residuals`` are the loss's gradients in the outputs divided by ``c``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Model(Protocol):
    """Members a model provides (shapes: ``X`` ``(n, in)``, ``Y`` and ``U`` ``(n, K)``,
    ``theta`` and ``v`` ``(p,)``)."""

    @property
    def n_params(self) -> int:
        """``p``."""

    @property
    def n_outputs(self) -> int:
        """``K``."""

    @property
    def c(self) -> float:
        """Loss constant: ``H_i = c J_i^T J_i`` at a zero-loss minimum."""

    def check_theta(self, theta) -> np.ndarray:
        """``theta`` as a float64 ``(p,)`` array, or a ``ValueError``/``TypeError``
        naming ``theta``."""

    def check_inputs(self, X) -> np.ndarray:
        """``X`` checked likewise."""

    def check_targets(self, Y, n: int) -> np.ndarray:
        """``Y`` checked likewise, ``(n, K)``."""

    def forward(self, theta, X) -> np.ndarray:
        """``f(X; theta)``, ``(n, K)``."""

    def residuals(self, theta, X, Y) -> np.ndarray:
        """``f(X; theta) - Y``."""

    def loss(self, theta, X, Y) -> float:
        """``(c / 2) (1/n) sum_i ||r_i||^2``."""

    def jvp(self, theta, X, v) -> np.ndarray:
        """``J_i v`` of every sample, ``(n, K)``."""

    def vjp(self, theta, X, U) -> np.ndarray:
        """``sum_i J_i^T U_i``, ``(p,)``."""

    def jacobians(self, theta, X) -> np.ndarray:
        """Per-sample Jacobians ``J_i``, ``(n, K, p)`` (small ``n K p`` only: the explicit
        curvature path and unreduced ensembles)."""

    def ntk(self, theta, X) -> np.ndarray:
        """The NTK Gram matrix ``J J^T``, ``(n K, n K)`` grouped by sample."""

    def ntk_blocks(self, theta, X) -> np.ndarray:
        """``J_i J_i^T``, ``(n, K, K)``."""

    def hvp(self, theta, X, Y, v, kind: str = "exact") -> np.ndarray:
        """Hessian of :meth:`loss` times ``v`` (``kind``: ``"exact"`` or
        ``"gauss_newton"``)."""

    def linearize(self, theta, X):
        """An object with ``jvp(v)``, ``vjp(U)`` and ``ntk_blocks()`` at ``theta`` on ``X``
        that reuses one forward pass."""


SQUARED_LOSSES = ("mean", "half")
"""Losses whose output Hessian is ``c I``: every product uses the scalar ``c``."""


def output_hessians(net, theta, X) -> np.ndarray | None:
    """``L_i``, the Hessian of the per-sample loss in the outputs (``(n, K, K)``; the
    per-sample Gauss-Newton Hessian is ``J_i^T L_i J_i``), or ``None`` for a squared
    loss, where ``L_i = c I``. A model with another loss (``loss_kind``, such as
    ``"cross_entropy"``) provides the optional member ``output_hessians(theta, X)``
    (``docs/theory.md``, section 11)."""
    if getattr(net, "loss_kind", "mean") in SQUARED_LOSSES:
        return None
    return np.asarray(net.output_hessians(theta, X), dtype=float)


def output_factors(net, theta, X) -> np.ndarray | None:
    """``F_i`` with ``F_i F_i^T = L_i`` (``(n, K, K)``), or ``None`` for a squared loss
    (``F_i = sqrt(c) I``); from the optional member ``output_factors(theta, X)``."""
    if getattr(net, "loss_kind", "mean") in SQUARED_LOSSES:
        return None
    return np.asarray(net.output_factors(theta, X), dtype=float)


def check_model(net) -> Model:
    """``net`` if it implements :class:`Model`, else a ``TypeError`` naming ``net``."""
    if not isinstance(net, Model):
        missing = [m for m in ("n_params", "n_outputs", "c", "check_theta", "check_inputs",
                               "check_targets", "forward", "residuals", "loss", "jvp", "vjp",
                               "jacobians", "ntk", "ntk_blocks", "hvp", "linearize")
                   if not hasattr(net, m)]
        raise TypeError(f"net must implement the model protocol (sim.nets.model.Model); "
                        f"{type(net).__name__} lacks {', '.join(missing) or 'members'}")
    return net


__all__ = ["Model", "check_model", "output_hessians", "output_factors", "SQUARED_LOSSES"]
