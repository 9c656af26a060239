"""Figure 3 of Wu, Ma & E, and what the paper could not draw: SGD minima on the
sharpness/non-uniformity plane, and each minimum's exact mean-square threshold.

At one learning rate, GD and SGD (without replacement, ``B`` in a list) train a net
from several seeds. Each minimum is placed at its ``(a, s)`` with ``a = 2/eta`` and
each batch size's line ``s = (1/eta) sqrt(B (n-1)/(n-B))``; then its own exact
threshold ``eta_exact`` (``docs/theory.md``, section 4) gives ``eta / eta_exact``: the
theory says every converged minimum has ``eta <= eta_exact``, and the box need not
contain it.

    python scripts/nn_diagram.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim.nets import train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=50, full=300)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths", low=1)
    eta: float = option(0.2, "learning rate", positive=True)
    Bs: tuple[int, ...] = option((4, 10, 25), "SGD batch sizes (GD is added)", low=1)
    seeds: int = option(8, "seeds per batch size", low=1, quick=3)
    steps: int = option(20000, "steps at most", low=1, quick=4000)
    loss_tol: float = option(1e-6, "a run converges when its loss is below this",
                             positive=True, quick=1e-5)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)


net_of = nw.net_of


def batch_sizes(cfg: Config) -> list[int]:
    return [*cfg.Bs, cfg.n]


def task(cfg: Config, index: int, seed: int) -> dict:
    j, k = divmod(index, cfg.seeds)
    B = batch_sizes(cfg)[j]
    X, Y, y, X_test, y_test, _ = nw.data_of(cfg)
    net = net_of(cfg)
    res = train(net, net.init(seed), X, Y, cfg.eta, B, cfg.steps, seed, loss_tol=cfg.loss_tol,
                labels=y)
    return nw.row(cfg.dataset, net, res, X, Y, X_test, y_test,
                  optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=cfg.eta, seed=k,
                  init_scale=1.0)


def s_line(eta: float, n: int, B: int) -> float:
    """The paper's line ``s = (1/eta) sqrt(B (n-1)/(n-B))`` (``1/(eta sqrt(gamma))``)."""
    return np.inf if B >= n else 1 / (eta * np.sqrt(sim.Sampling(B).gamma(n)))


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    out = []
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(batch_sizes(cfg))))
    ax.axvline(2 / cfg.eta, color="k", ls="--", lw=1.2, label=r"$a = 2/\eta$")
    for B, c in zip(batch_sizes(cfg), colors, strict=True):
        mine = [r for r in rows if r["B"] == B and not r["diverged"]]
        label = "GD" if B == cfg.n else f"SGD $B={B}$"
        ax.scatter([r["a"] for r in mine], [r["s"] for r in mine], color=c, s=24, label=label)
        if B < cfg.n:
            ax.axhline(s_line(cfg.eta, cfg.n, B), color=c, ls=":", lw=1.2)
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_title(rf"minima of GD and SGD, $\eta = {cfg.eta}$ (dotted: each $B$'s box line)")
    ax.legend(fontsize=8)
    out += save(fig, folder, "diagram")
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    for B, c in zip(batch_sizes(cfg), colors, strict=True):
        vals = [cfg.eta / r["eta_exact"] for r in rows if r["B"] == B and not r["diverged"]
                and np.isfinite(r["eta_exact"])]
        ax.scatter([B] * len(vals), vals, color=c, s=24)
    ax.axhline(1.0, color="k", ls="--", lw=1.2, label=r"edge: $\eta = \eta_{exact}$")
    ax.set_xscale("log")
    ax.set_xlabel("batch size $B$")
    ax.set_ylabel(r"$\eta / \eta_{exact}$ of the minimum (its own $B$)")
    ax.set_title("distance of each minimum to its edge of mean-square stability")
    ax.legend(fontsize=8)
    out += save(fig, folder, "edge_ratio")
    return out


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = records
    *_, desc = nw.data_of(cfg)
    lines = ["# Figure 3: SGD minima on the sharpness/non-uniformity plane", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}, eta = {cfg.eta}, up to {cfg.steps} steps, "
             f"converged = loss <= {cfg.loss_tol:g}.", "",
             "| B | runs | converged | a (mean) | s (mean) | box line s | eta/eta_exact "
             "(min, median, max) | outside box while stable |", "|---|---|---|---|---|---|---|---|"]
    stats = {}
    for B in batch_sizes(cfg):
        mine = [r for r in rows if r["B"] == B and not r["diverged"]]
        ratios = np.array([cfg.eta / r["eta_exact"] for r in mine if np.isfinite(r["eta_exact"])])
        outside = sum(r["s"] > s_line(cfg.eta, cfg.n, B) and cfg.eta <= r["eta_exact"]
                      for r in mine)
        conv = sum(r["converged"] for r in mine)
        stats[B] = dict(runs=len(mine), converged=conv, outside_box_stable=int(outside),
                        ratio_max=float(ratios.max()) if ratios.size else np.nan,
                        within_10pct=int(np.sum(ratios >= 0.9)) if ratios.size else 0)
        q = np.percentile(ratios, [0, 50, 100]) if ratios.size else [np.nan] * 3
        lines.append(f"| {'GD' if B == cfg.n else B} | {len(mine)} | {conv} | "
                     f"{np.mean([r['a'] for r in mine]):.3g} | "
                     f"{np.mean([r['s'] for r in mine]):.3g} | "
                     f"{s_line(cfg.eta, cfg.n, B):.3g} | {q[0]:.3f}, {q[1]:.3f}, {q[2]:.3f} | "
                     f"{outside} |")
    lines += ["", "![diagram](diagram.png)", "![edge ratio](edge_ratio.png)", ""]
    return "\n".join(lines), {"data": desc, "net": repr(net_of(cfg)), "by_B": stats,
                              "figures": ["diagram", "edge_ratio"]}


STUDY = Study(name="nn_diagram", config=Config,
              size=lambda c: len(batch_sizes(c)) * c.seeds, task=task, table=nw.table,
              summary=summary, plot=plot, files=nw.models_file)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
