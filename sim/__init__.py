"""Numerical engine for linearized SGD at an interpolating minimum.

numpy, scipy and numba (numba.cuda optional); never sympy.

- :mod:`sim.ensembles`: per-sample Hessians (dense or factored) and constructors;
- :mod:`sim.moments`: the exact second-moment map ``T`` applied matrix-free;
- :mod:`sim.stability`: ``rho(T)``, thresholds, per-notion verdicts;
- :mod:`sim.linear`: Monte Carlo on CPU (parallel) or CUDA;
- :mod:`sim.results`: complete-or-absent results folders.
"""

from sim import ensembles
from sim.ensembles import (
    Ensemble,
    commuting,
    from_factors,
    from_hessians,
    prescribed,
    rank_one,
    toy,
    wishart,
)
from sim.linear import LyapunovEstimate, SimulationResult, lyapunov_exponent, simulate
from sim.moments import apply_T, batch_factor, second_moments
from sim.stability import (
    SpectralRadius,
    StabilityReport,
    Thresholds,
    report,
    spectral_radius,
    thresholds,
)

__all__ = [
    "ensembles", "Ensemble", "from_hessians", "from_factors", "wishart", "rank_one",
    "commuting", "prescribed", "toy",
    "apply_T", "second_moments", "batch_factor",
    "spectral_radius", "SpectralRadius", "thresholds", "Thresholds", "report",
    "StabilityReport",
    "simulate", "SimulationResult", "lyapunov_exponent", "LyapunovEstimate",
]
