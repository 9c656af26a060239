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

from functools import cache
from pathlib import Path

import numpy as np

import sim
from sim import data
from sim.nets import MLP, Polish, TrainResult, curvature, polish, to_ensemble, train
from sim.studies.store import atomic_savez

DATASETS = ("digits", "mnist1d", "idx")
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


def input_size(dataset: str) -> int:
    return {"digits": 64, "mnist1d": 40, "idx": 784}[dataset]


def measure(net: MLP, theta, X, sampling, exact: bool = True) -> dict:
    """``a``, ``s`` and the thresholds of ``sampling`` at ``theta`` (see the module
    docstring); NaN thresholds (and a reason) when ``n K`` exceeds :data:`EXACT_MAX` or
    ``theta`` is not finite."""
    out = dict(a=np.nan, s=np.nan, eta_gd=np.nan, eta_box=np.nan, eta_theorem=np.nan,
               eta_exact=np.nan, exact_note="")
    if not np.all(np.isfinite(theta)):
        out["exact_note"] = "diverged"
        return out
    nK = len(X) * net.n_outputs
    if not exact or nK > EXACT_MAX:  # a and s by Lanczos; no (n K)^2 Gram matrix
        cv = curvature(net, theta, X, None)
        out.update(a=cv.a, s=cv.s)
        out["exact_note"] = ("thresholds not computed by this study" if not exact else
                             f"n K = {nK} > {EXACT_MAX}: exact engine not run")
        return out
    ens = to_ensemble(net, theta, X, reduce=True)
    out.update(a=ens.a, s=ens.s)
    th = sim.thresholds(ens, sampling)
    out.update(eta_gd=th.eta_gd, eta_box=th.eta_box, eta_theorem=th.eta_theorem,
               eta_exact=th.eta_exact)
    return out


POLISH_FROM = 1e-3
"""Training loss at which a study's run stops and Gauss-Newton polish takes over
(polish converges quadratically from there; ``docs/theory.md``, section 9)."""


def minimum(net: MLP, theta0, X, Y, *, eta: float, sampling, steps: int, seed: int,
            loss_tol: float = POLISH_FROM, labels=None) -> tuple[TrainResult, Polish]:
    """The pipeline every network study shares: train with GD/SGD (stopping at
    ``loss_tol``), then :func:`sim.nets.polish` the end point to an exact minimum.

    Returns the training result and the polish; ``polish.converged`` says whether
    ``polish.theta`` is a minimum (``at_minimum`` in :func:`minimum_fields`)."""
    res = train(net, theta0, X, Y, eta, sampling, steps, seed, loss_tol=loss_tol, labels=labels)
    return res, polish(net, res.theta, X, Y)


def minimum_fields(res: TrainResult, pol: Polish) -> dict:
    """The columns a row gets from :func:`minimum`: the trained point and its polish."""
    return dict(steps_run=int(res.steps_run), trained_loss=float(res.loss),
                diverged=bool(res.diverged), polish_status=pol.status,
                polish_iterations=int(pol.iterations), displacement=float(pol.displacement),
                loss=float(pol.loss), at_minimum=bool(pol.converged))


def row(dataset: str, net: MLP, result, X, Y, X_test, y_test, *, optimizer: str, sampling,
        eta: float, seed: int, exact: bool = True, measured: dict | None = None,
        **extra) -> dict:
    """One model's row (and its parameters under ``theta``, for ``models.npz``);
    ``measured``: :func:`measure` of ``result.theta`` already made by the caller."""
    smp = sim.sampling.as_sampling(sampling)
    theta = np.asarray(result.theta)
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


__all__ = ["DATASETS", "N_CLASSES", "EXACT_MAX", "POLISH_FROM", "minimum", "minimum_fields",
           "training_data", "input_size", "measure", "row", "table",
           "write_models", "load_models", "data_of", "models_file", "net_of", "check"]
