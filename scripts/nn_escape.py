"""Figure 1 of Wu, Ma & E: SGD escapes the minimum GD found, and lands somewhere else.
The study is :mod:`sim.studies.nn_escape`.

    python scripts/nn_escape.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.nn_escape import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
