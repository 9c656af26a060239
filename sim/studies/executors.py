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

import importlib.util
import os
import sys

from tqdm import tqdm


def run_serial(study, config, todo, seeds, save, *, workers=None, scheduler=None,
               quiet=False) -> dict:
    from sim.studies.core import _execute

    for i in tqdm(todo, disable=quiet, desc=study.name):
        save(*_execute(study, config, i, seeds[i]))
    return {"workers": 1}


def _pickle_by_value(obj) -> None:
    """Functions and classes defined in a script (``__main__`` or a module loaded from a
    file path) are not importable on the workers: send them by value."""
    import cloudpickle

    for item in (obj.config, obj.size, obj.task, obj.table, obj.summary):
        name = getattr(item, "__module__", None)
        if not name or name == "__main__" or name not in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            cloudpickle.register_pickle_by_value(sys.modules[name])


def run_dask(study, config, todo, seeds, save, *, workers=None, scheduler=None,
             quiet=False) -> dict:
    from dask.distributed import Client, LocalCluster, as_completed

    from sim.studies.core import _execute

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
        futures = [client.submit(_execute, study, config, i, seeds[i], pure=False,
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


__all__ = ["run_serial", "run_dask"]
