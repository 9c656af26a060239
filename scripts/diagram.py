"""The sharpness/non-uniformity diagram (Wu, Ma & E, figure 2), with exact verdicts.
The study is :mod:`sim.studies.diagram`.

    python scripts/diagram.py [--full] [--out results] [--quiet]
"""

from sim.studies import main
from sim.studies.diagram import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
