"""Hypothesis profiles: one place.

- ``ci`` (chosen when ``CI`` is set): derandomized, so CI is reproducible.
- ``dev`` (default elsewhere): derandomized too, same example counts: the statistical
  checks hold at 4-5 standard errors, and a random draw must not make them flake
  locally.
- ``thorough`` (``HYPOTHESIS_PROFILE=thorough``): many more examples, random.

``deadline=None`` everywhere: numba compiles on first call.

Statistical tolerances, and why they are wide enough (Bonferroni over the comparisons
a test makes; Gaussian tails of the estimators, whose errors come from many independent
paths):

- ``k`` standard errors, two-sided, fail by chance with probability ``2 Phi(-k)``:
  6.3e-5 at 4, 5.7e-7 at 5.
- A Monte Carlo curve compared at every recorded step (``tests/test_monte_carlo.py``,
  ``test_prop_bounded_vs_growing.py``: up to 30 steps x 25 examples = 750 comparisons,
  strongly correlated along a path) at 5 SE: family-wise error at most
  750 x 5.7e-7 = 4.3e-4.
- Cloning checks at 4 SE plus the bias bound (``tests/test_cloning.py``: about 10
  estimates a test): at most 6.3e-4 per test.
- The network's stay/leave counts (``tests/test_nn_stay.py``): two binomial checks per
  example at the 1e-4 and 1 - 1e-4 quantiles, 5 examples: at most 2e-3.
- Single comparisons (a drift, an exit probability) use 5 SE: 5.7e-7.

With the profiles derandomized these probabilities are spent once, when a test is
written; they say how unlikely it was that a correct implementation fails it.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=25, **_common)
settings.register_profile("dev", derandomize=True, max_examples=25, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
