"""Benchmark: sim.nets against the code a user would otherwise write, side by side.
The study is :mod:`sim.studies.bench_mlp`.

    python scripts/bench_mlp.py [--quick] [--out results]
"""

from sim.studies import main
from sim.studies.bench_mlp import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
