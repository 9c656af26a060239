"""Benchmark: the curvature of a PyTorch conv net against the peers users install.
The study is :mod:`sim.studies.bench_torch`.

    python scripts/bench_torch.py [--quick] [--out results]
"""

from sim.studies import main
from sim.studies.bench_torch import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
