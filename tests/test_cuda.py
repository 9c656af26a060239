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

ROOT = Path(__file__).resolve().parents[1]
PTXAS = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "ptxas"


def _has_numba_cuda():
    try:
        from numba import cuda  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = pytest.mark.cuda
needs_numba_cuda = pytest.mark.skipif(not _has_numba_cuda(),
                                      reason="numba-cuda not installed (pip install -e '.[cuda]')")


@needs_numba_cuda
def test_simulator_matches_cpu():
    """Under NUMBA_ENABLE_CUDASIM=1 the CUDA kernel equals the CPU kernel path by path
    (tests/cuda_sim/check_cuda_vs_cpu.py, in its own process)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "cuda_sim" / "check_cuda_vs_cpu.py")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def _kernel_signature(factors: bool):
    import sim
    from sim import cuda as sim_cuda
    from sim.linear import _kernel_arrays, _validate

    ens = sim.wishart(6, 3, 2, seed=0, factors=factors)
    cfg = _validate(ens, 0.1, 2, 10, 8, 0, "reshuffle", None, "cuda", "auto", 1, None, 1e100)
    arrays = _kernel_arrays(ens, cfg, None)
    return tuple(numba.typeof(arrays[k]) for k in sim_cuda.ARG_ORDER)


@needs_numba_cuda
@pytest.mark.parametrize("factors", [False, True])
def test_kernel_compiles_to_sm90_ptx(monkeypatch, tmp_path, factors):
    """The kernel, with the @njit step it shares with the CPU, compiles to sm_90 PTX; where
    the CUDA toolkit's ptxas exists, it assembles with no register spills."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("compile_ptx needs the real CUDA target, not the simulator")
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    from sim import cuda as sim_cuda

    # Compiling a kernel that calls other jitted functions asks the driver for the
    # device's compute capability; there is no driver here, so stand in an sm_90.
    monkeypatch.setattr(dispatcher, "get_current_device",
                        lambda: SimpleNamespace(compute_capability=(9, 0)))
    try:
        ptx, _ = cuda.compile_ptx(sim_cuda.simulate_paths_cuda, _kernel_signature(factors),
                                  cc=(9, 0))
    except Exception as exc:  # NVVM missing is an installation problem, not a code bug
        if "NVVM" in str(exc) or "libnvvm" in str(exc).lower():
            pytest.skip(f"NVVM not available: {exc}")
        raise
    assert ".target sm_90" in ptx and "simulate_paths_cuda" in ptx
    if not PTXAS.exists() and shutil.which("ptxas") is None:
        print(f"ptxas not found at {PTXAS}: PTX generated but not assembled")
        return
    ptxas = str(PTXAS) if PTXAS.exists() else shutil.which("ptxas")
    src = tmp_path / "kernel.ptx"
    src.write_text(ptx)
    out = subprocess.run([ptxas, "-arch=sm_90", "-v", str(src), "-o", str(tmp_path / "k.cubin")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = out.stderr + out.stdout
    print(report[-600:])
    spills = [int(m) for m in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and max(spills) == 0
