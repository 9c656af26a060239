"""Results folders: complete or absent.

A study writes into a temporary sibling folder and renames it into place only
after every file is written, so a crash never leaves a half-written result.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def config_hash(config: dict) -> str:
    """Short stable hash of a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def meta(wall_time: float, backend: str = "cpu", **extra) -> dict:
    """Versions, commit, wall time and backend of a run."""
    import numpy
    import scipy

    versions = {"python": sys.version.split()[0], "numpy": numpy.__version__,
                "scipy": scipy.__version__}
    for mod in ("numba", "sympy", "matplotlib"):
        if mod in sys.modules:
            versions[mod] = sys.modules[mod].__version__
    return {"versions": versions, "commit": _git_commit(), "platform": platform.platform(),
            "wall_time_s": round(wall_time, 3), "backend": backend,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}


def write_results(folder: str | os.PathLike, config: dict, fill: Callable[[Path], dict | None],
                  *, backend: str = "cpu") -> Path:
    """Create ``folder`` atomically.

    Parameters
    ----------
    folder : path
        Final location; replaced if it exists.
    config : dict
        Written as ``config.json``.
    fill : callable
        ``fill(tmpdir)`` writes the study's files into ``tmpdir`` and may return a
        dict of extra ``meta.json`` entries.
    backend : str
        Recorded in ``meta.json``.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True,
                                                    default=str))
        extra = fill(tmp) or {}
        m = meta(time.perf_counter() - start, backend, **extra)
        (tmp / "meta.json").write_text(json.dumps(m, indent=2, default=str))
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
