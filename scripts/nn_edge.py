"""Beyond the paper: where do GD and SGD end relative to their edge of stability?
The study is :mod:`sim.studies.nn_edge`.

    python scripts/nn_edge.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.nn_edge import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
