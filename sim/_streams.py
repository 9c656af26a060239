"""Random streams and the batch sampler's arguments: the one place every simulator
(Monte Carlo, cloning, network training, the toy) gets them from.

- :func:`path_states`: ``paths`` xoroshiro128+ states from one integer seed;
- :func:`seeded_states`: one stream per seed (a model, or a path that must draw the
  same batches as the model trained with that seed);
- :data:`SamplerArgs`, :func:`sampler_args`: how a batch is drawn, as the kernels read
  it (:func:`sim._kernels.sample_batch`).

Imports nothing from the simulators.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from sim._validate import check_int, check_memory, check_seed
from sim.sampling import SCHEME_CODES, Sampling

SamplerArgs = namedtuple("SamplerArgs", ["scheme", "n", "B", "prob", "drop_last"])
"""How a batch is drawn, for the kernels: ``scheme`` (``SCHEME_CODES``), ``n`` samples,
batch size ``B``, mixture probability ``prob``, ``drop_last`` (reshuffling). Scalars
for one sampling; for many models at once (:func:`sim.nets.train_many`) every field but
``n`` is an array with one entry per model."""


def sampler_args(sampling: Sampling, n: int) -> SamplerArgs:
    """The :data:`SamplerArgs` of one checked :class:`Sampling` on ``n`` samples."""
    return SamplerArgs(SCHEME_CODES[sampling.scheme], int(n), int(sampling.B),
                       float(sampling.p) if sampling.p is not None else 0.0,
                       bool(sampling.drop_last))


def sampler_arrays(samplings, n: int) -> SamplerArgs:
    """The :data:`SamplerArgs` of one checked :class:`Sampling` per model (arrays)."""
    rows = [sampler_args(s, n) for s in samplings]
    return SamplerArgs(np.array([r.scheme for r in rows], dtype=np.int64), int(n),
                       np.array([r.B for r in rows], dtype=np.int64),
                       np.array([r.prob for r in rows]),
                       np.array([r.drop_last for r in rows]))


def path_states(seed: int, paths: int, *, memory_budget=None) -> np.ndarray:
    """Initial xoroshiro128+ states ``(paths, 2)`` derived from one integer seed by
    ``SeedSequence``; path ``p``'s stream does not depend on ``paths``' blocking.
    ``memory_budget``: bytes for the states (16 per path, twice while they are made);
    default half of physical memory, refused before allocating above it."""
    paths = check_int(paths, "paths", 1)
    check_memory(32.0 * paths, "paths", memory_budget, f"{paths} random streams")
    seq = np.random.SeedSequence(check_seed(seed))
    states = seq.generate_state(2 * paths, dtype=np.uint64).reshape(paths, 2)
    zero = (states[:, 0] == 0) & (states[:, 1] == 0)
    states[zero, 0] = np.uint64(0x9E3779B97F4A7C15)  # all-zero is the one bad state
    return states


def seeded_states(seeds) -> np.ndarray:
    """One stream per seed, ``(len(seeds), 2)``: row ``j`` is ``path_states(seeds[j], 1)``,
    the stream of a model trained with ``seeds[j]`` (:func:`sim.nets.train_many`)."""
    return np.concatenate([path_states(check_seed(s, "seeds"), 1) for s in seeds])


__all__ = ["SamplerArgs", "sampler_args", "sampler_arrays", "path_states", "seeded_states"]
