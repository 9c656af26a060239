"""Benchmark: Monte Carlo of linearized SGD against the code a user would write.
The study is :mod:`sim.studies.bench_linear`.

    python scripts/bench_linear.py [--quick] [--out results]
"""

from sim.studies import main
from sim.studies.bench_linear import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
