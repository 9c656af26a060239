"""Numba kernels of the Monte Carlo simulator.

Public wrappers in :mod:`sim.montecarlo` validate, allocate and seed; these functions
only fill arrays. Every piece of per-path math (random streams, batch sampling,
the batch product, the renormalised update) is a plain ``@njit`` function used by
the CPU path kernel, the grouped CPU kernel and the CUDA kernel alike.

Random streams: one xoroshiro128+ state ``(s0, s1)`` per path, seeded on the host
from ``numpy.random.SeedSequence(seed)``, so a path's numbers do not depend on the
thread (or GPU thread) that runs it.

One kernel interface: every kernel takes one :data:`PathArgs` named tuple (numba
and numba.cuda both accept named tuples of arrays and scalars), so an input is added
by one edit to its field list, and :func:`sim.montecarlo.kernel_args` fills it by name.

The per-path functions allocate nothing and are compiled without reference counting
(``_nrt=False``): every view they take (a row of ``Hs``, of ``X``) would otherwise
update the shared reference count of the whole array atomically, from every thread.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

from sim.sampling import SCHEME_CODES

EnsembleArgs = namedtuple("EnsembleArgs", [
    "Hs",           # (n, d, d) dense per-sample Hessians at unit scale (or a dummy)
    "G",            # (n, r, d) factor columns G_i^T at unit scale (or a dummy)
    "Hbar",         # (d, d) mean Hessian (the mixture's full batch)
    "dense",        # bool: use Hs (else G)
])
"""A unit-scale ensemble as the kernels read it (:func:`ensemble_args`)."""


def ensemble_args(unit) -> EnsembleArgs:
    """The :data:`EnsembleArgs` of a unit-scale :class:`sim.Ensemble`."""
    dummy = np.zeros((1, 1, 1))
    return EnsembleArgs(Hs=unit.Hs if unit.Hs is not None else dummy,
                        G=unit.columns if unit.G is not None else dummy,
                        Hbar=np.ascontiguousarray(unit.H), dense=unit.G is None)


Run = namedtuple("Run", ["a", "e", "s"])
"""What a kernel is called with, ``kernel(*run)``: the run state (:data:`PathArgs`,
:data:`CloneArgs`), the :data:`EnsembleArgs` and the sampler. Python-side only."""

PathArgs = namedtuple("PathArgs", [
    "eta",          # float: learning rate at unit scale (eta * ens.scale)
    "steps",        # int
    "record_every",  # int
    "x0",           # (1 or P, d) start, used unless random_x0
    "random_x0",    # bool: uniform start on the sphere
    "states",       # (P, 2) uint64 xoroshiro128+ states (advanced in place)
    "X",            # (P, d) work: current unit direction per path
    "Y",            # (P, d) work: batch product per path
    "IDX",          # (P, B) work: batch indices
    "PERM",         # (P, n or 1) work: reshuffling permutation per path
    "POS",          # (P,) work: reshuffling cursor per path
    "out_log",      # (P, R) output: log||x_t|| at recorded steps
    "diverged_at",  # (P,) output: first step with log||x_t|| > log_bound, or -1
    "log_bound",    # float
])
"""The run state of every simulation kernel (CPU path, CPU grouped, CUDA). Each kernel
takes ``(a, e, s)``: this record, the :data:`EnsembleArgs` ``e`` and the
:data:`sim._streams.SamplerArgs` ``s`` (three flat records: numba's parallel loops do
not take records nested in records)."""

GroupedWork = namedtuple("GroupedWork", ["CNT", "SLOT", "ROWS", "OFF", "Z"])
"""Extra work arrays of :func:`simulate_grouped`."""

FASTMATH = {"reassoc", "contract", "nsz"}
"""Reassociation lets LLVM vectorise the dot products; NaN/inf semantics are kept.
Results stay deterministic: the same compiled code computes every path."""

WITHOUT = SCHEME_CODES["without"]
WITH = SCHEME_CODES["with"]
RESHUFFLE = SCHEME_CODES["reshuffle"]
MIXTURE = SCHEME_CODES["mixture"]
FULL_BATCH = -1
"""``sample_batch`` returns this count for the mixture's full-batch step."""

_U11 = np.uint64(11)
_U16 = np.uint64(16)
_U24 = np.uint64(24)
_U40 = np.uint64(40)
_U37 = np.uint64(37)
_U27 = np.uint64(27)
_TWO_M53 = 1.0 / 9007199254740992.0


# ----------------------------------------------------------------- random streams
@njit(cache=True, _nrt=False)
def rng_next(states, p):
    """Next 64-bit output of path ``p``'s xoroshiro128+ stream (advances it)."""
    s0 = states[p, 0]
    s1 = states[p, 1]
    result = s0 + s1
    s1 ^= s0
    states[p, 0] = ((s0 << _U24) | (s0 >> _U40)) ^ s1 ^ (s1 << _U16)
    states[p, 1] = (s1 << _U37) | (s1 >> _U27)
    return result


@njit(cache=True, _nrt=False)
def rng_uniform(states, p):
    """Uniform double in ``[0, 1)`` with 53 random bits."""
    return np.float64(rng_next(states, p) >> _U11) * _TWO_M53


@njit(cache=True, _nrt=False)
def rng_below(states, p, m):
    """Uniform integer in ``[0, m)``."""
    k = np.int64(rng_uniform(states, p) * m)
    return k if k < m else m - 1


@njit(cache=True, _nrt=False)
def rng_normal(states, p):
    """Standard normal by Box-Muller (one of the pair)."""
    u1 = 1.0 - rng_uniform(states, p)  # in (0, 1]
    u2 = rng_uniform(states, p)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# ----------------------------------------------------------------- batch sampling
@njit(cache=True, _nrt=False)
def sample_batch(states, p, s, idx, perm, pos):
    """Fill ``idx[:count]`` with path ``p``'s next batch drawn as the
    :data:`sim._streams.SamplerArgs` ``s`` says; return ``count``.

    - without replacement: Floyd's algorithm (uniform ``B``-subset, ``O(B^2)``);
    - with replacement: ``B`` iid uniform indices;
    - random reshuffling: consecutive ``B``-blocks of a permutation ``perm``
      (one per path, Fisher-Yates), reshuffled at the end of an epoch; with
      ``drop_last`` an epoch ends when fewer than ``B`` remain (``n mod B`` samples
      skipped), otherwise the short final block is a batch of its own;
      ``pos[p]`` is the cursor;
    - mixture: one uniform index with probability ``prob``, else ``FULL_BATCH``.
    """
    scheme, n, B, prob, drop_last = s.scheme, s.n, s.B, s.prob, s.drop_last
    if scheme == WITH:
        for b in range(B):
            idx[b] = rng_below(states, p, n)
        return B
    if scheme == WITHOUT:
        count = 0
        for j in range(n - B, n):
            t = rng_below(states, p, j + 1)
            for c in range(count):
                if idx[c] == t:
                    t = j
                    break
            idx[count] = t
            count += 1
        return B
    if scheme == RESHUFFLE:
        if pos[p] >= n or (drop_last and pos[p] + B > n):
            for j in range(n - 1, 0, -1):
                k = rng_below(states, p, j + 1)
                tmp = perm[j]
                perm[j] = perm[k]
                perm[k] = tmp
            pos[p] = 0
        start = pos[p]
        count = min(B, n - start)
        for b in range(count):
            idx[b] = perm[start + b]
        pos[p] = start + count
        return count
    # mixture
    if rng_uniform(states, p) < prob:
        idx[0] = rng_below(states, p, n)
        return 1
    return FULL_BATCH


# ----------------------------------------------------------------- per-path math
@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def _dot(u, v, d):
    acc = 0.0
    for k in range(d):
        acc += u[k] * v[k]
    return acc


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def _matvec(A, x, y):
    """``y = A x`` (``A`` symmetric, rows contiguous)."""
    d = x.shape[0]
    for j in range(d):
        y[j] = _dot(A[j], x, d)


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def _start_batch(x, y, Hbar, count):
    """Full batch: ``y = Hbar x``, return 0. Otherwise zero ``y`` and return the
    per-sample weight ``1/count``."""
    if count == FULL_BATCH:
        _matvec(Hbar, x, y)
        return 0.0
    for j in range(y.shape[0]):
        y[j] = 0.0
    return 1.0 / count


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def batch_product_dense(x, y, Hs, Hbar, idx, count):
    """``y = H_xi x = (1/count) sum_b H_{idx[b]} x`` (``Hbar x`` for a full batch)."""
    d = x.shape[0]
    w = _start_batch(x, y, Hbar, count)
    if w == 0.0:
        return
    for b in range(count):
        Hi = Hs[idx[b]]
        for j in range(d):
            y[j] += w * _dot(Hi[j], x, d)


@njit(cache=True, _nrt=False)
def batch_product(x, y, e, idx, count):
    """``y = H_xi x`` for the :data:`EnsembleArgs` ``e`` (dense or factors)."""
    if e.dense:
        batch_product_dense(x, y, e.Hs, e.Hbar, idx, count)
    else:
        batch_product_factors(x, y, e.G, e.Hbar, idx, count)


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def batch_product_factors(x, y, Gt, Hbar, idx, count):
    """``y = H_xi x`` with ``H_i = G_i G_i^T``, from the columns ``Gt[i] = G_i^T``
    ``(r, d)`` (contiguous rows: both loops vectorise): ``O(d r)`` per sample."""
    d = x.shape[0]
    r = Gt.shape[1]
    w = _start_batch(x, y, Hbar, count)
    if w == 0.0:
        return
    for b in range(count):
        Gi = Gt[idx[b]]
        for c in range(r):
            col = Gi[c]
            acc = w * _dot(col, x, d)
            for j in range(d):
                y[j] += col[j] * acc


_SAFE_LOW = 1e-280
_SAFE_HIGH = 1e280


@njit(cache=True, _nrt=False)
def normalize(x, nrm2):
    """Divide ``x`` by its norm and return ``log||x||`` (``-inf`` if ``x = 0``, which
    is left as it is). ``nrm2`` is the plain sum of squares; outside
    ``[1e-280, 1e280]`` (overflow or underflow) the norm is recomputed with scaling."""
    d = x.shape[0]
    if _SAFE_LOW < nrm2 < _SAFE_HIGH:
        nrm = math.sqrt(nrm2)
    else:
        big = 0.0
        for j in range(d):
            big = max(big, abs(x[j]))
        if big == 0.0:
            return -np.inf
        acc = 0.0
        for j in range(d):
            u = x[j] / big
            acc += u * u
        nrm = big * math.sqrt(acc)
    inv = 1.0 / nrm
    if inv == 0.0 or math.isinf(inv):  # beyond the float64 range: divide in two steps
        for j in range(d):
            x[j] = (x[j] / math.sqrt(nrm)) / math.sqrt(nrm)
    else:
        for j in range(d):
            x[j] *= inv
    return math.log(nrm)


@njit(cache=True, _nrt=False)
def update_renormalize(x, y, eta):
    """``x <- x - eta y``, then ``x <- x/||x||``; return ``log ||x - eta y||``
    (``-inf`` if the iterate hit exactly zero, which it then keeps)."""
    d = x.shape[0]
    nrm2 = 0.0
    for j in range(d):
        x[j] -= eta * y[j]
        nrm2 += x[j] * x[j]
    return normalize(x, nrm2)


@njit(cache=True, _nrt=False)
def init_path(states, p, x, x0, random_x0, perm):
    """Set ``x`` to the unit start direction, return ``log ||x_0||``. A random start
    is uniform on the sphere (``E x x^T = I/d``); ``perm`` is reset to the identity."""
    d = x.shape[0]
    for j in range(perm.shape[0]):
        perm[j] = j
    nrm2 = 0.0
    for j in range(d):
        if random_x0:
            x[j] = rng_normal(states, p)
        else:
            x[j] = x0[p % x0.shape[0], j]
        nrm2 += x[j] * x[j]
    logn = normalize(x, nrm2)
    return logn if not random_x0 else 0.0


@njit(cache=True, _nrt=False)
def record_step(p, t, logn, record_every, out_log, diverged_at, log_bound):
    if diverged_at[p] < 0 and logn > log_bound:
        diverged_at[p] = t
    if t % record_every == 0:
        out_log[p, t // record_every] = logn


@njit(cache=True, _nrt=False)
def run_path(p, a, e, s):
    """The whole trajectory of path ``p`` (``a`` a :data:`PathArgs`, ``e`` the ensemble,
    ``s`` the sampler): shared by the CPU and CUDA kernels."""
    x = a.X[p]
    y = a.Y[p]
    idx = a.IDX[p]
    perm = a.PERM[p]
    logn = init_path(a.states, p, x, a.x0, a.random_x0, perm)
    a.POS[p] = s.n  # forces a shuffle before the first reshuffling batch
    a.diverged_at[p] = -1
    a.out_log[p, 0] = logn
    for t in range(1, a.steps + 1):
        count = sample_batch(a.states, p, s, idx, perm, a.POS)
        batch_product(x, y, e, idx, count)
        logn += update_renormalize(x, y, a.eta)
        record_step(p, t, logn, a.record_every, a.out_log, a.diverged_at, a.log_bound)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def quadratic_forms(X, Q, out):
    """``out[p] = X[p]^T Q X[p]`` (``Q`` symmetric): between kernel runs, without BLAS,
    whose idle threads would spin against the next run's on a small machine."""
    d = X.shape[1]
    for p in prange(X.shape[0]):
        acc = 0.0
        for j in range(d):
            acc += X[p, j] * _dot(Q[j], X[p], d)
        out[p] = acc


def _paths_loop(a, e, s):
    for p in prange(a.X.shape[0]):
        run_path(p, a, e, s)


simulate_paths_parallel = njit(parallel=True, cache=True)(_paths_loop)
simulate_paths_serial = njit(cache=True)(_paths_loop)


# ----------------------------------------------------------------- grouped kernel
@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def _rows_times_matrix(X, rows, lo, hi, Hm, Z):
    """``Z[o] = Hm X[rows[o]]`` for ``o`` in ``[lo, hi)`` (``Hm`` symmetric), in
    blocks of 4 rows x 2 columns so each loaded entry serves several products."""
    d = Hm.shape[0]
    o = lo
    while o + 4 <= hi:
        x0 = X[rows[o]]
        x1 = X[rows[o + 1]]
        x2 = X[rows[o + 2]]
        x3 = X[rows[o + 3]]
        j = 0
        while j + 2 <= d:
            h0 = Hm[j]
            h1 = Hm[j + 1]
            s00 = 0.0
            s01 = 0.0
            s10 = 0.0
            s11 = 0.0
            s20 = 0.0
            s21 = 0.0
            s30 = 0.0
            s31 = 0.0
            for k in range(d):
                a = h0[k]
                b = h1[k]
                s00 += x0[k] * a
                s01 += x0[k] * b
                s10 += x1[k] * a
                s11 += x1[k] * b
                s20 += x2[k] * a
                s21 += x2[k] * b
                s30 += x3[k] * a
                s31 += x3[k] * b
            Z[o, j] = s00
            Z[o, j + 1] = s01
            Z[o + 1, j] = s10
            Z[o + 1, j + 1] = s11
            Z[o + 2, j] = s20
            Z[o + 2, j + 1] = s21
            Z[o + 3, j] = s30
            Z[o + 3, j + 1] = s31
            j += 2
        if j < d:
            Z[o, j] = _dot(x0, Hm[j], d)
            Z[o + 1, j] = _dot(x1, Hm[j], d)
            Z[o + 2, j] = _dot(x2, Hm[j], d)
            Z[o + 3, j] = _dot(x3, Hm[j], d)
        o += 4
    while o < hi:
        x0 = X[rows[o]]
        for j in range(d):
            Z[o, j] = _dot(x0, Hm[j], d)
        o += 1


@njit(cache=True, _nrt=False)
def _sample_row(states, p, s, IDX, PERM, POS):
    """:func:`sample_batch` into row ``p`` of ``IDX`` and ``PERM`` (the row views are
    taken here, without reference counting, not in the parallel loop)."""
    return sample_batch(states, p, s, IDX[p], PERM[p], POS)


@njit(cache=True, fastmath=FASTMATH, _nrt=False)
def _gather_update(p, c, X, Y, Z, SLOT, eta):
    """``y_p`` = the mean of path ``p``'s rows of ``Z`` (``Hbar x_p`` for a full batch),
    then the renormalised update of ``x_p``; returns its log-norm increment."""
    d = X.shape[1]
    y = Y[p]
    if c == FULL_BATCH:
        for j in range(d):
            y[j] = Z[SLOT[p, 0], j]
    else:
        wt = 1.0 / c
        for j in range(d):
            y[j] = 0.0
        for b in range(c):
            zrow = Z[SLOT[p, b]]
            for j in range(d):
                y[j] += wt * zrow[j]
    return update_renormalize(X[p], y, eta)


@njit(parallel=True, cache=True)
def simulate_grouped(a, e, s, w):
    """All paths step together: paths that share a sampled index are multiplied by
    that ``H_i`` as one block (``Z = X_group H_i``), then each path sums its batch.

    ``a`` is a :data:`PathArgs`, ``e`` a dense :data:`EnsembleArgs`, ``s`` the sampler,
    ``w`` a :data:`GroupedWork`.
    ``w.SLOT[p, b]`` is the row of ``w.Z`` holding ``H_{idx[p,b]} x_p``; sample ``n``
    stands for ``Hbar`` (the mixture's full batch). Same random streams and sampling
    code as :func:`run_path`.
    """
    # Read the tuple once: parallel loops work on plain local names.
    Hs, Hbar, X, Y, IDX, PERM, POS = e.Hs, e.Hbar, a.X, a.Y, a.IDX, a.PERM, a.POS
    states, x0, random_x0 = a.states, a.x0, a.random_x0
    n, eta = s.n, a.eta
    out_log, diverged_at, log_bound, record_every = (a.out_log, a.diverged_at, a.log_bound,
                                                     a.record_every)
    CNT, SLOT, ROWS, OFF, Z = w.CNT, w.SLOT, w.ROWS, w.OFF, w.Z
    P = X.shape[0]
    logn = np.empty(P)
    for p in prange(P):
        logn[p] = init_path(states, p, X[p], x0, random_x0, PERM[p])
        POS[p] = n
        diverged_at[p] = -1
        out_log[p, 0] = logn[p]
    fill = np.empty(n + 2, dtype=np.int64)
    for t in range(1, a.steps + 1):
        for p in prange(P):
            CNT[p] = _sample_row(states, p, s, IDX, PERM, POS)
        # Bucket the (path, slot) pairs by sample: a counting sort, serial and cheap.
        for i in range(n + 2):
            OFF[i] = 0
        for p in range(P):
            c = CNT[p]
            if c == FULL_BATCH:
                OFF[n + 1] += 1
            else:
                for b in range(c):
                    OFF[IDX[p, b] + 1] += 1
        for i in range(n + 1):
            OFF[i + 1] += OFF[i]
        for i in range(n + 1):
            fill[i] = OFF[i]
        for p in range(P):
            c = CNT[p]
            if c == FULL_BATCH:
                o = fill[n]
                fill[n] += 1
                ROWS[o] = p
                SLOT[p, 0] = o
            else:
                for b in range(c):
                    i = IDX[p, b]
                    o = fill[i]
                    fill[i] += 1
                    ROWS[o] = p
                    SLOT[p, b] = o
        for i in prange(n + 1):
            Hm = Hbar if i == n else Hs[i]
            _rows_times_matrix(X, ROWS, OFF[i], OFF[i + 1], Hm, Z)
        for p in prange(P):
            logn[p] += _gather_update(p, CNT[p], X, Y, Z, SLOT, eta)
            record_step(p, t, logn[p], record_every, out_log, diverged_at, log_bound)


# ----------------------------------------------------------------- cloning
# The per-clone step of :func:`sim.cloning.moment_lyapunov` (CPU loop and CUDA kernel)
# and the serial resampling between steps.
CloneArgs = namedtuple("CloneArgs", [
    "eta", "q",                          # learning rate (unit scale) and moment order
    "states",                            # (N, 2) per-clone random streams
    "X", "Y", "IDX", "PERM", "POS",      # clone directions, work arrays, sampler state
    "logw",                              # (N,) output: log ||A x_k||^q of the last step
])
"""State of the per-clone step, on the CPU and on the GPU; the step takes
``(k, a, e, s)`` with the :data:`EnsembleArgs` and the sampler, as :func:`run_path`."""


@njit(cache=True)
def clone_step(k, a, e, s):
    """Advance clone ``k`` one step and store ``log ||A x_k||^q`` (``x_k`` renormalised):
    the linear engine's batch sampling, batch product and update."""
    x = a.X[k]
    y = a.Y[k]
    count = sample_batch(a.states, k, s, a.IDX[k], a.PERM[k], a.POS)
    batch_product(x, y, e, a.IDX[k], count)
    logn = update_renormalize(x, y, a.eta)
    a.logw[k] = a.q * logn if a.q != 0.0 else 0.0


def _clone_loop(a, e, s):
    for k in prange(a.X.shape[0]):
        clone_step(k, a, e, s)


clone_steps_parallel = njit(parallel=True, cache=True)(_clone_loop)


@njit(cache=True)
def resample(X, PERM, POS, logw, Xn, PERMn, POSn, cum, u_state):
    """Systematic resampling of the clones by the weights ``exp(logw)``; returns
    ``log mean_j w_j`` (``-inf`` when every clone hit exactly zero)."""
    N = X.shape[0]
    top = -np.inf
    for k in range(N):
        top = max(top, logw[k])
    if top == -np.inf:
        return -np.inf
    total = 0.0
    for k in range(N):
        total += math.exp(logw[k] - top)
        cum[k] = total
    u = rng_uniform(u_state, 0)
    j = 0
    for k in range(N):  # one uniform, N evenly spaced pointers
        target = (u + k) / N * total
        while j < N - 1 and cum[j] <= target:
            j += 1
        Xn[k] = X[j]
        PERMn[k] = PERM[j]
        POSn[k] = POS[j]
    X[:] = Xn
    PERM[:] = PERMn
    POS[:] = POSn
    return top + math.log(total / N)
