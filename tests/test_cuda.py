"""Claim: the numba.cuda backend computes the same paths as the CPU backend, and its
kernel compiles for the real device (sm_90) with the shared per-path step."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numba
import pytest

import sim
from sim import cuda as sim_cuda
from sim.montecarlo import SimulationConfig, kernel_args

ROOT = Path(__file__).resolve().parents[1]
PTXAS = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "ptxas"


def _has_numba_cuda():
    try:
        from numba import cuda  # noqa: F401
    except ImportError:
        return False
    return True


def _cuda_extra_installed() -> bool:
    """The ``cuda`` extra brings numba-cuda and the CUDA toolkit wheels (NVVM)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("numba-cuda")
        version("cuda-toolkit")
    except PackageNotFoundError:
        return False
    return True


pytestmark = pytest.mark.cuda
needs_numba_cuda = pytest.mark.skipif(not _has_numba_cuda(),
                                      reason="numba-cuda not installed (pip install -e '.[cuda]')")


@needs_numba_cuda
def test_simulator_matches_cpu():
    """Under NUMBA_ENABLE_CUDASIM=1 the CUDA kernels equal the CPU kernels path by path
    and model by model (tests/cuda_sim/, in their own process)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "cuda_sim" / "check_cuda_vs_cpu.py"),
         str(ROOT / "tests" / "cuda_sim" / "check_nets_cuda_vs_cpu.py")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def _kernel_signature(factors: bool):
    ens = sim.wishart(6, 3, 2, seed=0, factors=factors)
    cfg = SimulationConfig(eta=0.1, sampling=sim.Sampling(2, "reshuffle"), steps=10, paths=8,
                           seed=0, backend="cuda")
    return tuple(numba.typeof(x) for x in kernel_args(ens, cfg))


def _train_signature(activation: str):
    """The TrainArgs type of a small training run (captured from the CPU wrapper)."""
    import numpy as np

    from sim.nets import MLP, train_many
    from sim.nets import _kernels as NK

    seen = {}
    original = NK.train_models_serial

    def capture(args, sampler):
        seen["args"] = (args, sampler)

    NK.train_models_serial = capture
    try:
        net = MLP((3, 4, 2), activation)
        train_many(net, net.init(0)[None], np.zeros((5, 3)), np.zeros((5, 2)), 0.1,
                   sim.Sampling(2, "reshuffle"), 2, 0, parallel=False)
    finally:
        NK.train_models_serial = original
    return tuple(numba.typeof(x) for x in seen["args"])


def _ptxas():
    if PTXAS.exists():
        return str(PTXAS)
    return shutil.which("ptxas")


def _kernel_and_signature(which: str):
    if which == "clone":
        from sim.cloning import clone_args

        run, _ = clone_args(sim.wishart(5, 3, 2, seed=0), 0.3, sim.Sampling(2, "reshuffle"),
                            2.0, 16, 0)
        return sim_cuda.clone_steps_cuda, tuple(numba.typeof(x) for x in run), \
            "clone_steps_cuda"
    if which.startswith("paths"):
        return sim_cuda.simulate_paths_cuda, _kernel_signature(which.endswith("factors")), \
            "simulate_paths_cuda"
    from sim.nets import cuda as nets_cuda

    return nets_cuda.train_models_cuda, _train_signature(which.split("-")[1]), \
        "train_models_cuda"


@needs_numba_cuda
@pytest.mark.parametrize("which", ["paths-dense", "paths-factors", "train-relu", "train-tanh",
                                   "clone"])
def test_kernel_compiles_to_sm90_ptx(monkeypatch, tmp_path, which):
    """Each kernel, with the @njit code it shares with the CPU, compiles to sm_90 PTX and
    assembles with ptxas with no register spills. With the cuda extra installed, a
    missing NVVM or ptxas is a failure, not a skip."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("compile_ptx needs the real CUDA target, not the simulator")
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    # Compiling a kernel that calls other jitted functions asks the driver for the
    # device's compute capability; there is no driver here, so stand in an sm_90.
    monkeypatch.setattr(dispatcher, "get_current_device",
                        lambda: SimpleNamespace(compute_capability=(9, 0)))
    kernel, signature, name = _kernel_and_signature(which)
    try:
        ptx, _ = cuda.compile_ptx(kernel, signature, cc=(9, 0))
    except Exception as exc:
        nvvm_missing = "NVVM" in str(exc) or "libnvvm" in str(exc).lower()
        if nvvm_missing and not _cuda_extra_installed():
            pytest.skip(f"NVVM not available and the cuda extra is not installed: {exc}")
        raise
    assert ".target sm_90" in ptx and name in ptx
    ptxas = _ptxas()
    if ptxas is None:
        if _cuda_extra_installed():
            pytest.fail(f"the cuda extra is installed but ptxas is missing ({PTXAS}, PATH): "
                        "the PTX cannot be checked")
        pytest.skip("ptxas not found and the cuda extra is not installed")
    src = tmp_path / "kernel.ptx"
    src.write_text(ptx)
    out = subprocess.run([ptxas, "-arch=sm_90", "-v", str(src), "-o", str(tmp_path / "k.cubin")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = out.stderr + out.stdout
    print(report[-600:])
    spills = [int(m) for m in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and max(spills) == 0


@needs_numba_cuda
def test_no_device_is_a_clear_error():
    """Without a GPU (and without the simulator), backend='cuda' says so in a
    RuntimeError and available() is False; with a device, both report it."""
    from numba import cuda

    ens = sim.wishart(4, 2, 1, seed=0)
    if cuda.is_available():
        assert sim_cuda.available()
        sim.simulate(ens, 0.1, 2, 3, 4, 0, backend="cuda")
        return
    assert not sim_cuda.available()
    with pytest.raises(RuntimeError, match="no CUDA device found"):
        sim.simulate(ens, 0.1, 2, 3, 4, 0, backend="cuda")


def test_one_kernel_interface():
    """Every simulation kernel takes the same input, ``kernel(*kernel_args(...))``: the
    serial and parallel path kernels and the grouped kernel run one and the same
    :data:`sim._kernels.Run` (the run state, the ensemble, the sampler) to the same
    log-norms (bitwise for the two compilations of the path kernel, to round-off for
    the grouped kernel's different summation order), and the CUDA kernel body has that
    signature too."""
    import inspect

    import numpy as np

    from sim import _kernels as K

    ens = sim.wishart(5, 3, 2, seed=0)
    cfg = SimulationConfig(eta=0.3, sampling=2, steps=40, paths=6, seed=3)
    runs = [kernel_args(ens, cfg) for _ in range(3)]
    assert all(isinstance(r.a, K.PathArgs) and isinstance(r.e, K.EnsembleArgs) for r in runs)
    K.simulate_paths_serial(*runs[0])
    K.simulate_paths_parallel(*runs[1])
    P, width = runs[2].a.IDX.shape
    K.simulate_grouped(*runs[2], K.GroupedWork(
        CNT=np.zeros(P, dtype=np.int64), SLOT=np.zeros((P, width), dtype=np.int64),
        ROWS=np.zeros(P * width, dtype=np.int64), OFF=np.zeros(ens.n + 2, dtype=np.int64),
        Z=np.empty((P * width, ens.d))))
    assert np.array_equal(runs[0].a.out_log, runs[1].a.out_log)
    np.testing.assert_allclose(runs[2].a.out_log, runs[0].a.out_log, rtol=0, atol=1e-10)
    assert list(inspect.signature(sim_cuda.simulate_paths_cuda).parameters) == ["a", "e", "s"]
