"""Claim: the sandwich average on a torch device (``sim._device``, the optional GPU path
of ``T``) equals the numpy one, and so do the thresholds computed through it, on every
solver; a device that does not exist here is a clear error naming ``device``. These
tests run the torch code on the CPU (the fallback); where torch sees a CUDA device, the
same comparisons run there too. Tolerances: 1e-12 relative for one sandwich average
(float64 GEMMs summed in another order: a few eps times the ``n K`` terms) and for the
thresholds (both paths run the same solver, whose steps see products equal to
round-off, and the solve's ``tol = 1e-10`` bounds the distance to the true value, not
between the two)."""

import numpy as np
import pytest

import sim
from sim.ensembles import Ensemble
from sim.moments import markov_gamma, sandwich_average
from sim.stability import DENSE_MAX_D, eta_exact

torch = pytest.importorskip("torch")
from sim._device import DeviceSandwich, check_device  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def factors(n: int, d: int, k: int, seed: int, rank: int | None = None) -> Ensemble:
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, d, k))
    if rank is not None:  # a rank-deficient H: the solve runs on range(H)
        G[:, rank:, :] = 0.0
    return Ensemble(G=G, name="random factors")


@pytest.mark.parametrize("device", DEVICES)
def test_sandwich_equals_numpy(device):
    ens = factors(7, 30, 3, 0)
    M = np.random.default_rng(1).standard_normal((30, 30))
    M = M + M.T
    expected = sandwich_average(ens, M)
    got = DeviceSandwich(ens.G, device)(M)
    assert got.dtype == np.float64 and got.shape == (30, 30)
    assert np.max(np.abs(got - expected)) <= 1e-12 * np.max(np.abs(expected))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", ["eigsh", "lean"])
def test_thresholds_equal_numpy(device, solver):
    """eta_exact, exact_threshold and thresholds through the device path equal the
    numpy path's, above DENSE_MAX_D (where the lean solver runs) and on a rank-deficient
    ensemble."""
    for ens, B in ((factors(12, 3 * DENSE_MAX_D, 2, 2), 3),
                   (factors(10, 4 * DENSE_MAX_D, 2, 3, rank=2 * DENSE_MAX_D), 4)):
        gamma = markov_gamma(ens, B)[1]
        base = eta_exact(ens, gamma, solver=solver)
        # CPU: the same BLAS, the same Lanczos steps; a GPU sums in another order, and a
        # solve one step longer or shorter differs by up to twice its 1e-10 tolerance
        rel = 1e-12 if device == "cpu" else 2e-10
        assert eta_exact(ens, gamma, solver=solver, device=device) == pytest.approx(
            base, rel=rel)
        res = sim.exact_threshold(ens, B, solver=solver, device=device)
        assert res.eta_exact == pytest.approx(base, rel=rel)
        assert res.device == str(torch.device(device)) and res.solver == solver
        th = sim.thresholds(ens, B, solver=solver, device=device)
        assert th.eta_exact == pytest.approx(base, rel=rel)
    assert sim.exact_threshold(ens, B, solver=solver).device == "numpy"
    assert sim.exact_threshold(ens, ens.n, device=device).device == "numpy"  # GD: no solve


def test_dense_ensembles_use_numpy():
    """A dense ensemble has no factors to put on a device: numpy, stated in the result."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((6, 12, 12))
    ens = Ensemble(Hs=A @ A.transpose(0, 2, 1))
    res = sim.exact_threshold(ens, 2, device="cpu")
    assert res.device == "numpy"
    assert res.eta_exact == pytest.approx(sim.exact_threshold(ens, 2).eta_exact, rel=1e-14)


def test_bad_devices_name_the_argument():
    ens = factors(5, 12, 2, 5)
    for bad in (3, object(), ["cpu"]):
        with pytest.raises(TypeError, match="device"):
            eta_exact(ens, 0.5, device=bad)
    for bad in ("tpu", "meta", "cpu:x", "cpu:1"):
        with pytest.raises(ValueError, match="device"):
            sim.exact_threshold(ens, 2, device=bad)
    if not torch.cuda.is_available():
        for bad in ("cuda", "cuda:0", torch.device("cuda")):
            with pytest.raises(ValueError, match="device.*no CUDA device"):
                sim.thresholds(ens, 2, device=bad)
    else:
        with pytest.raises(ValueError, match="does not exist"):
            check_device(f"cuda:{torch.cuda.device_count()}")
    with pytest.raises(ValueError, match="device"):
        DeviceSandwich(ens.G, None)


def test_missing_torch_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[torch\]"'):
        sim.exact_threshold(factors(5, 12, 2, 6), 2, device="cpu")
