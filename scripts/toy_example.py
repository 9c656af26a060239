"""The toy example: two minima of equal sharpness, one kept by GD and left by SGD.
The study is :mod:`sim.studies.toy_example`.

    python scripts/toy_example.py [--full] [--out results] [--quiet]
"""

from sim.studies import main
from sim.studies.toy_example import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
