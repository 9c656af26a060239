"""Figure 4 of Wu, Ma & E: across many trained models, non-uniformity grows with
sharpness.

Models are trained with GD and SGD over a grid of learning rates, batch sizes,
initialisation scales and seeds (hundreds at the full size: run it on a dask cluster
with ``--executor dask``); ``s`` is plotted against ``a``, coloured by ``B``, with the
fitted slope and the correlation.

    python scripts/nn_correlation.py [--quick | --full] [--executor dask --workers 2]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.nets import train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=100)
    hidden: tuple[int, ...] = option((64,), "hidden layer widths", low=1)
    etas: tuple[float, ...] = option((0.05, 0.1, 0.2, 0.4), "learning rates", positive=True,
                                     quick=(0.1, 0.3))
    Bs: tuple[int, ...] = option((1, 4, 16, 200), "batch sizes (n: GD)", low=1,
                                 quick=(4, 100))
    scales: tuple[float, ...] = option((0.5, 1.0, 2.0), "initialisation scales",
                                       positive=True, quick=(1.0, 2.0))
    seeds: int = option(5, "seeds per setting", low=1, quick=2)
    steps: int = option(5000, "steps per model", low=1, quick=1500)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)


net_of = nw.net_of


def grid(cfg: Config):
    return list(itertools.product(cfg.etas, cfg.Bs, cfg.scales, range(cfg.seeds)))


def task(cfg: Config, index: int, seed: int) -> dict:
    eta, B, scale, k = grid(cfg)[index]
    X, Y, y, X_test, y_test, _ = nw.data_of(cfg)
    net = net_of(cfg)
    res = train(net, net.init(seed, scale=scale), X, Y, eta, B, cfg.steps, seed, labels=y)
    return nw.row(cfg.dataset, net, res, X, Y, X_test, y_test,
                  optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=eta, seed=k,
                  exact=False, init_scale=scale)


def fit(rows: list[dict]):
    """Least-squares slope of s on a through the origin, and the correlation."""
    ok = [r for r in rows if not r["diverged"] and np.isfinite(r["a"])]
    a = np.array([r["a"] for r in ok])
    s = np.array([r["s"] for r in ok])
    slope = float(a @ s / (a @ a)) if a.size else np.nan
    corr = float(np.corrcoef(a, s)[0, 1]) if a.size > 2 else np.nan
    return slope, corr, len(ok)


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    slope, corr, _ = fit(rows)
    fig, ax = plt.subplots(figsize=(6, 4.4))
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(cfg.Bs)))
    for B, c in zip(cfg.Bs, colors, strict=True):
        mine = [r for r in rows if r["B"] == B and not r["diverged"]]
        ax.scatter([r["a"] for r in mine], [r["s"] for r in mine], s=14, color=c,
                   label="GD" if B == cfg.n else f"$B={B}$")
    amax = max((r["a"] for r in rows if not r["diverged"]), default=1.0)
    ax.plot([0, amax], [0, slope * amax], "k--", lw=1, label=f"s = {slope:.2f} a (r = {corr:.2f})")
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_title(f"{len(rows)} trained models")
    ax.legend(fontsize=8)
    return save(fig, folder, "correlation")


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = records
    slope, corr, used = fit(rows)
    *_, desc = nw.data_of(cfg)
    lines = ["# Figure 4: non-uniformity against sharpness", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}. {len(rows)} models ({used} not diverged): "
             f"eta in {list(cfg.etas)}, B in {list(cfg.Bs)}, init scale in {list(cfg.scales)}, "
             f"{cfg.seeds} seeds, {cfg.steps} steps each.", "",
             f"- fitted slope s / a (least squares through 0): {slope:.3f}",
             f"- correlation of a and s: {corr:.3f}", "", "![correlation](correlation.png)", ""]
    return "\n".join(lines), {"data": desc, "models": len(rows), "slope": slope,
                              "correlation": corr, "figures": ["correlation"]}


STUDY = Study(name="nn_correlation", config=Config, size=lambda c: len(grid(c)), task=task,
              table=nw.table, summary=summary, plot=plot, files=nw.models_file)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
