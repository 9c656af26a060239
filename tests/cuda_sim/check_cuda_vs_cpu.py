"""CUDA backend == CPU backend path by path. Run only with NUMBA_ENABLE_CUDASIM=1 (the
simulator must be chosen before numba is imported), which tests/test_cuda.py does in
a subprocess; on a machine with a GPU, run it without the variable."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim import Sampling
from sim.sampling import SCHEMES
from sim.testing import samplings

CASES = [Sampling(3), Sampling(3, "with"), Sampling(3, "reshuffle"),
         Sampling(3, "reshuffle", drop_last=False), Sampling(scheme="mixture", p=0.35)]


@pytest.mark.parametrize("smp", CASES, ids=str)
@pytest.mark.parametrize("factors", [False, True])
def test_cuda_equals_cpu(smp, factors):
    """Same seed: the CUDA kernel reproduces every CPU path (1e-12 relative), and the
    random streams end in the same state."""
    ens = sim.wishart(7, 4, 2, seed=3, factors=factors)
    cpu = sim.simulate(ens, 0.6 / ens.a, smp, 12, 37, 5, method="path")
    gpu = sim.simulate(ens, 0.6 / ens.a, smp, 12, 37, 5, backend="cuda")
    np.testing.assert_allclose(gpu.log_norms, cpu.log_norms, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(gpu.diverged_at, cpu.diverged_at)
    assert np.all(np.isfinite(gpu.log_norms[:, 1:]))


@given(n=st.integers(2, 8), d=st.integers(1, 5), r=st.integers(1, 3), seed=st.integers(0, 99),
       data=st.data(), ratio=st.floats(0.1, 2.0))
def test_cuda_equals_cpu_drawn(n, d, r, seed, data, ratio):
    """For drawn ensembles, samplings (every scheme) and learning rates, CUDA equals
    CPU path by path."""
    ens = sim.wishart(n, d, r, seed=seed)
    smp = data.draw(samplings(n, SCHEMES))
    eta = ratio / ens.a
    cpu = sim.simulate(ens, eta, smp, 6, 9, seed, method="path")
    gpu = sim.simulate(ens, eta, smp, 6, 9, seed, backend="cuda")
    np.testing.assert_allclose(gpu.log_norms, cpu.log_norms, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("smp", CASES, ids=str)
def test_cloning_cuda_equals_cpu(smp):
    """The cloning estimator with the per-clone step on the GPU equals the CPU one."""
    ens = sim.wishart(7, 3, 2, seed=1)
    kw = dict(steps=12, population=40, replicas=2, seed=3, bias_check=False)
    cpu = sim.moment_lyapunov(ens, 0.8 / ens.a, smp, 2.0, **kw)
    gpu = sim.moment_lyapunov(ens, 0.8 / ens.a, smp, 2.0, backend="cuda", **kw)
    np.testing.assert_allclose(gpu.log_mean_weights, cpu.log_mean_weights, rtol=1e-12,
                               atol=1e-12)
