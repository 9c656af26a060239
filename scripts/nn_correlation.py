"""Figure 4 of Wu, Ma & E: across trained models, non-uniformity grows with sharpness.
The study is :mod:`sim.studies.nn_correlation`.

    python scripts/nn_correlation.py [--quick | --full] [--executor dask --workers 2]
"""

from sim.studies import main
from sim.studies.nn_correlation import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
