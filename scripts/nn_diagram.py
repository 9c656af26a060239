"""Figure 3 of Wu, Ma & E: SGD minima on the (a, s) plane, each with its exact threshold.
The study is :mod:`sim.studies.nn_diagram`.

    python scripts/nn_diagram.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.nn_diagram import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
