"""Shared pieces of the network studies: the data a study trains on, the measurement
of a trained model (``a``, ``s`` and every threshold of its own sampling), the rows of
``data.csv`` and ``models.npz``.

Every network study row holds at least ``dataset, widths, activation, optimizer,
scheme, eta, B, seed, steps_run, converged, loss, train_acc, test_acc, a, s,
eta_exact, eta_theorem, eta_box``; ``a`` and ``s`` are those of the Gauss-Newton
per-sample Hessians at the final point (exact at a zero-loss minimum,
``docs/theory.md``, section 7), and the thresholds are computed on the ensemble
reduced to ``range(H)`` while ``n K <= EXACT_MAX``, empty otherwise (with the reason in
the summary; ``a`` and ``s`` then come from :func:`sim.nets.curvature`, Lanczos on the
linearization, equal to the ensemble's to round-off).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import sim
from sim import data
from sim.nets import MLP, Polish, TrainResult, curvature, polish, to_ensemble, train
from sim.studies.store import atomic_savez

DATASETS = ("digits", "digits28", "mnist1d", "idx")
"""``digits28``: the 8x8 digits resampled to 28x28 (:func:`sim.data.digits`, ``size=28``),
the paper's input size offline (FashionMNIST itself: ``idx``)."""
N_CLASSES = 10
"""Classes of every data set the network studies use (digits, MNIST-1D, MNIST and
FashionMNIST IDX files): the width of the nets' output layer."""
EXACT_MAX = 3000
"""Largest ``n K`` for which rows get the exact thresholds (cost ``(n K)^3`` per
application of ``T``)."""
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _idx_pair(folder: Path, split: str):
    images, labels = IDX_FILES[split]
    found = []
    for stem in (images, labels):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            return None
    return found


@cache
def training_data(dataset: str, n: int, idx: str = "", seed: int = 0, test: int = 500):
    """``(X, Y, y, X_test, y_test, description)``: the first ``n`` training samples with
    one-hot targets (the paper's preprocessing), and up to ``test`` test samples.

    ``idx`` is a folder with the MNIST/FashionMNIST IDX files
    (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, optionally the
    ``t10k`` pair) for ``dataset="idx"``.
    """
    if dataset == "digits":
        ds = data.digits()
    elif dataset == "digits28":
        ds = data.digits(size=28)
    elif dataset == "mnist1d":
        ds = data.mnist1d(max(n, 100), seed=seed)
    elif dataset == "idx":
        folder = Path(idx)
        train = _idx_pair(folder, "train")
        if train is None:
            raise ValueError(f"idx: no train-images/train-labels IDX files in {folder}")
        ds = data.idx_dataset(*train, name=f"IDX files in {folder}")
        tst = _idx_pair(folder, "test")
        if tst is not None:
            t = data.idx_dataset(*tst)
            ds = data.Dataset(ds.X, ds.y, t.X, t.y, ds.name)
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if n > len(ds.X):
        raise ValueError(f"n = {n} exceeds the {len(ds.X)} training samples of {ds.name}")
    X, y = data.first(ds.X, ds.y, n)
    K = ds.n_classes
    X_test, y_test = (ds.X_test[:test], ds.y_test[:test]) if ds.X_test is not None else (
        ds.X[n:n + test], ds.y[n:n + test])
    return X, data.one_hot(y, K), y, X_test, y_test, f"{ds.name}, first {n} samples, K = {K}"


def net_of(cfg) -> MLP:
    """The ReLU net of a network study: ``input -> hidden... -> N_CLASSES``, loss ``"mean"``
    (PyTorch's ``MSELoss``, the paper's)."""
    return MLP((input_size(cfg.dataset), *cfg.hidden, N_CLASSES), "relu", "mean")


def check(cfg, batch_sizes=()) -> None:
    """Cross-field checks every network study shares."""
    if any(B > cfg.n for B in batch_sizes):
        raise ValueError(f"batch sizes must be <= n = {cfg.n}, got {tuple(batch_sizes)}")
    if cfg.dataset == "idx" and not cfg.idx:
        raise ValueError("idx must name a folder when dataset is idx")


def check_data(cfg) -> None:
    """The ``check`` hook of a network study (fields ``dataset`` or ``datasets``, ``n``,
    ``seed`` and, optionally, ``idx``): load its data as its tasks will (the loads are
    cached), so that a missing or unreadable IDX folder, an ``n`` beyond the training
    samples, or images of the wrong size are a ``ValueError`` naming the field before
    anything is written."""
    datasets = cfg.datasets if hasattr(cfg, "datasets") else (cfg.dataset,)
    idx = getattr(cfg, "idx", "")
    for dataset in datasets:
        if dataset == "idx":
            folder = Path(idx)
            if not folder.is_dir():
                raise ValueError(f"idx: {idx!r} is not a folder")
            if _idx_pair(folder, "train") is None:
                raise ValueError(f"idx: no train-images/train-labels IDX files in {folder}")
        try:
            X, Y, *_ = training_data(dataset, cfg.n, idx, cfg.seed)
        except OSError as exc:
            raise ValueError(f"dataset {dataset}{f' (idx {idx})' if dataset == 'idx' else ''}"
                             f": cannot read the data: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"dataset {dataset}{f' (idx {idx})' if dataset == 'idx' else ''}"
                             f": {exc}") from None
        if X.shape[1] != input_size(dataset):
            raise ValueError(f"dataset {dataset}: samples of {X.shape[1]} values, the nets "
                             f"take {input_size(dataset)}")
        if Y.shape[1] != N_CLASSES:
            raise ValueError(f"dataset {dataset}: {Y.shape[1]} classes, the nets have "
                             f"{N_CLASSES} outputs")


def input_size(dataset: str) -> int:
    return {"digits": 64, "digits28": 784, "mnist1d": 40, "idx": 784}[dataset]


def measure(net: MLP, theta, X, sampling, exact: bool = True,
            exact_max: int = EXACT_MAX) -> dict:
    """``a``, ``s`` and the thresholds of ``sampling`` at ``theta`` (see the module
    docstring); NaN thresholds (and a reason) when ``n K`` exceeds ``exact_max`` or
    ``theta`` is not finite. Above :data:`sim.stability.LEAN_MIN_D` the threshold solve
    is the memory-lean Lanczos (``sim.thresholds``' ``solver="auto"``); ``exact_max =
    10000`` is the paper's own net on 1000 images (hours per minimum on 2 cores)."""
    out = dict(a=np.nan, s=np.nan, eta_gd=np.nan, eta_box=np.nan, eta_theorem=np.nan,
               eta_exact=np.nan, exact_note="")
    if not np.all(np.isfinite(theta)):
        out["exact_note"] = "diverged"
        return out
    nK = len(X) * net.n_outputs
    if not exact or nK > exact_max:  # a and s by Lanczos; no (n K)^2 Gram matrix
        cv = curvature(net, theta, X, None)
        out.update(a=cv.a, s=cv.s)
        out["exact_note"] = ("thresholds not computed by this study" if not exact else
                             f"n K = {nK} > {exact_max}: exact engine not run")
        return out
    ens = to_ensemble(net, theta, X, reduce=True)
    out.update(a=ens.a, s=ens.s)
    th = sim.thresholds(ens, sampling)
    out.update(eta_gd=th.eta_gd, eta_box=th.eta_box, eta_theorem=th.eta_theorem,
               eta_exact=th.eta_exact)
    return out


def exact_max_option():
    """The ``exact_max`` option of a study config: the largest ``n K`` whose minima get
    exact thresholds (:data:`EXACT_MAX`; 10000 under ``--paper``)."""
    from sim.studies.config import option

    return option(EXACT_MAX, "largest n K whose minima get exact thresholds (10000: the "
                  "paper's net on 1000 images, hours per minimum)", low=1, paper=10000)


POLISH_FROM = 1e-3
"""Training loss at which a run stops and Gauss-Newton polish takes over (polish
converges quadratically from there; ``docs/theory.md``, section 9). Studies whose
minima should stay close to the trained point (the polish displacement grows with
the loss it starts from) pass a smaller ``loss_tol``."""
RETRIES = 2
"""Times :func:`finish` trains on (to a hundredth of the loss it reached) and polishes
again after a polish that ``stalled`` or ran out of steps: a ReLU unit at its kink
stops Gauss-Newton, and a point closer to the zero-loss set is past it."""
GAP_MAX_P = 30_000
"""Largest ``p`` for which a row gets ``exact_gap`` at its trained point (Lanczos with
exact Hessian-vector products)."""


@dataclass(frozen=True)
class Found:
    """Outcome of :func:`minimum`: the last training segment, its polish, and the whole
    run's step count and attempts (1 + retries used)."""

    trained: TrainResult
    polish: Polish
    steps_run: int
    attempts: int

    @property
    def at_minimum(self) -> bool:
        """The polish reached an exact zero-loss minimum (measured, ``polish.converged``)."""
        return bool(self.polish.converged)


def _diverged(res: TrainResult) -> Polish:
    nan = float("nan")
    return Polish(np.asarray(res.theta, dtype=float), res.loss, res.loss, nan, 0, False,
                  "diverged", "the training run diverged: nothing to polish",
                  np.array([res.loss]), nan, -1, "gram")


def finish(net: MLP, res: TrainResult, X, Y, *, eta: float, sampling, steps: int, seed: int,
           labels=None, retries: int = RETRIES) -> Found:
    """Polish the end of a training run ``res``; where the polish ``stalled`` or ran out of
    steps, train on from ``res.theta`` for up to ``steps`` steps to a hundredth of the
    loss reached and polish again (at most ``retries`` times). A diverged run is not
    polished (status ``"diverged"``)."""
    if res.diverged:
        return Found(res, _diverged(res), int(res.steps_run), 0)
    pol = polish(net, res.theta, X, Y)
    total, attempts = int(res.steps_run), 1
    while (pol.status in ("stalled", "max_iter") and attempts <= retries
           and res.loss > 0):
        res = train(net, res.theta, X, Y, eta, sampling, steps, seed + attempts,
                    loss_tol=res.loss / 100, labels=labels)
        total += int(res.steps_run)
        attempts += 1
        if res.diverged:
            return Found(res, _diverged(res), total, attempts)
        pol = polish(net, res.theta, X, Y)
    return Found(res, pol, total, attempts)


def minimum(net: MLP, theta0, X, Y, *, eta: float, sampling, steps: int, seed: int,
            loss_tol: float = POLISH_FROM, labels=None, retries: int = RETRIES) -> Found:
    """The pipeline every network study shares: train with GD/SGD (stopping at
    ``loss_tol``), then :func:`finish`: polish the end point to an exact minimum
    (``Found.at_minimum`` says whether it is one)."""
    res = train(net, theta0, X, Y, eta, sampling, steps, seed, loss_tol=loss_tol, labels=labels)
    return finish(net, res, X, Y, eta=eta, sampling=sampling, steps=steps, seed=seed,
                  labels=labels, retries=retries)


def minimum_fields(found: Found) -> dict:
    """The columns a row gets from :func:`minimum`: the trained point and its polish."""
    res, pol = found.trained, found.polish
    return dict(steps_run=int(found.steps_run), trained_loss=float(res.loss),
                diverged=bool(res.diverged), polish_status=pol.status,
                polish_attempts=int(found.attempts), polish_iterations=int(pol.iterations),
                displacement=float(pol.displacement), loss=float(pol.loss),
                at_minimum=found.at_minimum)


def trained_fields(net: MLP, theta, X, Y, gap: bool = True) -> dict:
    """``a`` and ``s`` (Gauss-Newton, Lanczos) at a trained point, and where ``p <=``
    :data:`GAP_MAX_P` the relative gap ``(a_exact - a) / a`` of the exact Hessian's top
    eigenvalue (the residual term, which vanishes at a minimum); NaN where not finite."""
    out = dict(trained_a=np.nan, trained_s=np.nan, exact_gap=np.nan)
    if not np.all(np.isfinite(theta)):
        return out
    cv = curvature(net, theta, X, None)
    out.update(trained_a=cv.a, trained_s=cv.s)
    if gap and net.n_params <= GAP_MAX_P:
        exact = curvature(net, theta, X, Y, kind="exact", which="a")
        out["exact_gap"] = float((exact.a - cv.a) / cv.a)
    return out


def minimum_row(dataset: str, net: MLP, found: Found, X, Y, X_test, y_test, *,
                optimizer: str, sampling, eta: float, seed: int, exact: bool = True,
                exact_max: int = EXACT_MAX, **extra) -> dict:
    """One row of the shared pipeline (and the polished parameters under ``theta``): the
    trained point (``trained_loss``, ``trained_a``, ``trained_s``, ``exact_gap``), the
    polish (``polish_status``, ``displacement``, ``at_minimum``) and, at the polished
    minimum only, ``loss``, accuracies, ``a``, ``s`` and every threshold (NaN, with
    ``exact_note`` saying why, where it is not a minimum or ``n K > exact_max``)."""
    res, pol = found.trained, found.polish
    fields = minimum_fields(found)
    fields.update(trained_fields(net, res.theta, X, Y))
    at = found.at_minimum
    theta = pol.theta if at else np.asarray(res.theta)
    if at:
        measured = measure(net, theta, X, sampling, exact, exact_max)
    else:
        measured = dict(a=np.nan, s=np.nan, eta_gd=np.nan, eta_box=np.nan,
                        eta_theorem=np.nan, eta_exact=np.nan,
                        exact_note=f"not a minimum: polish {pol.status}")
    r = row(dataset, net, res, X, Y, X_test, y_test, optimizer=optimizer, sampling=sampling,
            eta=eta, seed=seed, measured=measured, theta=theta, **extra)
    r.update(fields)
    if at:
        r["train_acc"] = float(net.accuracy(theta, X, np.argmax(Y, axis=1)))
    return r


def at_minimum(rows: list[dict]) -> tuple[list[dict], dict]:
    """The rows measured at a minimum, and the count of the others by reason
    (``"diverged"``, ``"polish stalled"``...): what summaries average, and what they
    say they left out."""
    kept, why = [], {}
    for r in rows:
        if r.get("at_minimum"):
            kept.append(r)
            continue
        reason = "diverged" if r.get("diverged") else f"polish {r.get('polish_status', '?')}"
        why[reason] = why.get(reason, 0) + 1
    return kept, why


def left_out(why: dict) -> str:
    """``"none"`` or ``"3 (polish stalled 2, diverged 1)"``."""
    if not why:
        return "none"
    return f"{sum(why.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(why.items())) + ")"


def row(dataset: str, net: MLP, result, X, Y, X_test, y_test, *, optimizer: str, sampling,
        eta: float, seed: int, exact: bool = True, measured: dict | None = None,
        theta=None, **extra) -> dict:
    """One model's row (and its parameters under ``theta``, for ``models.npz``);
    ``measured``: :func:`measure` of ``result.theta`` (or of ``theta``, where given)
    already made by the caller."""
    smp = sim.sampling.as_sampling(sampling)
    theta = np.asarray(result.theta if theta is None else theta)
    finite = bool(np.all(np.isfinite(theta)))
    test_acc = net.accuracy(theta, X_test, y_test) if finite and len(X_test) else np.nan
    return dict(dataset=dataset, widths="-".join(map(str, net.widths)),
                activation=net.activation, optimizer=optimizer, scheme=smp.scheme, eta=eta,
                B=smp.B, seed=seed, steps_run=int(result.steps_run),
                converged=bool(result.converged), diverged=bool(result.diverged),
                loss=float(result.loss), train_acc=float(result.accuracy),
                test_acc=float(test_acc),
                **(measured if measured is not None else measure(net, theta, X, smp, exact)),
                **extra,
                theta=theta)


def leave_steps(loss_curves: np.ndarray, t: np.ndarray, steps_run: np.ndarray, factor: float):
    """First recorded step at which each run's loss exceeds ``factor`` times its start
    loss (or is not finite: a blow-up), ``-1`` if none up to its last step."""
    out = np.full(len(loss_curves), -1, dtype=np.int64)
    for j, (curve, stop) in enumerate(zip(loss_curves, steps_run, strict=True)):
        seen = t <= stop
        bad = np.flatnonzero(~(curve[seen] <= factor * curve[0]))
        if bad.size:
            out[j] = t[seen][bad[0]]
    return out


def data_of(cfg):
    """:func:`training_data` of a network study's config (fields ``dataset``, ``n``,
    ``idx``, ``seed``)."""
    return training_data(cfg.dataset, cfg.n, cfg.idx, cfg.seed)


def table(cfg, records: list[dict]) -> list[dict]:
    """Rows of ``data.csv``: every record's fields but its arrays (``theta`` goes to
    ``models.npz``)."""
    return [{k: v for k, v in r.items() if not isinstance(v, np.ndarray)} for r in records]


def models_file(cfg, records: list[dict], folder: Path) -> None:
    """The ``files`` hook of a network study: :func:`write_models` of its net and data."""
    X, Y, *_ = data_of(cfg)
    write_models(net_of(cfg), X, Y, records, folder)


def write_models(net: MLP, X, Y, records: list[dict], folder: Path) -> None:
    """``models.npz``: each row's parameters (``thetas``, in row order), the training
    inputs ``X`` and targets ``Y``, and the net (``widths``, ``activation``, ``loss``)."""
    thetas = [r["theta"] for r in records]

    atomic_savez(folder / "models.npz", thetas=np.array(thetas), X=X, Y=Y,
                 widths=np.array(net.widths), activation=net.activation, loss=net.loss_kind)


def load_models(folder: Path):
    """``(net, thetas, X, Y)`` from ``models.npz``."""
    with np.load(Path(folder) / "models.npz") as f:
        net = MLP(tuple(int(w) for w in f["widths"]), str(f["activation"]), str(f["loss"]))
        return net, f["thetas"], f["X"], f["Y"]


__all__ = ["DATASETS", "N_CLASSES", "EXACT_MAX", "exact_max_option", "POLISH_FROM",
           "RETRIES", "GAP_MAX_P", "Found", "finish", "leave_steps", "minimum",
           "minimum_fields", "trained_fields", "minimum_row", "at_minimum", "left_out",
           "training_data", "input_size", "measure", "row", "table", "write_models",
           "load_models", "data_of", "models_file", "net_of", "check", "check_data"]
