"""Studies: grids of tasks with hashed, resumable, atomic results folders, run serially
or on any dask cluster, with a command line generated from the config record.

A study is a config record (fields declared with :func:`option`), a task function, an
aggregation into a table, a summary and plots that read the saved files;
``sim.studies.main(STUDY)`` is its whole command line. See :mod:`sim.studies.core`. The
package's studies are its modules listed in :data:`sim.studies.cli.STUDIES`; each runs as
``python -m sim.studies NAME`` or ``python scripts/NAME.py``.
"""

from sim.studies.cli import main, parse, parser
from sim.studies.config import config_hash, option, preset, to_dict, validate
from sim.studies.core import Study, load, read_runs, read_summary, run, task_seeds
from sim.studies.store import atomic_write, read_csv, write_csv, write_json

__all__ = ["Study", "option", "run", "main", "parse", "parser", "load", "read_summary",
           "read_runs", "preset", "validate", "config_hash", "to_dict", "task_seeds",
           "atomic_write", "write_json", "write_csv", "read_csv"]
