"""Claim: a study's results do not depend on how it ran: serial, on a dask cluster, after
a SIGKILL of the driver and a rerun, after a killed worker, or twice at once, it
writes the same table, every task once, no temporary file left, readable folders."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import studylib
from sim.studies import preset, read_csv, read_summary, run, task_seeds
from sim.studies.store import atomic_savez, clean_temporaries

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "studylib.py"


def _table(folder):
    return read_csv(folder / "data.csv")


def _temporaries(folder):
    return [p for p in folder.rglob(".*") if ".tmp-" in p.name]


def _serial(tmp_path, **kw):
    return run(studylib.STUDY, preset(studylib.Config, None, **kw), out=tmp_path / "serial",
               quiet=True)


def test_seeds_are_spawned_by_index():
    """Task i's seed comes from SeedSequence(seed).spawn(n)[i]: the same whatever n."""
    a, b = task_seeds(5, 10), task_seeds(5, 20)
    assert a == b[:10] and len(set(b)) == 20
    child = np.random.SeedSequence(5).spawn(3)[2]
    assert a[2] == int(child.generate_state(1, dtype=np.uint32)[0])


def test_folder_layout_and_resume(tmp_path):
    """<out>/<name>-<hash>/ with runs/, data.csv, config.json, meta.json, summary.md and
    summary.json; a rerun of the same config runs no task and gives the same table."""
    folder = _serial(tmp_path)
    assert folder.name.startswith("teststudy-") and len(folder.name) == len("teststudy-") + 10
    for name in ("data.csv", "config.json", "meta.json", "summary.md", "summary.json"):
        assert (folder / name).is_file(), name
    assert sorted(p.name for p in (folder / "runs").iterdir()) == [
        f"{i:05d}.json" for i in range(12)]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["tasks_run"] == 12 and meta["executor"] == "serial"
    table = _table(folder)
    again = _serial(tmp_path)
    assert again == folder and _table(again) == table
    assert json.loads((folder / "meta.json").read_text())["tasks_run"] == 0
    assert read_summary(folder)["study"] == "teststudy"
    other = _serial(tmp_path, seed=1)
    assert other != folder and _table(other) != table


def test_folders_are_group_readable(tmp_path):
    """Folders are 0755 and files 0644 even under umask 077."""
    out = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "2", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, umask=0o077)
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    for path in [folder, folder / "runs", *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_dask_local_cluster_equals_serial(tmp_path):
    """A LocalCluster with 2 worker processes gives the serial table number for number."""
    serial = _serial(tmp_path)
    dask = run(studylib.STUDY, preset(studylib.Config, None), out=tmp_path / "dask",
               executor="dask", workers=2, quiet=True)
    assert _table(dask) == _table(serial)
    meta = json.loads((dask / "meta.json").read_text())
    assert meta["executor"] == "dask" and meta["workers"] == 2


def test_killed_worker_is_retried(tmp_path):
    """A task that kills its dask worker is rerun by the scheduler on another worker:
    the table is still identical to the serial one."""
    marker = tmp_path / "killed"
    cfg = preset(studylib.Config, None, kill_once=str(marker))
    serial = run(studylib.STUDY, cfg, out=tmp_path / "serial", quiet=True)
    dask = run(studylib.STUDY, cfg, out=tmp_path / "dask", executor="dask", workers=2,
               quiet=True)
    assert marker.exists(), "no worker was killed: the test did not test anything"
    assert _table(dask) == _table(serial)


def _start(out: Path, *args):
    return subprocess.Popen([sys.executable, str(SCRIPT), "--out", str(out), "--quiet",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sigkill_then_rerun(tmp_path):
    """SIGKILL the driver after some task files exist, rerun: every task appears once,
    the table equals an uninterrupted run, and no temporary file remains (one left by a
    dead process is cleaned up)."""
    args = ["--tasks", "30", "--sleep", "0.1"]
    reference = _start(tmp_path / "reference", *args)
    proc = _start(tmp_path / "crash", *args)
    runs = None
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((tmp_path / "crash").glob("teststudy-*/runs/*.json"))
        if len(found) >= 5:
            runs = found[0].parent
            break
        time.sleep(0.05)
    assert runs is not None, "no task file appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    folder = runs.parent
    assert not (folder / "summary.json").exists()
    done_before = len(list(runs.glob("*.json")))
    assert 5 <= done_before < 30
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import socket

    leftover = runs / f".00029.json.tmp-{socket.gethostname()}-{dead}-deadbeef"
    leftover.write_text("{partial")
    again = _start(tmp_path / "crash", *args)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    ref_folder = next((tmp_path / "reference").glob("teststudy-*"))
    assert sorted(p.name for p in runs.glob("*.json")) == [f"{i:05d}.json" for i in range(30)]
    assert _table(folder) == _table(ref_folder)
    assert [r["index"] for r in _table(folder)] == list(range(30))
    assert not _temporaries(folder)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["tasks_run"] == 30 - done_before


def test_concurrent_runs_do_not_corrupt_each_other(tmp_path):
    """Two processes running the same config into the same folder at once both finish,
    and the table is the serial one."""
    args = ["--tasks", "16", "--sleep", "0.02"]
    procs = [_start(tmp_path / "both", *args) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    folder = next((tmp_path / "both").glob("teststudy-*"))
    serial = run(studylib.STUDY, preset(studylib.Config, None, tasks=16, sleep=0.02),
                 out=tmp_path / "serial", quiet=True)
    assert _table(folder) == _table(serial)
    assert not _temporaries(folder)


def test_clean_temporaries_spares_live_writers(tmp_path):
    """A temporary file of a live process (this one) stays; a dead one's goes."""
    import socket

    host = socket.gethostname()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead_pid = int(child.stdout)  # the child has exited: its pid names no live process
    live = tmp_path / f".x.json.tmp-{host}-{os.getpid()}-abc"
    dead = tmp_path / "runs" / f".y.json.tmp-{host}-{dead_pid}-def"
    dead.parent.mkdir()
    for path in (live, dead):
        path.write_text("")
    assert clean_temporaries(tmp_path) == 1
    assert live.exists() and not dead.exists()


def test_atomic_savez(tmp_path):
    """atomic_savez writes arrays that load back equal, mode 0644, and leaves no
    temporary file."""
    arrays = {"x": np.arange(5.0), "m": np.eye(3, dtype=np.int64)}
    path = atomic_savez(tmp_path / "data.npz", **arrays)
    with np.load(path) as saved:
        assert sorted(saved) == sorted(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(saved[key], value)
            assert saved[key].dtype == value.dtype
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not _temporaries(tmp_path)


@pytest.mark.parametrize("argv,message", [
    (["--tasks", "0"], "argument --tasks: must be >= 1"),
    (["--tasks", "2.5"], "argument --tasks: must be an integer"),
    (["--sleep", "nan"], "argument --sleep: must be finite"),
    (["--seed", "-1"], "argument --seed: must be >= 0"),
    (["--workers", "0"], "argument --workers: must be >= 1"),
    (["--executor", "spark"], "argument --executor: invalid choice"),
    (["--quick", "--full"], "not allowed with argument"),
])
def test_cli_rejects_bad_values(argv, message):
    """The generated command line rejects bad values with exit code 2, naming the option."""
    out = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr
