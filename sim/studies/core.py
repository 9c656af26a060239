"""The study record and its runner: a grid of tasks, one atomic file per task, resume
after a crash, the same numbers whatever the executor.

A :class:`Study` is

- ``config``: a frozen dataclass whose fields are declared with
  :func:`sim.studies.option`;
- ``size(config)``: the number of tasks;
- ``task(config, index, seed)``: one task's record, a dict of JSON-serialisable values
  and NumPy arrays (saved beside it as ``.npz``) (the
  seed is ``SeedSequence(config.seed).spawn(size)[index]`` as an integer, so every
  executor gives every task the same stream);
- ``table(config, records)``: the rows of ``data.csv``;
- ``summary(config, records, folder)``: Markdown and a JSON-serialisable dict (written
  as ``summary.md`` and ``summary.json``), reading saved results only;
- ``plot(folder)``: figures drawn from the saved files only (optional);
- ``files(config, records, folder)``: extra result files (optional);
- ``check(config)``: checks that need more than the config's own values, for example
  that its data exist and hold ``n`` samples (optional); raises ``ValueError`` naming
  the field, and runs before anything is written.

:func:`run` writes ``<out>/<name>-<config hash>/`` with ``runs/<index>.json`` per task,
``data.csv``, ``config.json``, ``meta.json``, the figures and the summaries;
``summary.json`` is written last, so its presence marks a complete folder.

A run file is used only if it is the file of the task that reads it: it records the
task's key (study, whole config hash, index, seed) and a checksum of its content and of
each array of its ``.npz``. A file that fails either check (edited, copied from another
task or folder, truncated, from an older version) is reported on stderr, counted in
``meta.json`` under ``rerun`` and its task runs again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.studies import store
from sim.studies.config import config_hash, from_dict, to_dict, validate
from sim.studies.executors import check_scheduler, run_dask, run_serial

EXECUTORS = ("serial", "dask")


@dataclass(frozen=True)
class Study:
    """A study: see the module docstring for what each function does."""

    name: str
    config: type
    size: Callable
    task: Callable
    table: Callable
    summary: Callable
    plot: Callable | None = None
    files: Callable | None = None
    serial_only: bool = False
    backend: Callable | None = None
    check: Callable | None = None

    def folder(self, config, out: str | Path) -> Path:
        """``<out>/<name>-<config hash>``."""
        return Path(out) / f"{self.name}-{config_hash(config)}"


def task_seeds(seed: int, size: int) -> list[int]:
    """One integer seed per task from ``SeedSequence(seed).spawn(size)``."""
    return [int(c.generate_state(1, dtype=np.uint32)[0])
            for c in np.random.SeedSequence(seed).spawn(size)]


def run_path(folder: Path, index: int) -> Path:
    return folder / "runs" / f"{index:05d}.json"


def task_key(study: Study, config, index: int, seed: int) -> dict:
    """What a run file must record to be the file of task ``index``: the study, the whole
    hash of its config, the index and the task's seed."""
    return {"study": study.name, "config": config_hash(config, 64), "index": int(index),
            "seed": int(seed)}


def _mismatch(saved: dict, key: dict) -> str:
    wrong = [k for k in key if saved.get(k) != key[k]]
    if not wrong:
        return f"its task key has fields the task's has not ({sorted(set(saved) - set(key))})"
    if "config" in wrong or "study" in wrong:
        return "its task key names another study or config (a file from another folder)"
    return "its task key is that of another task (" + "; ".join(
        f"{k} {saved.get(k)!r}, not {key[k]!r}" for k in wrong) + ")"


def read_run(folder: Path, index: int, key: dict | None = None) -> tuple[dict | None,
                                                                         str | None]:
    """``(record, None)`` where ``runs/<index>.json`` is the complete, unchanged file of
    the task whose key is ``key``; ``(None, None)`` where there is no file; ``(None,
    reason)`` where there is one that must not be used. Without ``key`` the file need
    only be unchanged and of task ``index``."""
    path = run_path(folder, index)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc})"
    try:
        saved = json.loads(text)
    except ValueError:
        return None, "not valid JSON (truncated or overwritten)"
    if not isinstance(saved, dict) or not isinstance(saved.get("record"), dict):
        return None, "no record in it"
    if not isinstance(saved.get("key"), dict) or not isinstance(saved.get("checksum"), str):
        return None, "no task key or checksum (written by an older version, or edited)"
    if key is not None and saved["key"] != key:
        return None, _mismatch(saved["key"], key)
    if key is None and saved["key"].get("index") != index:
        return None, _mismatch(saved["key"], {"index": index})
    body = {k: v for k, v in saved.items() if k != "checksum"}
    if store.digest(store.canonical(body)) != saved["checksum"]:
        return None, "checksum mismatch (the file was changed after it was written)"
    record = saved["record"]
    arrays = saved.get("arrays") or {}
    if not isinstance(arrays, dict):
        return None, "no array checksums"
    if arrays:
        try:
            with np.load(path.with_suffix(".npz")) as npz:
                loaded = {k: npz[k] for k in arrays}
        except FileNotFoundError:
            return None, f"its arrays file {path.with_suffix('.npz').name} is missing"
        except (OSError, ValueError, KeyError, EOFError) as exc:
            return None, f"its arrays file is unreadable or incomplete ({exc})"
        changed = [k for k, a in loaded.items() if store.array_digest(a) != arrays[k]]
        if changed:
            return None, f"checksum mismatch of array(s) {', '.join(changed)} in the .npz"
        record.update(loaded)
    return record, None


def read_runs(folder: Path, size: int, keys: list[dict] | None = None,
              reasons: dict | None = None) -> list[dict | None]:
    """The record of every task in index order (``None`` where none is saved, or where
    the saved file is not the unchanged file of that task: see :func:`read_run`; the
    reason goes into ``reasons[index]`` when a dict is given). ``keys``: each task's
    :func:`task_key` (without them a file is checked against its index only). Arrays
    of a record live in ``runs/<index>.npz`` beside its JSON, which is written after
    them."""
    out = []
    for i in range(size):
        record, reason = read_run(folder, i, None if keys is None else keys[i])
        if reason is not None and reasons is not None:
            reasons[i] = reason
        out.append(record)
    return out


def save_run(folder: Path, index: int, seed: int, record: dict, seconds: float,
             key: dict) -> None:
    """Write one task's record: NumPy arrays to ``runs/<index>.npz``, the rest to
    ``runs/<index>.json`` (last, so its presence means the task is complete) with the
    task's ``key``, each array's checksum and a checksum of the whole file."""
    arrays = {k: v for k, v in record.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in record.items() if k not in arrays}
    path = run_path(folder, index)
    if arrays:
        store.atomic_savez(path.with_suffix(".npz"), **arrays)
    body = json.loads(store.canonical({
        "index": index, "seed": seed, "seconds": seconds, "key": key,
        "arrays": {k: store.array_digest(v) for k, v in sorted(arrays.items())},
        "record": rest}))
    store.write_json(path, {**body, "checksum": store.digest(store.canonical(body))})


def check_study(study: Study, config, out: str | Path, name: str = "out") -> None:
    """What can be checked of a run of ``study`` with ``config`` into ``out`` before
    anything is written: the results folder can be made and written (``ValueError``
    naming ``name`` otherwise), and ``study.check(config)`` passes."""
    folder = study.folder(config, out)
    for path in (out, folder, folder / "runs"):
        store.check_out(path, name)
    if study.check is not None:
        study.check(config)


def run(study: Study, config, *, out: str | Path = "results", executor: str = "serial",
        workers: int | None = None, scheduler: str | None = None, quiet: bool = False,
        replot: bool = True) -> Path:
    """Run (or resume) ``study`` with ``config`` and write its results folder.

    Parameters
    ----------
    study : Study
    config
        A record of ``study.config``.
    out : path
        Parent of the results folder.
    executor : {"serial", "dask"}
        ``dask``: tasks go to a ``dask.distributed`` cluster, a new ``LocalCluster`` of
        ``workers`` processes or the scheduler at ``scheduler``.
    workers : int, optional
        Worker processes of the local cluster (default: the number of CPUs).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); implies ``dask``.
    quiet : bool
        No progress bars.

    Returns
    -------
    Path
        The results folder. Rerunning the same config skips finished tasks.
    """
    config = validate(config)
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if scheduler is not None:
        executor = "dask"
    if study.serial_only and executor != "serial":
        raise ValueError(f"study {study.name!r} runs serially only (timings)")
    check_study(study, config, out)
    if scheduler is not None:
        check_scheduler(scheduler)
    start = time.perf_counter()
    folder = store.make_dir(study.folder(config, out))
    store.make_dir(folder / "runs")
    store.clean_temporaries(folder)
    store.write_json(folder / "config.json", to_dict(config))
    size = int(study.size(config))
    seeds = task_seeds(config.seed, size)
    keys = [task_key(study, config, i, seeds[i]) for i in range(size)]
    rerun: dict[int, str] = {}
    done = read_runs(folder, size, keys, rerun)
    for i, reason in rerun.items():
        print(f"{study.name}: {run_path(folder, i)}: {reason}; task {i} runs again",
              file=sys.stderr)
    todo = [i for i in range(size) if done[i] is None]

    def save(index, seed, record, seconds):
        save_run(folder, index, seed, record, seconds, keys[index])

    if todo:
        runner = run_serial if executor == "serial" else run_dask
        info = runner(study, config, todo, seeds, save, workers=workers, scheduler=scheduler,
                      quiet=quiet)
    else:
        info = {"workers": 0}
    bad: dict[int, str] = {}
    records = read_runs(folder, size, keys, bad)
    missing = [i for i, r in enumerate(records) if r is None]
    if missing:
        raise RuntimeError(f"tasks {missing[:10]} have no valid saved record "
                           f"({'; '.join(f'{i}: {bad[i]}' for i in missing[:3] if i in bad)})")
    finish(study, config, folder, records, replot=replot)
    store.write_json(folder / "meta.json", store.meta(
        wall_time_s=round(time.perf_counter() - start, 3), executor=executor,
        workers=info.get("workers"), scheduler=scheduler, tasks=size, tasks_run=len(todo),
        rerun={str(i): rerun[i] for i in sorted(rerun)},
        backend=study.backend(config) if study.backend else "cpu"))
    summary_md, summary = study.summary(config, records, folder)
    store.atomic_write(folder / "summary.md", summary_md)
    store.write_json(folder / "summary.json", {"study": study.name, "config": to_dict(config),
                                               **summary})
    return folder


def finish(study: Study, config, folder: Path, records: list[dict], replot: bool = True):
    """Write the table, extra files and figures from saved records."""
    store.write_csv(folder / "data.csv", study.table(config, records))
    if study.files is not None:
        study.files(config, records, folder)
    if replot and study.plot is not None:
        study.plot(folder)


def load(study: Study, folder: str | Path):
    """``(config, records, rows)`` of a results folder, read from its files."""
    folder = Path(folder)
    config = from_dict(study.config, json.loads((folder / "config.json").read_text()))
    size = int(study.size(config))
    seeds = task_seeds(config.seed, size)
    records = read_runs(folder, size, [task_key(study, config, i, seeds[i])
                                       for i in range(size)])
    return config, records, store.read_csv(folder / "data.csv")


def read_summary(folder: str | Path) -> dict:
    """``summary.json`` of a complete results folder."""
    return json.loads((Path(folder) / "summary.json").read_text())


__all__ = ["Study", "run", "load", "read_summary", "task_seeds", "read_runs", "read_run",
           "task_key", "check_study", "EXECUTORS"]
