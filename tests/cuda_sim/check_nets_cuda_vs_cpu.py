"""sim.nets training on the CUDA backend == CPU, model by model. Run only with
NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda.py does, in a subprocess)."""

import numpy as np
import pytest

from sim import Sampling, data
from sim.nets import MLP, train_many


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_cuda_training_equals_cpu(activation):
    """Six models (every scheme, momentum, GD): the CUDA kernel's parameters and loss
    curves equal the CPU kernel's (1e-12)."""
    rng = np.random.default_rng(0)
    net = MLP((3, 4, 2), activation, "mean")
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 2, 8)
    Y = data.one_hot(y, 2)
    thetas = np.stack([net.init(s) for s in range(6)])
    smps = [Sampling(2), Sampling(3, "with"), Sampling(3, "reshuffle"),
            Sampling(3, "reshuffle", drop_last=False), Sampling(scheme="mixture", p=0.5),
            Sampling(8)]
    kw = dict(momentum=[0, 0.5, 0, 0.9, 0, 0.2], record_every=2, labels=y)
    cpu = train_many(net, thetas, X, Y, 0.3, smps, 6, list(range(6)), **kw)
    gpu = train_many(net, thetas, X, Y, 0.3, smps, 6, list(range(6)), backend="cuda", **kw)
    np.testing.assert_allclose(gpu.thetas, cpu.thetas, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gpu.loss_curves, cpu.loss_curves, rtol=1e-12)
    np.testing.assert_array_equal(gpu.steps_run, cpu.steps_run)
