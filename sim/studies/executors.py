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
import socket
import sys
import time

from tqdm import tqdm

SCHEDULER_TIMEOUT = 5.0
"""Seconds :func:`check_scheduler` waits for a scheduler to accept a connection, before
anything is written: a running scheduler accepts within milliseconds on a network and
well under a second across continents, while dask's own connect timeout (30 s, then
retries) would let a wrong address cost half a minute after the results folder exists."""
DEFAULT_PORT = 8786
"""dask's scheduler port, which an address without one means."""
TCP_SCHEMES = ("tcp", "tls", "ws", "wss")
"""Protocols of addresses ``scheme://host:port`` that run over TCP (probed by a plain
connection); another (``ucx``, ``inproc``) is probed by dask's own ``connect``."""


def _host_port(address: str, location: str, name: str) -> tuple[str, int]:
    location = location.rstrip("/")
    if location.startswith("["):  # [IPv6]:port
        host, _, rest = location[1:].partition("]")
        port = rest.removeprefix(":")
    elif location.count(":") > 1:  # a bare IPv6 address: no port
        host, port = location, ""
    else:
        host, _, port = location.partition(":")
    if not host:
        raise ValueError(f"{name}: no host in {address!r} (expected tcp://HOST:PORT)")
    if not port:
        return host, DEFAULT_PORT
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{name}: {address!r} has no valid port (expected tcp://HOST:PORT)")
    return host, int(port)


def check_scheduler(address: str, name: str = "scheduler",
                    timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Check that something accepts connections at the dask scheduler ``address``
    (``tcp://host:port``, ``host:port``, ``tls://``...) within ``timeout`` seconds;
    ``ValueError`` naming ``name`` otherwise. Nothing is written and no dask client is
    made: the connection is closed at once."""
    scheme, sep, location = address.partition("://")
    if not sep:
        scheme, location = "tcp", address
    if scheme in TCP_SCHEMES:
        host, port = _host_port(address, location, name)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            why = ("no answer" if isinstance(exc, TimeoutError)
                   else exc.strerror or type(exc).__name__)
            raise ValueError(f"{name}: no dask scheduler reachable at {address} within "
                             f"{timeout:g} s ({why})") from None
        return
    _check_other(address, name, timeout)


def _check_other(address: str, name: str, timeout: float) -> None:
    import asyncio

    from distributed.comm import connect

    async def probe():
        comm = await connect(address, timeout=timeout)
        await comm.close()

    try:
        asyncio.run(probe())
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{name}: no dask scheduler reachable at {address} within "
                         f"{timeout:g} s ({exc})") from None


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


__all__ = ["execute", "run_serial", "run_dask", "check_scheduler", "SCHEDULER_TIMEOUT"]
