"""Hypothesis profiles: one place.

- ``ci`` (chosen when ``CI`` is set): derandomized, so CI is reproducible.
- ``dev`` (default elsewhere): derandomized too, same example counts: the statistical
  checks hold at 4-5 standard errors, and a random draw must not make them flake
  locally.
- ``thorough`` (``HYPOTHESIS_PROFILE=thorough``): many more examples, random.

``deadline=None`` everywhere: numba compiles on first call.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=25, **_common)
settings.register_profile("dev", derandomize=True, max_examples=25, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
