"""Table 1 of Wu, Ma & E: the sharpness of the minima GD finds, against 2/eta.

GD (the full batch, constant ``eta``) trains a fully connected ReLU net on the first
``n`` samples with one-hot targets and the mean-squared loss of PyTorch's ``MSELoss``
(the paper's setup), for several learning rates and seeds. Each model's sharpness
``a`` is measured at its final point; the claim is that GD selects minima with
``a`` close to, and not above, ``2/eta``. Blow-ups are reported as such.

    python scripts/nn_sharpness.py [--quick | --full] [--dataset digits] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.nets import train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw

PAPER = {"FashionMNIST": (53.5, 39.3, 19.6, 3.9, 1.9),
         "CIFAR10": (198.9, 39.8, 19.8, 3.6, float("nan"))}
"""The paper's Table 1 (sharpness for eta = 0.01, 0.05, 0.1, 0.5, 1; CIFAR10 blew up at 1)."""
PAPER_ETAS = (0.01, 0.05, 0.1, 0.5, 1.0)


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(1000, "training samples (the first n)", low=2, quick=100)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths (the paper's: 500 "
                                     "500 500, hours on 2 cores)", low=1)
    etas: tuple[float, ...] = option(PAPER_ETAS, "learning rates", positive=True,
                                     quick=(0.05, 0.1, 0.5, 1.0))
    seeds: int = option(5, "seeds per learning rate", low=1, quick=2)
    steps: int = option(20000, "GD steps at most", low=1, quick=3000)
    loss_tol: float = option(1e-6, "a run converges when its loss is below this",
                             positive=True)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self)


net_of = nw.net_of


def task(cfg: Config, index: int, seed: int) -> dict:
    j, k = divmod(index, cfg.seeds)
    eta = cfg.etas[j]
    X, Y, y, X_test, y_test, _ = nw.data_of(cfg)
    net = net_of(cfg)
    res = train(net, net.init(seed), X, Y, eta, cfg.n, cfg.steps, seed, loss_tol=cfg.loss_tol,
                labels=y)
    return nw.row(cfg.dataset, net, res, X, Y, X_test, y_test, optimizer="gd",
                  sampling=cfg.n, eta=eta, seed=k, init_scale=1.0)


def rows_by_eta(cfg: Config, rows: list[dict]) -> list[dict]:
    out = []
    for eta in cfg.etas:
        mine = [r for r in rows if r["eta"] == eta]
        ok = [r["a"] for r in mine if not r["diverged"]]
        out.append(dict(eta=eta, two_over_eta=2 / eta, runs=len(mine),
                        blowups=sum(r["diverged"] for r in mine),
                        converged=sum(r["converged"] for r in mine),
                        a_mean=float(np.mean(ok)) if ok else np.nan,
                        a_std=float(np.std(ok)) if ok else np.nan,
                        ratio=float(np.mean(ok)) * eta / 2 if ok else np.nan))
    return out


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    agg = rows_by_eta(cfg, rows)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    etas = np.array([g["eta"] for g in agg])
    ax.plot(etas, 2 / etas, "k--", label=r"$2/\eta$")
    ax.errorbar(etas, [g["a_mean"] for g in agg], yerr=[g["a_std"] for g in agg], fmt="o",
                color="C0", capsize=3, label="GD minima (this study)")
    for name, values in PAPER.items():
        ax.plot(PAPER_ETAS, values, "s", mfc="none", label=f"paper, {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel("sharpness $a$")
    ax.set_title("GD selects minima with sharpness near $2/\\eta$")
    ax.legend(fontsize=8)
    return save(fig, folder, "sharpness")


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = records
    agg = rows_by_eta(cfg, rows)
    *_, desc = nw.data_of(cfg)
    net = net_of(cfg)
    lines = ["# Table 1: sharpness of GD minima", "",
             f"Data: {desc}. Net: {net!r} (p = {net.n_params}), GD, up to {cfg.steps} steps, "
             f"converged = loss <= {cfg.loss_tol:g}. Sharpness of the Gauss-Newton per-sample "
             "Hessians at the final point.", "",
             "| eta | 2/eta | a (mean +- sd) | a eta / 2 | blow-ups | converged | paper "
             "FashionMNIST | paper CIFAR10 |", "|---|---|---|---|---|---|---|---|"]
    for g in agg:
        i = PAPER_ETAS.index(g["eta"]) if g["eta"] in PAPER_ETAS else None
        paper = [f"{PAPER[k][i]:g}" if i is not None else "-" for k in PAPER]
        paper = [p if p != "nan" else "blow-up" for p in paper]
        lines.append(f"| {g['eta']:g} | {g['two_over_eta']:g} | {g['a_mean']:.3g} +- "
                     f"{g['a_std']:.2g} | {g['ratio']:.3f} | {g['blowups']} of {g['runs']} | "
                     f"{g['converged']} | {paper[0]} | {paper[1]} |")
    notes = sorted({r["exact_note"] for r in rows if r["exact_note"]})
    lines += ["", *(f"Note: {n}." for n in notes), "", "![sharpness](sharpness.png)", ""]
    return "\n".join(lines), {"data": desc, "net": repr(net), "by_eta": agg,
                              "figures": ["sharpness"]}


STUDY = Study(name="nn_sharpness", config=Config, size=lambda c: len(c.etas) * c.seeds,
              task=task, table=nw.table, summary=summary, plot=plot, files=nw.models_file)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
