"""Executors of a study's tasks: serially in this process, or on a ``dask.distributed``
cluster (a new ``LocalCluster`` of worker processes, or any running scheduler: a
``dask-scheduler``, ``dask-jobqueue``, Kubernetes).

Either way the driver writes each finished task's file as soon as its result arrives,
so a crash loses only the tasks in flight. On a cluster, a task whose worker dies is
rerun by the scheduler on another worker; its seed is fixed by its index, so the
result is the same. numba kernels are compiled with ``cache=True``: each worker
process loads them from the on-disk cache instead of compiling again.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm


def execute(study, config, index: int, seed: int):
    """Run one task (on any worker): ``(index, seed, record, seconds)``."""
    start = time.perf_counter()
    record = study.task(config, index, seed)
    return index, seed, record, time.perf_counter() - start


def run_serial(study, config, todo, seeds, save, *, workers=None, scheduler=None,
               quiet=False) -> dict:
    for i in tqdm(todo, disable=quiet, desc=study.name):
        save(*execute(study, config, i, seeds[i]))
    return {"workers": 1}


def _pickle_by_value(study) -> None:
    """A study defined outside the installed packages (a script, a test module) may not
    be importable on the workers, whose ``sys.path`` is their own: send its module by
    value (``__main__`` always goes by value)."""
    import cloudpickle

    for item in (study.config, study.size, study.task, study.table, study.summary):
        name = getattr(item, "__module__", None) or "__main__"
        if name == "__main__" or name.split(".")[0] in ("sim", "theory"):
            continue
        if name in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[name])


def run_dask(study, config, todo, seeds, save, *, workers=None, scheduler=None,
             quiet=False) -> dict:
    from dask.distributed import Client, LocalCluster, as_completed

    _pickle_by_value(study)
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        n_workers = len(client.scheduler_info().get("workers", {}))
        futures = [client.submit(execute, study, config, i, seeds[i], pure=False,
                                 key=f"{study.name}-{i}-{os.getpid()}") for i in todo]
        bar = tqdm(total=len(futures), disable=quiet, desc=f"{study.name} (dask)")
        for fut in as_completed(futures):
            save(*fut.result())
            bar.update()
            fut.release()
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return {"workers": n_workers}


__all__ = ["execute", "run_serial", "run_dask"]
