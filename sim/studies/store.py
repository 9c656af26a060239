"""Results folders: every file complete or absent, readable by the group.

A file is written to a temporary name beside it and renamed into place
(:func:`atomic_write`), so a crash never leaves half a file under a final name. The
temporary names record host and process, so :func:`clean_temporaries` removes what a
dead run left behind without touching the files of a run still going on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

FILE_MODE = 0o644
DIR_MODE = 0o755
TMP_MARK = ".tmp-"
STALE_SECONDS = 24 * 3600
"""Temporary files of another host are removed once older than this."""


def make_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p`` with mode 0755 whatever the umask (group and others may read): every
    folder it creates, parents included, gets :data:`DIR_MODE`, and so does ``path`` where
    it exists already and is this user's; folders above that it did not create keep
    their mode."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.is_dir() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another run made it first (or it is a file: raise)
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, DIR_MODE)
    if path not in missing and path.stat().st_uid == os.geteuid():
        os.chmod(path, DIR_MODE)
    return path


def check_out(path: str | os.PathLike, name: str = "out") -> Path:
    """Check, writing nothing, that the folder ``path`` exists or can be made, and that
    files can be written in it: its nearest existing ancestor must be a folder this user
    may write and enter. ``ValueError`` naming ``name`` otherwise (a file in the way,
    a read-only or unreachable folder)."""
    path = Path(path)
    base = path
    while not os.path.lexists(base) and base.parent != base:
        base = base.parent  # lexists is False where a parent cannot be entered, too
    if not base.is_dir():
        what = "is a file" if base.is_file() else "is not a folder"
        if base == path:
            raise ValueError(f"{name}: {path} {what}, not a folder")
        raise ValueError(f"{name}: cannot make {path}: {base} {what}")
    if not os.access(base, os.W_OK | os.X_OK):
        if base == path:
            raise ValueError(f"{name}: cannot write in {path}: permission denied")
        raise ValueError(f"{name}: cannot make {path}: {base} is not writable "
                         "(permission denied)")
    return path


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}-"
                          f"{uuid.uuid4().hex[:8]}")


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and a rename; mode 0644."""
    raw = data.encode() if isinstance(data, str) else data

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_save(path, write)


def atomic_save(path: Path, save) -> Path:
    """Let ``save(tmp_path)`` write a file (for example ``savefig`` with an explicit
    ``format``), then rename it into place."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        save(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_savez(path: str | os.PathLike, **arrays) -> Path:
    """``numpy.savez`` of ``arrays`` to ``path``, through :func:`atomic_save`."""
    import numpy as np

    def save(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_save(path, save)


def write_json(path: Path, obj) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=_json) + "\n")


def canonical(obj) -> str:
    """The one JSON text of ``obj`` that checksums are taken over: sorted keys, no
    whitespace, NumPy scalars and arrays as plain values. Text parsed back from a
    :func:`write_json` file gives the same canonical text as the object written."""
    return json.dumps(json.loads(json.dumps(obj, default=_json)), sort_keys=True,
                      separators=(",", ":"))


def digest(text: str | bytes) -> str:
    """``sha256:<hex>`` of ``text``."""
    return "sha256:" + hashlib.sha256(text.encode() if isinstance(text, str) else
                                      text).hexdigest()


def array_digest(array) -> str:
    """:func:`digest` of an array's dtype, shape and values (not of the ``.npz`` bytes,
    which hold a time stamp): equal for equal arrays however they were saved."""
    import numpy as np

    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def _json(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    names = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, fieldnames=names)
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    return atomic_write(path, buf.getvalue())


def _cell(v):
    if isinstance(v, float):  # np.float64 too: its repr is "np.float64(...)" in NumPy 2
        return repr(float(v))
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v), default=_json)
    return v


def _parse(value: str):
    if value in ("True", "False"):
        return value == "True"
    if value == "":
        return None
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    if value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`, numbers and booleans parsed."""
    with open(path, newline="") as fh:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temporaries(folder: Path) -> int:
    """Remove temporary files that no live run owns: this host's whose process is gone,
    other hosts' older than :data:`STALE_SECONDS`. Returns how many were removed."""
    removed = 0
    host = socket.gethostname()
    for path in list(folder.glob(f".*{TMP_MARK}*")) + list(folder.glob(f"*/.*{TMP_MARK}*")):
        tail = path.name.split(TMP_MARK, 1)[1]
        owner, _, rest = tail.rpartition("-")  # host-pid, random
        host_part, _, pid = owner.rpartition("-")
        try:
            pid_num = int(pid)
        except ValueError:
            continue
        stale = (host_part == host and not _alive(pid_num)) or (
            host_part != host and time.time() - path.stat().st_mtime > STALE_SECONDS)
        if stale:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict:
    import numba
    import numpy
    import scipy

    out = {"python": sys.version.split()[0], "numpy": numpy.__version__,
           "scipy": scipy.__version__, "numba": numba.__version__}
    for mod in ("sympy", "matplotlib", "dask", "distributed", "sklearn"):
        if mod in sys.modules:
            out[mod] = getattr(sys.modules[mod], "__version__", "?")
    return out


def meta(**extra) -> dict:
    """Versions, commit, platform and time of a run, plus ``extra``."""
    return {"versions": versions(), "commit": git_commit(), "platform": platform.platform(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}


__all__ = ["atomic_write", "atomic_save", "atomic_savez", "write_json", "write_csv", "read_csv",
           "make_dir", "check_out", "canonical", "digest", "array_digest", "clean_temporaries",
           "meta"]
