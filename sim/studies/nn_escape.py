"""Figure 1 of Wu, Ma & E: SGD escapes the minimum GD found, and lands somewhere else.

GD trains a net on a subset whose labels are partly corrupted until it fits every
training label; then SGD continues from that minimum with the same learning rate, for
several batch sizes and seeds. A run has escaped when its training loss exceeds
``escape_loss``. Beside the escape probability and median escape time of each ``B``
stand the predictions of the GD minimum's linearization: its exact mean-square
threshold ``eta_exact(B)`` (escape expected where ``eta > eta_exact``) and the top
Lyapunov exponent of linearized SGD (almost-sure instability where it is positive; as
in the toy, the two can differ).

    python scripts/nn_escape.py [--quick | --full] [--out results]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import sim
from sim import data
from sim.nets import to_ensemble, train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, read_runs
from sim.studies import networks as nw


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=60)
    corrupt: float = option(0.2, "fraction of corrupted training labels", low=0.0, high=1.0)
    hidden: tuple[int, ...] = option((256,), "hidden layer widths", low=1, quick=(128,))
    eta: float = option(0.5, "learning rate of GD and of SGD", positive=True)
    gd_steps: int = option(20000, "GD steps at most (stops at 100% training accuracy and "
                                  "loss <= gd_loss)", low=1, quick=6000)
    gd_loss: float = option(1e-4, "GD's target loss", positive=True)
    Bs: tuple[int, ...] = option((1, 4, 10), "SGD batch sizes", low=1)
    seeds: int = option(20, "SGD runs per batch size", low=1, quick=8)
    sgd_steps: int = option(1000, "SGD steps after the switch", low=1, quick=400)
    segments: int = option(20, "points of the curves after the switch", low=1, quick=10)
    escape_loss: float = option(1e-2, "a run has escaped once its loss exceeds this",
                                positive=True)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)
        if self.sgd_steps % self.segments:
            raise ValueError(f"segments must divide sgd_steps = {self.sgd_steps}")


net_of = nw.net_of


@cache
def problem(cfg: Config):
    """Training inputs with corrupted one-hot targets, clean test data."""
    X, Y, y, X_test, y_test, desc = nw.data_of(cfg)
    K = Y.shape[1]  # the data set's classes: the one-hot width of its clean targets
    noisy = data.corrupt_labels(y, cfg.corrupt, cfg.seed, K=K)
    return X, data.one_hot(noisy, K), noisy, X_test, y_test, desc


@cache
def gd_minimum(cfg: Config):
    """GD until every (corrupted) training label is fit and the loss is below gd_loss:
    the same on every worker (fixed seed)."""
    X, Y, noisy, X_test, y_test, _ = problem(cfg)
    net = net_of(cfg)
    theta = net.init(cfg.seed)
    res = train(net, theta, X, Y, cfg.eta, cfg.n, cfg.gd_steps, cfg.seed, loss_tol=cfg.gd_loss,
                labels=noisy)
    return res


def predictions(cfg: Config):
    """``eta_exact(B)`` and the Lyapunov exponent of linearized SGD at the GD minimum."""
    X, *_ = problem(cfg)
    ens = to_ensemble(net_of(cfg), gd_minimum(cfg).theta, X, reduce=True)  # growth rates: reduced
    out = {}
    for B in cfg.Bs:
        th = sim.thresholds(ens, B)
        lyap = sim.lyapunov_exponent(ens, cfg.eta, B, steps=400, paths=64, seed=cfg.seed)
        out[B] = dict(eta_exact=th.eta_exact, lyapunov=lyap.value, lyapunov_se=lyap.se)
    return out


def size(cfg: Config) -> int:
    return 1 + len(cfg.Bs) * cfg.seeds


def task(cfg: Config, index: int, seed: int) -> dict:
    """Task 0: the GD phase and the predictions; task 1 + j * seeds + k: SGD run k at
    batch size ``Bs[j]`` from the GD minimum."""
    X, Y, noisy, X_test, y_test, _ = problem(cfg)
    net = net_of(cfg)
    gd = gd_minimum(cfg)
    if index == 0:
        pred = predictions(cfg)
        return {"phase": "gd", "theta": gd.theta, "steps_run": gd.steps_run,
                "converged": gd.converged, "loss": gd.loss, "train_acc": gd.accuracy,
                "test_acc": net.accuracy(gd.theta, X_test, y_test),
                "t": gd.t.tolist(), "loss_curve": gd.loss_curve.tolist(),
                "acc_curve": gd.accuracy_curve.tolist(),
                "predictions": {str(B): v for B, v in pred.items()}}
    j, k = divmod(index - 1, cfg.seeds)
    B = cfg.Bs[j]
    seg = cfg.sgd_steps // cfg.segments
    # One run from the GD minimum, its loss recorded about 10 times a segment and its
    # parameters saved at the end of every segment (the test-accuracy curve).
    res = train(net, gd.theta, X, Y, cfg.eta, B, cfg.sgd_steps, seed,
                record_every=math.gcd(cfg.sgd_steps, max(1, seg // 10)), save_every=seg,
                labels=noisy, loss_bound=1e6)
    finite = np.isfinite(res.loss_curve)
    over = np.flatnonzero(finite & (res.loss_curve > cfg.escape_loss))
    escaped_at = int(res.t[over[0]]) if over.size else -1
    curve = []
    for t, theta in zip(res.checkpoint_steps[1:], res.checkpoints[1:], strict=True):
        if t > res.steps_run:
            break
        at = np.flatnonzero(res.t == t)[0]
        curve.append((int(t), float(res.loss_curve[at]), float(res.accuracy_curve[at]),
                      net.accuracy(theta, X_test, y_test) if np.all(np.isfinite(theta))
                      else np.nan))
    if not curve or curve[-1][0] != res.steps_run:  # diverged between two checkpoints
        curve.append((int(res.steps_run), res.loss, res.accuracy, np.nan))
    theta = res.theta
    return {"phase": "sgd", "theta": theta, "B": B, "seed": k, "escaped": escaped_at >= 0,
            "escape_step": escaped_at, "final_loss": curve[-1][1], "final_train_acc": curve[-1][2],
            "final_test_acc": curve[-1][3], "curve": curve}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("curve", "theta")} for r in records[1:]]


def files(cfg: Config, records: list[dict], folder: Path) -> None:
    """``models.npz``: the GD minimum first, then every SGD run's final parameters."""
    X, Y, *_ = problem(cfg)
    nw.write_models(net_of(cfg), X, Y, records, folder)


def by_B(cfg: Config, records: list[dict]) -> dict:
    pred = records[0]["predictions"]
    out = {}
    for B in cfg.Bs:
        runs = [r for r in records[1:] if r["B"] == B]
        times = [r["escape_step"] for r in runs if r["escaped"]]
        p = pred[str(B)]
        out[B] = dict(runs=len(runs),
                      escape_probability=float(np.mean([r["escaped"] for r in runs])),
                      median_escape_step=float(np.median(times)) if times else np.nan,
                      test_acc=float(np.nanmean([r["final_test_acc"] for r in runs])),
                      eta_exact=p["eta_exact"], predicted=bool(cfg.eta > p["eta_exact"]),
                      lyapunov=p["lyapunov"], lyapunov_se=p["lyapunov_se"])
    return out


def plot(folder: Path) -> list[Path]:
    cfg, _, _ = load(STUDY, folder)
    records = read_runs(folder, size(cfg))
    gd = records[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ok = np.isfinite(gd["loss_curve"])
    axes[0].semilogy(np.array(gd["t"])[ok] - gd["steps_run"], np.array(gd["loss_curve"])[ok],
                     color="k", label="GD")
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(cfg.Bs)))
    for B, c in zip(cfg.Bs, colors, strict=True):
        for i, r in enumerate(x for x in records[1:] if x["B"] == B):
            cur = np.array(r["curve"], dtype=float)
            axes[0].semilogy(cur[:, 0], cur[:, 1], color=c, lw=0.8, alpha=0.6,
                             label=f"SGD B={B}" if i == 0 else None)
            axes[1].plot(cur[:, 0], cur[:, 3], color=c, lw=0.8, alpha=0.6,
                         label=f"SGD B={B}" if i == 0 else None)
    axes[1].axhline(gd["test_acc"], color="k", ls="--", label="GD minimum")
    axes[0].axvline(0, color="0.5", lw=0.8)
    axes[0].set_xlabel("steps after the switch to SGD")
    axes[0].set_ylabel("training loss")
    axes[1].set_xlabel("steps after the switch to SGD")
    axes[1].set_ylabel("test accuracy")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    return save(fig, folder, "escape")


def summary(cfg: Config, records: list[dict], folder: Path):
    gd = records[0]
    stats = by_B(cfg, records)
    *_, desc = problem(cfg)
    lines = ["# Figure 1: SGD escapes the minimum found by GD", "",
             f"Data: {desc}, {cfg.corrupt:.0%} of the training labels corrupted. Net: "
             f"{net_of(cfg)!r}, eta = {cfg.eta}.", "",
             f"GD: {gd['steps_run']} steps, loss {gd['loss']:.2e}, training accuracy "
             f"{gd['train_acc']:.3f} (corrupted labels), test accuracy {gd['test_acc']:.3f}.", "",
             "| B | runs | P(escape) | median escape step | test acc after SGD | eta_exact(B) "
             "of the GD minimum | predicted (eta > eta_exact) | Lyapunov exponent |",
             "|---|---|---|---|---|---|---|---|"]
    for B, s in stats.items():
        lines.append(f"| {B} | {s['runs']} | {s['escape_probability']:.2f} | "
                     f"{s['median_escape_step']:.0f} | {s['test_acc']:.3f} | "
                     f"{s['eta_exact']:.4g} | {'escape' if s['predicted'] else 'stay'} | "
                     f"{s['lyapunov']:+.3g} +- {s['lyapunov_se']:.1g} |")
    lines += ["", "Mean-square instability (eta > eta_exact) predicts escape of E||x||^2; "
              "a typical run leaves only where the Lyapunov exponent is positive too "
              "(docs/theory.md, section 8).", "", "![escape](escape.png)", ""]
    return "\n".join(lines), {"data": desc, "gd": {k: gd[k] for k in (
        "steps_run", "loss", "train_acc", "test_acc")}, "by_B": {str(k): v for k, v in
                                                               stats.items()},
        "figures": ["escape"]}


STUDY = Study(name="nn_escape", config=Config, size=size, task=task, table=table,
              summary=summary, plot=plot, files=files)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
