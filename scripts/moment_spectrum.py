"""The moment Lyapunov spectrum Lambda(q) of linearized SGD, by cloning.
The study is :mod:`sim.studies.moment_spectrum`.

    python scripts/moment_spectrum.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.moment_spectrum import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
