"""Table 1 of Wu, Ma & E: the sharpness of the minima GD finds, against 2/eta.
The study is :mod:`sim.studies.nn_sharpness`.

    python scripts/nn_sharpness.py [--quick | --full] [--dataset digits] [--out results]
"""

from sim.studies import main
from sim.studies.nn_sharpness import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
