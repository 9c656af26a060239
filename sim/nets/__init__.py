"""Small fully connected networks, their training and the curvature of their minima.

- :class:`MLP`: the network record, flat parameters laid out like PyTorch's Linear
  layers, exact forward/reverse/forward-over-reverse derivatives;
- :func:`train`, :func:`train_many`: GD/SGD/momentum on the linear engine's batch
  sampler, many models at once on the CPU or the GPU;
- :func:`curvature`: sharpness and non-uniformity by Lanczos; :func:`to_ensemble`: the
  per-sample Hessians of a minimum as a :class:`sim.Ensemble` (reduced exactly to
  ``range(H)``), ready for :func:`sim.thresholds` and :func:`sim.simulate`;
- :func:`polish`: Gauss-Newton steps from a trained point to an exact zero-loss minimum.

The wing depends on the engine (:mod:`sim.ensembles`, :mod:`sim.sampling`,
:mod:`sim.montecarlo`), never the other way round. See ``docs/theory.md``, section 7.
"""

from sim.nets.curvature import (
    Curvature,
    batch_sharpness,
    curvature,
    residual_gap,
    to_ensemble,
)
from sim.nets.mlp import MLP
from sim.nets.model import Model, check_model
from sim.nets.polish import Polish, polish
from sim.nets.training import ManyResult, TrainConfig, TrainResult, train, train_many

__all__ = ["MLP", "batch_sharpness", "residual_gap", "curvature", "Curvature", "to_ensemble",
           "train", "train_many", "TrainConfig", "TrainResult", "ManyResult", "polish",
           "Polish", "Model", "check_model"]
