"""Numba kernels that train many small MLPs at once, one model per thread.

The per-model training loop :func:`train_model` is one plain ``@njit`` function called
by the CPU ``prange`` loop over models and by the CUDA kernel (one GPU thread per
model), so the math exists once. Batches come from the linear engine's sampler
(:func:`sim._kernels.sample_batch`) on the model's own xoroshiro128+ stream, so a model
trained alone or among others, on the CPU or the GPU, sees the same batches.

The gradient of a batch is accumulated sample by sample (forward pass, then backward
pass into the gradient buffer), which needs work memory proportional to the widths
only. Two measured details make the kernels fast: index arithmetic in the inner loops is
unsigned (numba checks every signed index for wraparound, which kept those loops from
vectorizing: 7x slower), and the kernels are compiled without reference counting
(``_nrt=False``; they allocate nothing): the atomic reference-count updates of the shared
arrays on every call made two threads slower than one. For ReLU the derivative is read
off the activation (``a > 0``), for tanh as ``1 - a^2``, so only activations are stored.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange, uint64

from sim._kernels import FASTMATH, FULL_BATCH, sample_batch
from sim._streams import SamplerArgs

RUNNING, CONVERGED, DIVERGED = 0, 1, 2

TrainArgs = namedtuple("TrainArgs", [
    "theta",        # (M, p) parameters, updated in place
    "vel",          # (M, p) heavy-ball velocity
    "grad",         # (M, p) work: batch gradient
    "widths",       # (L+1,) int64 layer sizes
    "woff",         # (L,) int64 start of W_l in theta
    "boff",         # (L,) int64 start of b_l in theta
    "aoff",         # (L+1,) int64 start of layer l's activations in acts
    "relu",         # bool: ReLU (else tanh)
    "c",            # float: loss factor (2/K for "mean", 1 for "half")
    "X",            # (n, in) inputs
    "Y",            # (n, K) targets
    "labels",       # (n,) int64 class labels for the accuracy (-1: none)
    "eta",          # (M,) float learning rates (after the warm-up)
    "warmup",       # int: the learning rate grows linearly over the first warmup steps
    "momentum",     # (M,) float heavy-ball momentum (PyTorch's convention)
    "steps",        # int
    "record_every",  # int
    "loss_tol",     # float: stop once the full loss is <= loss_tol (-inf: never)
    "loss_bound",   # float: the run diverged when the full loss exceeds it (or is NaN)
    "states",       # (M, 2) uint64 random streams
    "IDX",          # (M, Bmax) work: batch indices
    "PERM",         # (M, n or 1) work: reshuffling permutations
    "POS",          # (M,) work: reshuffling cursors
    "acts",         # (M, sum(widths)) work: activations of one sample
    "delta",        # (M, 2, max(widths)) work: backward cotangents
    "loss_curve",   # (M, R) output: full training loss at recorded steps (NaN after stop)
    "acc_curve",    # (M, R) output: training accuracy at recorded steps
    "steps_run",    # (M,) output
    "status",       # (M,) output: RUNNING (ran out of steps), CONVERGED or DIVERGED
    "save_every",   # int: parameters are saved every save_every steps (0: never)
    "saved",        # (M, C, p) output: parameters at steps 0, save_every, ... (NaN after stop)
])
"""State of every training kernel (CPU and CUDA); the kernels take ``(a, s)`` with the
:data:`sim._streams.SamplerArgs` ``s`` holding one entry per model (``n`` shared)."""


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def forward_sample(theta, acts, X, x_row, widths, woff, boff, aoff, relu):
    """Activations of sample ``x_row`` into ``acts`` for parameters ``theta`` (one
    model's rows of ``a.theta`` and ``a.acts``, the rest fields of :data:`TrainArgs`);
    the output layer is ``acts[aoff[L]:]``.

    The arrays come in one by one (the per-model rows made once per model): unpacking
    the whole record on every call costs as much as the arithmetic of a small layer."""
    L = woff.shape[0]
    src = aoff[0]
    for k in range(widths[0]):
        acts[src + k] = X[x_row, k]
    for l in range(L):
        win = uint64(widths[l])
        wout = widths[l + 1]
        src = uint64(aoff[l])
        dst = aoff[l + 1]
        wo = woff[l]
        bo = boff[l]
        hidden = l < L - 1
        for j in range(wout):
            z = 0.0
            row = uint64(wo + j * widths[l])
            for k in range(win):  # unsigned: no negative-index check, so it vectorizes
                z += theta[row + k] * acts[src + k]
            z += theta[bo + j]
            if hidden:
                if relu:
                    z = z if z > 0.0 else 0.0
                else:
                    z = math.tanh(z)
            acts[dst + j] = z


@njit(cache=True, _nrt=False)
def sample_loss(acts, a, x_row):
    """Per-sample loss ``(c/2) ||f(x) - y||^2`` and whether the argmax is the label
    (after :func:`forward_sample`)."""
    L = a.woff.shape[0]
    K = a.widths[L]
    out = a.aoff[L]
    total = 0.0
    best = 0
    for k in range(K):
        r = acts[out + k] - a.Y[x_row, k]
        total += r * r
        if acts[out + k] > acts[out + best]:
            best = k
    return 0.5 * a.c * total, best == a.labels[x_row]


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def backward_sample(theta, grad, acts, cur, nxt, Y, x_row, weight, widths, woff, boff, aoff,
                    relu, c):
    """Add ``weight * grad of (c/2)||f(x) - y||^2`` to ``grad`` (after
    :func:`forward_sample` on the same sample); ``cur``, ``nxt`` are work vectors of
    length ``max(widths)``."""
    L = woff.shape[0]
    K = widths[L]
    out = aoff[L]
    for k in range(K):
        cur[k] = weight * c * (acts[out + k] - Y[x_row, k])
    for l in range(L - 1, -1, -1):
        win = uint64(widths[l])
        wout = widths[l + 1]
        src = uint64(aoff[l])
        wo = woff[l]
        bo = boff[l]
        if l > 0:
            for k in range(win):
                nxt[k] = 0.0
        for j in range(wout):  # row j of W_l: gradient and cotangent in one pass
            g = cur[j]
            grad[bo + j] += g
            row = uint64(wo + j * widths[l])
            if l > 0:
                for k in range(win):
                    grad[row + k] += g * acts[src + k]
                    nxt[k] += g * theta[row + k]
            else:
                for k in range(win):
                    grad[row + k] += g * acts[src + k]
        if l > 0:
            for k in range(win):
                h = acts[src + k]
                if relu:
                    nxt[k] = nxt[k] if h > 0.0 else 0.0
                else:
                    nxt[k] *= 1.0 - h * h
            tmp = cur
            cur = nxt
            nxt = tmp


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def full_loss(theta, acts, a):
    """Training loss and accuracy of parameters ``theta`` on all ``n`` samples."""
    total = 0.0
    hits = 0
    n = a.X.shape[0]
    for i in range(n):
        forward_sample(theta, acts, a.X, i, a.widths, a.woff, a.boff, a.aoff, a.relu)
        li, hit = sample_loss(acts, a, i)
        total += li
        hits += hit
    return total / n, hits / n


@njit(cache=True, _nrt=False)
def record(m, theta, acts, a, t):
    """Record model ``m``'s loss and accuracy at step ``t``; return the new status."""
    loss, acc = full_loss(theta, acts, a)
    if t % a.record_every == 0:
        a.loss_curve[m, t // a.record_every] = loss
        a.acc_curve[m, t // a.record_every] = acc
    if not loss <= a.loss_bound:  # NaN compares false
        return DIVERGED
    if loss <= a.loss_tol:
        return CONVERGED
    return RUNNING


@njit(cache=True, _nrt=False)
def warmup_factor(t, warmup):
    """The learning rate of step ``t`` (``1, 2, ...``) is ``eta`` times this: a linear
    warm-up ``min(1, t / warmup)`` (1 without warm-up)."""
    if warmup > 0 and t < warmup:
        return t / warmup
    return 1.0


@njit(cache=True, _nrt=False)
def save(m, theta, a, t):
    """Copy model ``m``'s parameters into ``a.saved`` at the saving steps."""
    if a.save_every > 0 and t % a.save_every == 0:
        row = t // a.save_every
        for j in range(theta.shape[0]):
            a.saved[m, row, j] = theta[j]


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def train_model(m, a, s):
    """Train model ``m`` for up to ``a.steps`` steps with the per-model sampler arrays
    ``s`` (shared by CPU and CUDA)."""
    p = a.theta.shape[1]
    theta = a.theta[m]
    vel = a.vel[m]
    grad = a.grad[m]
    acts = a.acts[m]
    cur = a.delta[m, 0]
    nxt = a.delta[m, 1]
    idx = a.IDX[m]
    perm = a.PERM[m]
    smp = SamplerArgs(s.scheme[m], s.n, s.B[m], s.prob[m], s.drop_last[m])
    n = s.n
    for j in range(perm.shape[0]):
        perm[j] = j
    a.POS[m] = n  # forces a shuffle before the first reshuffling batch
    for r in range(a.loss_curve.shape[1]):
        a.loss_curve[m, r] = np.nan
        a.acc_curve[m, r] = np.nan
    for r in range(a.saved.shape[1]):
        for j in range(a.saved.shape[2]):
            a.saved[m, r, j] = np.nan
    save(m, theta, a, 0)
    status = record(m, theta, acts, a, 0)
    t = 0
    while status == RUNNING and t < a.steps:
        t += 1
        count = sample_batch(a.states, m, smp, idx, perm, a.POS)
        for j in range(p):
            grad[j] = 0.0
        if count == FULL_BATCH:
            for i in range(n):
                forward_sample(theta, acts, a.X, i, a.widths, a.woff, a.boff, a.aoff, a.relu)
                backward_sample(theta, grad, acts, cur, nxt, a.Y, i, 1.0 / n, a.widths, a.woff,
                                a.boff, a.aoff, a.relu, a.c)
        else:
            for b in range(count):
                forward_sample(theta, acts, a.X, idx[b], a.widths, a.woff, a.boff, a.aoff, a.relu)
                backward_sample(theta, grad, acts, cur, nxt, a.Y, idx[b], 1.0 / count, a.widths,
                                a.woff, a.boff, a.aoff, a.relu, a.c)
        mu = a.momentum[m]
        lr = a.eta[m] * warmup_factor(t, a.warmup)
        for j in range(p):
            v = mu * vel[j] + grad[j]
            vel[j] = v
            theta[j] -= lr * v
        save(m, theta, a, t)
        if t % a.record_every == 0 or t == a.steps:
            status = record(m, theta, acts, a, t)
    a.steps_run[m] = t
    a.status[m] = status


@njit(cache=True)
def draw_batches(states, s, IDX, CNT):
    """Fill ``IDX[t, :CNT[t]]`` with the batches of steps ``1..len(CNT)`` from stream
    0 of ``states`` and the :data:`SamplerArgs` ``s``: the draws :func:`train_model`
    makes (``CNT[t] = FULL_BATCH``: all ``n``)."""
    perm = np.arange(s.n)
    pos = np.full(1, s.n)
    for t in range(CNT.shape[0]):
        CNT[t] = sample_batch(states, 0, s, IDX[t], perm, pos)


def _models_loop(a, s):
    for m in prange(a.theta.shape[0]):
        train_model(m, a, s)


train_models_parallel = njit(parallel=True, cache=True)(_models_loop)
train_models_serial = njit(cache=True)(_models_loop)
