"""Claim: a study fails before it writes anything wherever it would fail later (an
``--out`` it cannot write, data it cannot load or that is too small, a scheduler that
does not answer), with exit code 2, one ``error:`` line naming the option and no folder
left behind; folders it makes are 0755 whatever the umask; and a run file is used only
if it is the unchanged file of the task that reads it, so any edit, copy or loss of a
run file reruns that task, is reported, and the results are byte for byte those of an
untouched run."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts_loader import SCRIPT_ONLY, load_script, module_of
from sim.studies import Study, cli, option, preset, read_runs, run
from sim.studies import networks as nw
from sim.studies.cli import STUDIES
from sim.studies.core import check_study, read_run, run_path, task_key, task_seeds
from sim.studies.executors import SCHEDULER_TIMEOUT, check_scheduler
from sim.studies.store import DIR_MODE, check_out, make_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))
SUBPROCESS_TIMEOUT = 300
"""Seconds a script may take to fail (it imports numba, scipy and the nets: about 3 s
alone, several times that on a loaded 2-core machine)."""
DASK_CONNECT_TIMEOUT = 30
"""dask's own connect timeout, which an unreachable scheduler used to cost after the
results folder existed: the checked failure must come well before it."""


# ------------------------------------------------------------------ helpers


def _script(name: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *argv],
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


def _each_script(argv: list[str]) -> dict[str, tuple[int, str]]:
    """``{script: (exit code, stderr)}`` of every script run as a user would, one process
    each, a few at a time (each spends its few seconds importing)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        procs = {name: pool.submit(_script, name, *argv) for name in SCRIPTS}
        return {name: (p.result().returncode, p.result().stderr) for name, p in procs.items()}


DRIVER = """
import contextlib, io, json, runpy, sys, traceback
scripts, argv = sys.argv[1], sys.argv[2:]
out = {}
for name in json.loads(sys.stdin.read()):
    err = io.StringIO()
    sys.argv = [f"{scripts}/{name}.py", *argv]
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = 1
    out[name] = (code, err.getvalue())
print(json.dumps(out))
"""
"""Runs every script file as ``__main__`` with the same arguments, one after the other
in one process, so that the imports they share are paid once."""


def _each_script_at_once(argv: list[str]) -> dict[str, tuple[int, str]]:
    """What :func:`_each_script` gives, from one process that runs every script file as
    ``python scripts/NAME.py`` does (``__main__``). It runs in the scripts folder, which
    ``python -c`` puts first on the path, as ``python scripts/NAME.py`` puts the script's
    folder: ``reproduce`` imports its sibling ``derive_conditions`` by name."""
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT / "scripts"), *argv],
                          input=json.dumps(SCRIPTS), capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, cwd=ROOT / "scripts")
    assert proc.returncode == 0, proc.stderr
    return {name: tuple(v) for name, v in json.loads(proc.stdout).items()}


def _assert_usage_error(code: int, err: str, *words: str, who: str = "") -> None:
    """Exit code 2, exactly one ``error:`` line, holding each of ``words``, no traceback."""
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2, (who, code, err)
    assert len(errors) == 1, (who, err)
    assert "Traceback" not in err, (who, err)
    for word in words:
        assert word in errors[0], (who, word, errors[0])


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _chmod_is_effective(tmp_path: Path) -> bool:
    """False where this user may write into a 0555 folder anyway (root)."""
    probe = tmp_path / "chmod-probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        (probe / "x").touch()
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        shutil.rmtree(probe)
    return False


# ------------------------------------------------------------ item 1: --out


@pytest.mark.parametrize("each", [
    _each_script_at_once, pytest.param(_each_script, marks=pytest.mark.slow)],
    ids=["one-process", "process-each"])
def test_out_a_file_every_script(each, tmp_path):
    """Every script given ``--out`` a regular file exits with code 2 and one error line
    naming --out and the file, and creates nothing (a folder under a file: see
    test_check_out_rejects_every_unwritable_place)."""
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    results = each(["--out", str(blocker)])
    assert sorted(results) == SCRIPTS
    for name, (code, err) in results.items():
        _assert_usage_error(code, err, "--out", str(blocker), who=name)
    assert _listing(tmp_path) == ["results.txt"] and blocker.read_text() == "not a folder"


@pytest.mark.parametrize("each", [
    _each_script_at_once, pytest.param(_each_script, marks=pytest.mark.slow)],
    ids=["one-process", "process-each"])
def test_out_read_only_every_script(each, tmp_path):
    """Every script given ``--out`` under a 0555 folder exits with code 2 and one error
    line naming --out, and creates nothing (where chmod binds this user)."""
    if not _chmod_is_effective(tmp_path):
        pytest.skip("running as root: a 0555 folder is writable (see the os.access test)")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        results = each(["--out", str(ro / "results")])
        assert sorted(results) == SCRIPTS
        for name, (code, err) in results.items():
            _assert_usage_error(code, err, "--out", "not writable", who=name)
        assert _listing(ro) == []
    finally:
        ro.chmod(0o755)


def _deny_writes_in(monkeypatch, ro: Path) -> None:
    """``os.access`` says no write access to ``ro`` (as it does for a non-root user of a
    0555 folder), whoever runs the test."""
    real = os.access

    def access(path, mode, *args, **kw):
        if Path(path).resolve() == ro.resolve() and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kw)

    monkeypatch.setattr(os, "access", access)


def test_check_out_rejects_every_unwritable_place(tmp_path, monkeypatch):
    """check_out accepts a writable folder (existing or to be made) and rejects a file, a
    folder under a file and a folder it may not write in, naming the option, with
    nothing made."""
    assert check_out(tmp_path, "out") == tmp_path
    assert check_out(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"^out: .*file is a file, not a folder"):
        check_out(blocker)
    with pytest.raises(ValueError, match=r"^argument --out: cannot make .*: .*file is a file"):
        check_out(blocker / "x" / "y", "argument --out")
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_in(monkeypatch, ro)
    with pytest.raises(ValueError, match=r"^out: cannot write in .*ro: permission denied"):
        check_out(ro)
    with pytest.raises(ValueError, match=r"^out: cannot make .*: .*ro is not writable"):
        check_out(ro / "results" / "deeper")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "ro"]


def test_read_only_out_every_script_in_process(tmp_path, monkeypatch, capsys):
    """What each script runs (its study's command line, or reproduce's main), with writes
    into ``--out``'s parent denied, exits with code 2 and one error line naming --out
    before running anything: the read-only class is covered even as root."""
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_in(monkeypatch, ro)

    def never(*args, **kw):
        raise AssertionError("the study ran although --out is not writable")

    monkeypatch.setattr(cli, "run", never)
    for name in SCRIPTS:
        argv = ["--out", str(ro / "results")]
        with pytest.raises(SystemExit) as exc:
            if name == "reproduce":
                script = load_script("reproduce")
                monkeypatch.setattr(script, "reproduce", never)
                script.main(argv)
            else:
                cli.main(module_of(name).STUDY, argv, prog=f"{name}.py")
        _assert_usage_error(exc.value.code, capsys.readouterr().err, "--out", "not writable",
                            who=name)
    assert _listing(ro) == []


def test_parents_are_0755_under_umask_077(tmp_path):
    """Under umask 077, every folder a run makes for ``--out`` (parents included), the
    results folder and runs/ are 0755; a folder above them that existed keeps its mode."""
    tmp_path.chmod(0o711)
    old = os.umask(0o077)
    try:
        folder = run(STUDY, preset(Config, None, tasks=1), out=tmp_path / "a" / "b" / "c",
                     quiet=True)
        made = make_dir(tmp_path / "d" / "e")
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c", folder,
                 folder / "runs", tmp_path / "d", made):
        assert stat.S_IMODE(path.stat().st_mode) == DIR_MODE, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o711


# ---------------------------------------------- item 2: configs checked up front

DATA_STUDIES = [name for name in STUDIES
                if "data_of(" in (ROOT / "sim" / "studies" / f"{name}.py").read_text()
                or "training_data(" in (ROOT / "sim" / "studies" / f"{name}.py").read_text()]


def test_every_study_that_loads_data_checks_it():
    """Each package study that loads a data set has a check hook (there are several: the
    list is not empty by accident); the network studies share nw.check_data."""
    assert len(DATA_STUDIES) >= 6, DATA_STUDIES
    for name in DATA_STUDIES:
        assert module_of(name).STUDY.check is not None, name
    assert module_of("nn_sharpness").STUDY.check is nw.check_data


@pytest.mark.parametrize("name", DATA_STUDIES)
def test_data_check_rejects_n_beyond_the_data(name, tmp_path):
    """Every data study's check hook, and run(), reject n = 5000 (more than the 1348
    digits training samples), naming n, before any folder exists; where the study
    takes an IDX folder, a missing or empty one is rejected naming idx. Its default
    config passes."""
    study = module_of(name).STUDY
    study.check(preset(study.config, None))
    cfg = preset(study.config, None, n=5000)
    with pytest.raises(ValueError, match=r"n = 5000 exceeds"):
        study.check(cfg)
    with pytest.raises(ValueError, match=r"n = 5000 exceeds"):
        run(study, cfg, out=tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()
    if "idx" in {f.name for f in fields(study.config)}:
        with pytest.raises(ValueError, match=r"^idx: '/nonexistent' is not a folder"):
            check_study(study, preset(study.config, None, dataset="idx", idx="/nonexistent"),
                        tmp_path / "out")
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(ValueError, match=r"^idx: no train-images"):
            study.check(preset(study.config, None, dataset="idx", idx=str(empty)))
    assert sorted(p.name for p in tmp_path.iterdir()) == (["empty"] if (tmp_path / "empty")
                                                         .exists() else [])


@pytest.mark.parametrize("argv,words", [
    (["--dataset", "idx", "--idx", "/nonexistent"], ["idx", "/nonexistent"]),
    (["--n", "5000"], ["n = 5000", "exceeds"]),
], ids=["idx-missing", "n-too-large"])
def test_nn_sharpness_bad_data_is_a_usage_error(argv, words, tmp_path):
    """nn_sharpness with a missing IDX folder, or more samples than the data hold, exits
    with code 2 and one error line naming the field; no results folder is made."""
    out = tmp_path / "out"
    proc = _script("nn_sharpness", *argv, "--out", str(out))
    _assert_usage_error(proc.returncode, proc.stderr, *words)
    assert not out.exists()


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_usage_error(tmp_path):
    """A --scheduler nothing listens at exits with code 2 and one error line naming
    --scheduler, well before dask's 30 s connect timeout, with no folder made."""
    out = tmp_path / "out"
    start = time.monotonic()
    proc = _script("toy_example", "--scheduler", f"tcp://127.0.0.1:{_closed_port()}",
                   "--out", str(out))
    seconds = time.monotonic() - start
    _assert_usage_error(proc.returncode, proc.stderr, "--scheduler", "no dask scheduler")
    assert seconds < DASK_CONNECT_TIMEOUT, seconds
    assert not out.exists()


def test_check_scheduler(tmp_path):
    """check_scheduler accepts a listening socket, rejects a closed port at once, a
    scheduler that does not accept within its timeout after that timeout, and a
    malformed address; run() checks it before making the folder."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        check_scheduler(f"tcp://127.0.0.1:{port}")
        check_scheduler(f"127.0.0.1:{port}")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        held, full = [], False  # fill the accept queue: further connections hang
        for _ in range(4):
            c = socket.socket()
            c.settimeout(0.3)
            held.append(c)
            try:
                c.connect(("127.0.0.1", port))
            except TimeoutError:
                full = True
                break
        if full:
            start = time.monotonic()
            with pytest.raises(ValueError, match="within 0.5 s .no answer"):
                check_scheduler(f"tcp://127.0.0.1:{port}", timeout=0.5)
            assert 0.4 < time.monotonic() - start < 0.5 + 2
        for c in held:
            c.close()
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"^scheduler: no dask scheduler reachable"):
        check_scheduler(f"tcp://127.0.0.1:{_closed_port()}")
    assert time.monotonic() - start < SCHEDULER_TIMEOUT
    with pytest.raises(ValueError, match="no valid port"):
        check_scheduler("tcp://127.0.0.1:port")
    with pytest.raises(ValueError, match=r"^scheduler: no dask scheduler"):
        run(STUDY, preset(Config, None), out=tmp_path / "out",
            scheduler=f"tcp://127.0.0.1:{_closed_port()}", quiet=True)
    assert not (tmp_path / "out").exists()


# -------------------------------------------------- item 3: run files validated

TASKS = 4


@dataclass(frozen=True)
class Config:
    tasks: int = option(TASKS, "number of tasks", low=1)
    draws: int = option(5, "normal draws per task (an array in each record)", low=1)
    seed: int = option(0, "study seed", low=0)


def task(cfg: Config, index: int, seed: int) -> dict:
    x = np.random.default_rng(seed).standard_normal(cfg.draws)
    rho = float(np.abs(x).max())
    return {"index": index, "rho": rho, "stable": rho <= 1.5, "x": x}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{"index": r["index"], "rho": r["rho"], "stable": r["stable"],
             "x_sum": float(r["x"].sum())} for r in records]


def summary(cfg: Config, records: list[dict], folder: Path):
    stable = sum(r["stable"] for r in records)
    return f"# toy\n\n{stable} stable\n", {"stable": stable,
                                          "rho_max": max(r["rho"] for r in records)}


STUDY = Study(name="arrays", config=Config, size=lambda cfg: cfg.tasks, task=task,
              table=table, summary=summary)
"""A study whose records hold a number, a verdict and an array (saved as .npz)."""


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """An untouched run's folder, and (config, run of the same tasks under another config)."""
    base = tmp_path_factory.mktemp("clean")
    folder = run(STUDY, preset(Config, None), out=base / "one", quiet=True)
    other = run(STUDY, preset(Config, None, draws=6), out=base / "other", quiet=True)
    return folder, other


def _copy(clean_folder: Path, out: Path) -> Path:
    target = out / clean_folder.name
    shutil.copytree(clean_folder, target)
    return target


def _edit(folder: Path, index: int, change) -> None:
    path = run_path(folder, index)
    saved = json.loads(path.read_text())
    change(saved)
    path.write_text(json.dumps(saved, indent=2))


def _double_and_flip(folder, other):
    def change(saved):
        saved["record"]["rho"] *= 2
        saved["record"]["stable"] = not saved["record"]["stable"]
    _edit(folder, 1, change)
    return {1}


def _copy_over(folder, other):  # task 1's files copied over task 0's
    for suffix in (".json", ".npz"):
        shutil.copyfile(run_path(folder, 1).with_suffix(suffix),
                        run_path(folder, 0).with_suffix(suffix))
    return {0}


def _copy_json_only(folder, other):  # task 3's record over task 2's, 2's arrays kept
    shutil.copyfile(run_path(folder, 3), run_path(folder, 2))
    return {2}


def _from_other_config(folder, other):  # same index and seed, another config
    for suffix in (".json", ".npz"):
        shutil.copyfile(run_path(other, 0).with_suffix(suffix),
                        run_path(folder, 0).with_suffix(suffix))
    return {0}


def _missing_key(folder, other):
    _edit(folder, 2, lambda saved: saved["record"].pop("rho"))
    return {2}


def _array_changed(folder, other):
    path = run_path(folder, 3).with_suffix(".npz")
    with np.load(path) as npz:
        x = npz["x"].copy()
    x[0] += 1.0
    np.savez(path, x=x)
    return {3}


def _npz_deleted(folder, other):
    run_path(folder, 1).with_suffix(".npz").unlink()
    return {1}


def _legacy(folder, other):  # the format before run files had a key and a checksum
    _edit(folder, 0, lambda saved: (saved.pop("key"), saved.pop("checksum")))
    return {0}


def _truncated(folder, other):
    path = run_path(folder, 2)
    path.write_text(path.read_text()[:40])
    return {2}


def _several(folder, other):
    return _double_and_flip(folder, other) | _missing_key(folder, other) | _array_changed(
        folder, other)


TAMPERS = [_double_and_flip, _copy_over, _copy_json_only, _from_other_config, _missing_key,
           _array_changed, _npz_deleted, _legacy, _truncated, _several]


def _rerun(folder: Path) -> dict:
    again = run(STUDY, preset(Config, None), out=folder.parent, quiet=True)
    assert again == folder
    return json.loads((folder / "meta.json").read_text())


def _same_results(folder: Path, clean_folder: Path) -> None:
    for name in ("data.csv", "summary.json", "summary.md"):
        assert (folder / name).read_bytes() == (clean_folder / name).read_bytes(), name


def test_untouched_rerun_reruns_nothing(clean, tmp_path):
    """Rerunning an untouched folder runs no task and reports no file."""
    folder = _copy(clean[0], tmp_path)
    meta = _rerun(folder)
    assert meta["tasks_run"] == 0 and meta["rerun"] == {}
    _same_results(folder, clean[0])


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__.strip("_") for t in TAMPERS])
def test_tampered_run_file_is_rerun_and_reported(tamper, clean, tmp_path, capsys):
    """A run file edited (a number doubled and its verdict flipped, a key deleted, an
    array changed), copied from another task or another config, truncated, stripped of
    its key, or missing its arrays is never used: exactly its task reruns, stderr and
    meta.json's ``rerun`` name it, and data.csv and summary.json are byte for byte the
    untouched run's."""
    folder = _copy(clean[0], tmp_path)
    capsys.readouterr()
    expected = tamper(folder, clean[1])
    meta = _rerun(folder)
    err = capsys.readouterr().err
    assert set(meta["rerun"]) == {str(i) for i in expected}, meta["rerun"]
    assert meta["tasks_run"] == len(expected)
    for i in expected:
        assert f"task {i} runs again" in err, err
        assert meta["rerun"][str(i)]
    _same_results(folder, clean[0])


def test_reasons_name_what_is_wrong(clean, tmp_path):
    """The reported reason says what was found: another task's key, another config's,
    a changed file, a changed array, a missing arrays file, an old file; read without
    task keys (as plots do), a changed file is still refused."""
    cfg = preset(Config, None)
    seeds = task_seeds(cfg.seed, TASKS)
    keys = [task_key(STUDY, cfg, i, seeds[i]) for i in range(TASKS)]
    cases = {_copy_over: "another task (index 1, not 0;",
             _from_other_config: "another study or config",
             _double_and_flip: "checksum mismatch (the file was changed",
             _array_changed: "checksum mismatch of array(s) x",
             _npz_deleted: "00001.npz is missing",
             _legacy: "no task key or checksum",
             _truncated: "not valid JSON"}
    for tamper, words in cases.items():
        folder = _copy(clean[0], tmp_path / tamper.__name__)
        (index,) = tamper(folder, clean[1])
        reasons = {}
        records = read_runs(folder, TASKS, keys, reasons)
        assert list(reasons) == [index] and records[index] is None, reasons
        assert words in reasons[index], reasons
        if tamper is not _from_other_config:  # only the whole key tells that one apart
            assert read_run(folder, index)[0] is None


# A JSON value of any shape, for the fuzz.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=4)


def _paths(obj, prefix=()) -> list[tuple]:
    """Every key path into a parsed JSON object."""
    items = (obj.items() if isinstance(obj, dict) else enumerate(obj)
             if isinstance(obj, list) else ())
    out = []
    for k, v in items:
        out.append((*prefix, k))
        out += _paths(v, (*prefix, k))
    return out


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fuzzed_run_file_never_changes_the_results(clean, data):
    """Whatever a run file is changed to (a value replaced, a key deleted or added, the
    text cut short or replaced), the rerun's data.csv and summary.json are byte for byte
    the untouched run's, only that task reruns, and a change of the file's content is
    reported."""
    index = data.draw(st.integers(0, TASKS - 1), label="task")
    text = run_path(clean[0], index).read_text()
    saved = json.loads(text)
    kind = data.draw(st.sampled_from(("set", "delete", "insert", "truncate", "replace")),
                     label="mutation")
    if kind in ("set", "delete"):
        path = data.draw(st.sampled_from(_paths(saved)), label="path")
        parent = _at(saved, path[:-1])
        if kind == "set":
            parent[path[-1]] = data.draw(JSON, label="value")
        else:
            parent.pop(path[-1])
        new = json.dumps(saved, indent=2)
    elif kind == "insert":
        target = data.draw(st.sampled_from([saved, saved["record"], saved["key"]]))
        target[data.draw(st.text(max_size=4), label="key")] = data.draw(JSON, label="value")
        new = json.dumps(saved, indent=2)
    elif kind == "truncate":
        new = text[:data.draw(st.integers(0, len(text) - 1), label="length")]
    else:
        new = data.draw(st.text(max_size=60), label="text")
    try:
        changed = json.loads(new) != json.loads(text)
    except ValueError:
        changed = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = _copy(clean[0], Path(tmp))
        run_path(folder, index).write_text(new)
        meta = _rerun(folder)
        _same_results(folder, clean[0])
    assert set(meta["rerun"]) <= {str(index)}, meta["rerun"]
    if changed:
        assert str(index) in meta["rerun"], (kind, new)


def test_scripts_are_all_covered():
    """The scripts the --out tests run are the package studies plus the scripts that use
    theory (a new script is not left out)."""
    assert sorted(SCRIPTS) == sorted([*STUDIES, *SCRIPT_ONLY])
