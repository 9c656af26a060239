"""CUDA backend of :func:`sim.montecarlo.simulate` (numba.cuda, optional).

One GPU thread runs one path with :func:`sim._kernels.run_path`, the function the
CPU path kernel calls, on the same xoroshiro128+ streams and with the same
:data:`sim._kernels.PathArgs`: CPU and CUDA agree path by path (up to
floating-point contraction). ``numba-cuda`` is an optional extra
(``pip install -e ".[cuda]"``); ``import sim`` works without it. With
``NUMBA_ENABLE_CUDASIM=1`` the kernel runs in numba's CUDA simulator on the CPU,
where the named tuple's arrays reach the shared step as plain NumPy arrays.
"""

from __future__ import annotations

import warnings
from functools import cache

from sim._kernels import Run, clone_step, run_path

try:  # numba-cuda is optional; the simulator swaps this module-level name
    from numba import cuda
except ImportError:  # pragma: no cover - depends on the installation
    cuda = None

THREADS_PER_BLOCK = 128


def _cuda():
    if cuda is None:
        raise RuntimeError("backend='cuda' needs numba-cuda: pip install -e '.[cuda]'")
    return cuda


def simulate_paths_cuda(a, e, s):
    """CUDA kernel body: thread ``p`` runs path ``p`` of the :data:`PathArgs` ``a`` with
    the ensemble ``e`` and the sampler ``s`` (compiled by :func:`_kernel`; plain Python
    here so tests can compile it to PTX)."""
    p = cuda.grid(1)
    if p < a.X.shape[0]:
        run_path(p, a, e, s)


def clone_steps_cuda(a, e, s):
    """CUDA kernel body: thread ``k`` advances clone ``k`` of the
    :data:`sim._kernels.CloneArgs` ``a`` (the step :func:`sim._kernels.clone_step` that the
    CPU loop calls)."""
    k = cuda.grid(1)
    if k < a.X.shape[0]:
        clone_step(k, a, e, s)


@cache
def _kernel():
    return _cuda().jit(simulate_paths_cuda)


@cache
def _clone_kernel():
    return _cuda().jit(clone_steps_cuda)


def run_clone_steps(run) -> None:
    """One cloning step of every clone of ``run`` (:data:`sim._kernels.Run` of
    :data:`~sim._kernels.CloneArgs`) on the GPU (outputs copied back)."""
    launch(_clone_kernel(), run, run.a.X.shape[0], THREADS_PER_BLOCK)


def available() -> bool:
    """Whether a CUDA device (or the simulator) can run the kernel."""
    try:
        return bool(_cuda().is_available())
    except RuntimeError:
        return False


def launch(kernel, args, count: int, threads: int) -> None:
    """Run a compiled kernel with one thread per item (``count`` items) on ``args``, a
    tuple of its arguments (named tuples of host arrays and scalars); numba copies the
    arrays to the device and back, so the outputs land in the host arrays."""
    cuda = _cuda()
    if not cuda.is_available():
        raise RuntimeError("backend='cuda': no CUDA device found (set "
                           "NUMBA_ENABLE_CUDASIM=1 to use the simulator)")
    blocks = (count + threads - 1) // threads
    with warnings.catch_warnings():
        # The copies of host arrays are intended (the outputs must come back), so
        # numba's performance warning about them is noise.
        warnings.filterwarnings("ignore", message=".*[Hh]ost array.*")
        kernel[blocks, threads](*args)
    cuda.synchronize()


def run(kernel_input: Run) -> None:
    """Run the kernel on ``kernel_input`` (built by :func:`sim.montecarlo.kernel_args`);
    the outputs and advanced random states are copied back into its host arrays."""
    launch(_kernel(), kernel_input, kernel_input.a.X.shape[0], THREADS_PER_BLOCK)
