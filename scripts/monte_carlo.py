"""Stability map of linearized SGD over (B, eta): exact theory against Monte Carlo.
The study is :mod:`sim.studies.monte_carlo`.

    python scripts/monte_carlo.py --kind wishart --d 4 --n 16 --r 2 --B 1 2 4 8 16
"""

from sim.studies import main
from sim.studies.monte_carlo import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
