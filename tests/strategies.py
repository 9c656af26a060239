"""The test suite's hypothesis strategies: they live in :mod:`sim.testing` so users
can import them too; this module re-exports them for the tests."""

from sim.testing import *  # noqa: F403
from sim.testing import __all__  # noqa: F401
