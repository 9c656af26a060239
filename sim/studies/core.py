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
- ``files(config, records, folder)``: extra result files (optional).

:func:`run` writes ``<out>/<name>-<config hash>/`` with ``runs/<index>.json`` per task,
``data.csv``, ``config.json``, ``meta.json``, the figures and the summaries;
``summary.json`` is written last, so its presence marks a complete folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.studies import store
from sim.studies.config import config_hash, from_dict, to_dict, validate
from sim.studies.executors import run_dask, run_serial

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

    def folder(self, config, out: str | Path) -> Path:
        """``<out>/<name>-<config hash>``."""
        return Path(out) / f"{self.name}-{config_hash(config)}"


def task_seeds(seed: int, size: int) -> list[int]:
    """One integer seed per task from ``SeedSequence(seed).spawn(size)``."""
    return [int(c.generate_state(1, dtype=np.uint32)[0])
            for c in np.random.SeedSequence(seed).spawn(size)]


def run_path(folder: Path, index: int) -> Path:
    return folder / "runs" / f"{index:05d}.json"


def read_runs(folder: Path, size: int) -> list[dict | None]:
    """The record of every task in index order (``None`` where none is saved). Arrays of
    a record live in ``runs/<index>.npz`` beside its JSON, which is written after them."""
    out = []
    for i in range(size):
        path = run_path(folder, i)
        try:
            saved = json.loads(path.read_text())
            record = saved["record"]
            if saved.get("arrays"):
                with np.load(path.with_suffix(".npz")) as arrays:
                    record.update({k: arrays[k] for k in saved["arrays"]})
            out.append(record)
        except (FileNotFoundError, ValueError, KeyError, OSError):
            out.append(None)
    return out


def save_run(folder: Path, index: int, seed: int, record: dict, seconds: float) -> None:
    """Write one task's record: NumPy arrays to ``runs/<index>.npz``, the rest to
    ``runs/<index>.json`` (last, so its presence means the task is complete)."""
    arrays = {k: v for k, v in record.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in record.items() if k not in arrays}
    path = run_path(folder, index)
    if arrays:
        store.atomic_savez(path.with_suffix(".npz"), **arrays)
    store.write_json(path, {"index": index, "seed": seed, "seconds": seconds,
                            "arrays": sorted(arrays), "record": rest})


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
    start = time.perf_counter()
    folder = store.make_dir(study.folder(config, out))
    store.make_dir(folder / "runs")
    store.clean_temporaries(folder)
    store.write_json(folder / "config.json", to_dict(config))
    size = int(study.size(config))
    seeds = task_seeds(config.seed, size)
    done = read_runs(folder, size)
    todo = [i for i in range(size) if done[i] is None]

    def save(index, seed, record, seconds):
        save_run(folder, index, seed, record, seconds)

    if todo:
        runner = run_serial if executor == "serial" else run_dask
        info = runner(study, config, todo, seeds, save, workers=workers, scheduler=scheduler,
                      quiet=quiet)
    else:
        info = {"workers": 0}
    records = read_runs(folder, size)
    missing = [i for i, r in enumerate(records) if r is None]
    if missing:
        raise RuntimeError(f"tasks {missing[:10]} have no saved record")
    finish(study, config, folder, records, replot=replot)
    store.write_json(folder / "meta.json", store.meta(
        wall_time_s=round(time.perf_counter() - start, 3), executor=executor,
        workers=info.get("workers"), scheduler=scheduler, tasks=size, tasks_run=len(todo),
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
    records = read_runs(folder, int(study.size(config)))
    return config, records, store.read_csv(folder / "data.csv")


def read_summary(folder: str | Path) -> dict:
    """``summary.json`` of a complete results folder."""
    return json.loads((Path(folder) / "summary.json").read_text())


__all__ = ["Study", "run", "load", "read_summary", "task_seeds", "read_runs", "EXECUTORS"]
