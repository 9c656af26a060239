"""The scripts that are not package studies, loaded from their files.

``derive_conditions`` and ``reproduce`` import ``theory`` as well as ``sim`` (which never
imports ``theory``), so they stay in ``scripts/``, a folder that is not a package; every
other script runs a study of ``sim.studies``. A test loads a script from its file
under its bare name, as Python does when it runs a script beside it; ``reproduce``
imports its sibling ``derive_conditions`` by that name, so the sibling is loaded first.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SCRIPT_ONLY = ("derive_conditions", "reproduce")
"""The scripts that are not package studies (they use ``theory``)."""
SIBLINGS = {"reproduce": ("derive_conditions",)}
"""The scripts each script imports by bare name."""


def load_script(name: str):
    """The module of ``scripts/<name>.py`` (loaded once, registered as ``name``)."""
    if name in sys.modules:
        return sys.modules[name]
    for sibling in SIBLINGS.get(name, ()):
        load_script(sibling)
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def module_of(name: str):
    """What ``scripts/<name>.py`` runs: the module ``sim.studies.<name>``, or the script
    itself for :data:`SCRIPT_ONLY`."""
    if name in SCRIPT_ONLY:
        return load_script(name)
    return importlib.import_module(f"sim.studies.{name}")
