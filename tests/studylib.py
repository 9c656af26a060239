"""A small study for the tests of sim.studies: each task draws from its seed, may
sleep (to be interrupted) and may kill the dask worker running it once (to be retried)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.studies import Study, load, option


@dataclass(frozen=True)
class Config:
    tasks: int = option(12, "number of tasks", low=1)
    draws: int = option(1000, "normal draws per task", low=1)
    sleep: float = option(0.0, "seconds each task sleeps", low=0.0)
    kill_once: str = option("", "marker file: the first task to find it absent kills its "
                                "dask worker")
    seed: int = option(0, "study seed", low=0)


def task(cfg: Config, index: int, seed: int) -> dict:
    if cfg.kill_once:
        try:
            from distributed import get_worker

            get_worker()
            in_worker = True
        except (ImportError, ValueError):
            in_worker = False
        marker = Path(cfg.kill_once)
        if in_worker and not marker.exists():
            marker.write_text(str(index))
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(cfg.sleep)
    x = np.random.default_rng(seed).standard_normal(cfg.draws)
    return {"index": index, "seed": seed, "mean": float(x.mean()), "std": float(x.std())}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return records


def summary(cfg: Config, records: list[dict], folder: Path):
    means = [r["mean"] for r in records]
    return f"# test study\n\nmean of means {np.mean(means)!r}\n", {
        "mean_of_means": float(np.mean(means)), "figures": []}


def plot(folder: Path):
    load(STUDY, folder)  # plots read saved files only
    return []


STUDY = Study(name="teststudy", config=Config, size=lambda cfg: cfg.tasks, task=task,
              table=table, summary=summary, plot=plot)


if __name__ == "__main__":
    from sim.studies import main

    main(STUDY)
