"""A convolutional net through TorchModel: Figure 3 and the stay/leave transition at its
minima. The study is :mod:`sim.studies.nn_conv` (needs ``pip install -e ".[torch]"``).

    python scripts/nn_conv.py [--quick | --full] [--out results]
"""

from sim.studies import main
from sim.studies.nn_conv import STUDY

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
