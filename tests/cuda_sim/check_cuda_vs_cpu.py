"""CUDA backend == CPU backend path by path. Run only with NUMBA_ENABLE_CUDASIM=1 (the
simulator must be chosen before numba is imported), which tests/test_cuda.py does in
a subprocess; on a machine with a GPU, run it without the variable."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim import cuda as sim_cuda

SCHEMES = ["without", "with", "reshuffle", "mixture"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("factors", [False, True])
def test_cuda_equals_cpu(scheme, factors):
    """Same seed: the CUDA kernel reproduces every CPU path (1e-12 relative)."""
    ens = sim.wishart(7, 4, 2, seed=3, factors=factors)
    kw = dict(scheme=scheme, p=0.35)
    cpu = sim.simulate(ens, 0.6 / ens.a, 3, 12, 37, 5, method="path", **kw)
    gpu = sim.simulate(ens, 0.6 / ens.a, 3, 12, 37, 5, backend="cuda", **kw)
    np.testing.assert_allclose(gpu.log_norms, cpu.log_norms, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(gpu.diverged_at, cpu.diverged_at)


@given(n=st.integers(2, 8), d=st.integers(1, 5), r=st.integers(1, 3), seed=st.integers(0, 99),
       scheme=st.sampled_from(SCHEMES), B_frac=st.floats(0, 1), ratio=st.floats(0.1, 2.0))
def test_cuda_equals_cpu_drawn(n, d, r, seed, scheme, B_frac, ratio):
    """For drawn ensembles, batch sizes and learning rates, CUDA equals CPU path by path."""
    ens = sim.wishart(n, d, r, seed=seed)
    B = max(1, round(B_frac * n))
    eta = ratio / ens.a
    cpu = sim.simulate(ens, eta, B, 6, 9, seed, scheme=scheme, p=0.5, method="path")
    gpu = sim.simulate(ens, eta, B, 6, 9, seed, scheme=scheme, p=0.5, backend="cuda")
    np.testing.assert_allclose(gpu.log_norms, cpu.log_norms, rtol=1e-12, atol=1e-12)


def test_available():
    """The simulator (or a device) is visible to the backend."""
    assert sim_cuda.available()
