"""Numerical engine for linearized SGD at an interpolating minimum.

numpy, scipy and numba (numba.cuda optional); never sympy. The mathematics is in
``docs/theory.md``.

- :mod:`sim.sampling`: the :class:`Sampling` record and the batch factor ``gamma``;
- :mod:`sim.ensembles`: per-sample Hessians (dense or factored) and constructors;
- :mod:`sim.moments`: the exact second-moment map ``T`` applied matrix-free;
- :mod:`sim.stability`: ``rho(T)``, thresholds, per-notion verdicts;
- :mod:`sim.montecarlo`: Monte Carlo on CPU (parallel) or CUDA;
- :mod:`sim.cloning`: the moment Lyapunov function ``Lambda(q)`` by population dynamics;
- :mod:`sim.higher`: moments of every order in 1-D and the fourth-moment operator, exactly
  (the numeric twins of ``theory.higher``);
- :mod:`sim.estimates`: the statistics the simulators share (fits with a status);
- :mod:`sim.studies`: studies with hashed, resumable, atomic results folders (serial or dask);
- :mod:`sim.nets`, :mod:`sim.data`: small networks, their training and curvature; data sets;
- :mod:`sim.testing`: hypothesis strategies (needs the ``test`` extra).
"""

from sim import ensembles
from sim.cloning import MomentLyapunov, moment_lyapunov
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
from sim.estimates import Fit
from sim.moments import apply_T, second_moments
from sim.montecarlo import (
    LyapunovEstimate,
    SimulationConfig,
    SimulationResult,
    lyapunov_exponent,
    simulate,
)
from sim.sampling import SCHEMES, Sampling, batch_factor
from sim.stability import (
    ExactThreshold,
    SpectralRadius,
    StabilityReport,
    Thresholds,
    exact_threshold,
    report,
    spectral_radius,
    thresholds,
)

__all__ = [
    "Sampling", "SCHEMES", "batch_factor",
    "ensembles", "Ensemble", "from_hessians", "from_factors", "wishart", "rank_one",
    "commuting", "prescribed", "toy",
    "apply_T", "second_moments",
    "spectral_radius", "SpectralRadius", "thresholds", "Thresholds", "report",
    "StabilityReport", "exact_threshold", "ExactThreshold",
    "simulate", "SimulationConfig", "SimulationResult", "lyapunov_exponent",
    "LyapunovEstimate", "Fit", "moment_lyapunov", "MomentLyapunov",
]
