"""The theorem on a network: nonlinear SGD leaves an exact minimum where linear stability
says it must. The study is :mod:`sim.studies.nn_stay`.

    python scripts/nn_stay.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.nn_stay import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
