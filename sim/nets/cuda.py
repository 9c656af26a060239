"""CUDA backend of :func:`sim.nets.train_many` (numba.cuda, optional).

One GPU thread trains one model with :func:`sim.nets._kernels.train_model`, the
function the CPU loop calls, on the same random streams and the same
:data:`sim.nets._kernels.TrainArgs`. Under ``NUMBA_ENABLE_CUDASIM=1`` it runs in
numba's simulator and equals the CPU result model by model.
"""

from __future__ import annotations

from functools import cache

from sim.cuda import launch
from sim.nets._kernels import TrainArgs, train_model

try:  # numba-cuda is optional; the simulator swaps this module-level name
    from numba import cuda
except ImportError:  # pragma: no cover - depends on the installation
    cuda = None

THREADS_PER_BLOCK = 64


def train_models_cuda(a, s):
    """CUDA kernel body: thread ``m`` trains model ``m`` of the :data:`TrainArgs` ``a`` with
    the per-model sampler ``s``."""
    m = cuda.grid(1)
    if m < a.theta.shape[0]:
        train_model(m, a, s)


@cache
def _kernel():
    if cuda is None:
        raise RuntimeError("backend='cuda' needs numba-cuda: pip install -e '.[cuda]'")
    return cuda.jit(train_models_cuda)


def run(args: TrainArgs, s) -> None:
    """Train every model of ``args`` (sampler ``s``) on the GPU; outputs come back into
    its arrays."""
    launch(_kernel(), (args, s), args.theta.shape[0], THREADS_PER_BLOCK)
