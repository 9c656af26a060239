"""``python -m sim.studies NAME [options]``: run the package study ``NAME`` with the
command line of ``scripts/NAME.py``; ``python -m sim.studies --help`` lists the studies."""

from sim.studies.cli import main_named

if __name__ == "__main__":
    main_named()
