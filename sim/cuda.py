"""CUDA backend of :func:`sim.linear.simulate` (numba.cuda, optional).

One GPU thread runs one path with :func:`sim._kernels.run_path`, the function the
CPU path kernel calls, on the same xoroshiro128+ streams: CPU and CUDA agree path
by path (up to floating-point contraction). ``numba-cuda`` is an optional extra
(``pip install -e ".[cuda]"``); ``import sim`` works without it. With
``NUMBA_ENABLE_CUDASIM=1`` the kernel runs in numba's CUDA simulator on the CPU.
"""

from __future__ import annotations

from functools import cache

from numba import config

from sim._kernels import run_path

try:  # numba-cuda is optional; the simulator swaps this module-level name
    from numba import cuda
except ImportError:  # pragma: no cover - depends on the installation
    cuda = None

if config.ENABLE_CUDASIM:
    # The simulator runs the kernel body as Python and hands it wrapped arrays;
    # the shared step is CPU-compiled there, so give it the NumPy arrays inside.
    def _path(*args):
        return run_path(*(getattr(getattr(a, "_item", None), "_ary", a) for a in args))
else:
    _path = run_path

THREADS_PER_BLOCK = 128

ARG_ORDER = ("Hs", "G", "Hbar", "dense", "scheme", "n", "B", "prob", "eta", "steps",
             "record_every", "x0", "random_x0", "states", "X", "Y", "IDX", "PERM", "POS",
             "out_log", "diverged_at", "log_bound")
"""Kernel argument order (the keyword names of :func:`sim._kernels.run_path`)."""

OUTPUTS = ("states", "X", "Y", "IDX", "PERM", "POS", "out_log", "diverged_at")


def _cuda():
    if cuda is None:
        raise RuntimeError("backend='cuda' needs numba-cuda: pip install -e '.[cuda]'")
    return cuda


def simulate_paths_cuda(Hs, G, Hbar, dense, scheme, n, B, prob, eta, steps, record_every,
                        x0, random_x0, states, X, Y, IDX, PERM, POS, out_log, diverged_at,
                        log_bound):
    """CUDA kernel body: thread ``p`` runs path ``p`` (compiled by :func:`_kernel`;
    plain Python here so tests can compile it to PTX)."""
    p = cuda.grid(1)
    if p < X.shape[0]:
        _path(p, Hs, G, Hbar, dense, scheme, n, B, prob, eta, steps, record_every,
              x0, random_x0, states, X, Y, IDX, PERM, POS, out_log, diverged_at, log_bound)


@cache
def _kernel():
    return _cuda().jit(simulate_paths_cuda)


def available() -> bool:
    """Whether a CUDA device (or the simulator) can run the kernel."""
    try:
        return bool(_cuda().is_available())
    except RuntimeError:
        return False


def run(arrays: dict) -> None:
    """Run the kernel on ``arrays`` (the dict :func:`sim.linear._kernel_arrays`
    builds) and copy the outputs back into it."""
    cuda = _cuda()
    if not cuda.is_available():
        raise RuntimeError("backend='cuda': no CUDA device found (set "
                           "NUMBA_ENABLE_CUDASIM=1 to use the simulator)")
    dev = {k: cuda.to_device(v) if hasattr(v, "shape") else v for k, v in arrays.items()}
    P = arrays["X"].shape[0]
    blocks = (P + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    _kernel()[blocks, THREADS_PER_BLOCK](*(dev[k] for k in ARG_ORDER))
    cuda.synchronize()
    for k in OUTPUTS:
        dev[k].copy_to_host(arrays[k])
