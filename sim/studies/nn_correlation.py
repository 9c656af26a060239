"""Figure 4 of Wu, Ma & E: across many trained minima, non-uniformity grows with
sharpness.

Models are trained with GD and SGD over a grid of learning rates, batch sizes,
initialisation scales and seeds (hundreds at the full size: run it on a dask cluster
with ``--executor dask``) to a small loss, then polished to exact minima (points that
are not minima are left out and counted); ``s`` is plotted against ``a``, coloured by
``B``, with the fitted slope and the correlation per initialisation scale and pooled
(rescaling the initialisation moves ``a`` and ``s`` together, so the pooled
correlation alone could come from the scales).

    python scripts/nn_correlation.py [--quick | --full] [--executor dask --workers 2]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw
from sim.studies.text import num


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=100, full=100)
    hidden: tuple[int, ...] = option((64,), "hidden layer widths", low=1)
    etas: tuple[float, ...] = option((0.05, 0.1, 0.2, 0.4), "learning rates", positive=True,
                                     quick=(0.5,))
    Bs: tuple[int, ...] = option((1, 4, 16, 200), "batch sizes (n: GD)", low=1,
                                 quick=(4, 100), full=(1, 4, 16, 100))
    scales: tuple[float, ...] = option((0.5, 1.0, 2.0), "initialisation scales",
                                       positive=True, quick=(1.0, 2.0))
    seeds: int = option(5, "seeds per setting", low=1, quick=3, full=2)
    steps: int = option(10000, "steps per model at most", low=1, quick=4000)
    loss_tol: float = option(1e-4, "training stops at this loss; polish takes over",
                             positive=True)
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
    found = nw.minimum(net, net.init(seed, scale=scale), X, Y, eta=eta, sampling=B,
                       steps=cfg.steps, seed=seed, loss_tol=cfg.loss_tol, labels=y)
    return nw.minimum_row(cfg.dataset, net, found, X, Y, X_test, y_test,
                          optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=eta, seed=k,
                          exact=False, init_scale=scale)


def fit(rows: list[dict]) -> dict:
    """Over the minima among ``rows``: the least-squares slope of ``s`` on ``a`` through the
    origin, the correlation (NaN below 3 minima) and the range of ``a``."""
    ok = nw.at_minimum(rows)[0]
    a = np.array([r["a"] for r in ok])
    s = np.array([r["s"] for r in ok])
    return dict(minima=len(ok), slope=float(a @ s / (a @ a)) if a.size else np.nan,
                correlation=float(np.corrcoef(a, s)[0, 1]) if a.size > 2 else np.nan,
                a_min=float(a.min()) if a.size else np.nan,
                a_max=float(a.max()) if a.size else np.nan)


def fits(cfg: Config, rows: list[dict]) -> dict:
    """:func:`fit` per initialisation scale (keys ``"0.5"``...) and pooled (``"pooled"``)."""
    out = {f"{c:g}": fit([r for r in rows if r["init_scale"] == c]) for c in cfg.scales}
    out["pooled"] = fit(rows)
    return out


POSITIVE = 0.5
"""The paper's claim (``s`` grows with ``a``) holds in a group when its correlation is at
least this."""


def sentence(by_scale: dict) -> str:
    """The result sentence of Figure 4, from :func:`fits`."""
    groups = {k: v for k, v in by_scale.items() if k != "pooled"}
    measured = {k: v for k, v in groups.items() if np.isfinite(v["correlation"])}
    pooled = by_scale["pooled"]
    if not measured:
        return "Fewer than 3 minima per init scale: **undetermined**."
    holds = [k for k, v in measured.items() if v["correlation"] >= POSITIVE]
    verdict = ("**agrees**" if len(holds) == len(measured) else "**disagrees**")
    each = ", ".join(f"{k}: {v['correlation']:.2f}" for k, v in measured.items())
    return (f"The correlation of s and a is at least {POSITIVE:g} at {len(holds)} of "
            f"{len(measured)} init scales ({each}; "
            f"pooled {num(pooled['correlation'], '.2f')}): {verdict} with the paper (rule: "
            f"agrees when every init scale's correlation is >= {POSITIVE:g}, so that rescaling "
            f"alone cannot make it). The minima cover a from {num(pooled['a_min'])} to "
            f"{num(pooled['a_max'])} (the paper's reach a = 40).")


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    pooled = fit(rows)
    kept = nw.at_minimum(rows)[0]
    fig, ax = plt.subplots(figsize=(6, 4.4))
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(cfg.Bs)))
    markers = "os^Dv<>"
    for B, c in zip(cfg.Bs, colors, strict=True):
        for i, scale in enumerate(cfg.scales):
            mine = [r for r in kept if r["B"] == B and r["init_scale"] == scale]
            ax.scatter([r["a"] for r in mine], [r["s"] for r in mine], s=14, color=c,
                       marker=markers[i % len(markers)],
                       label=("GD" if B == cfg.n else f"$B={B}$") if i == 0 else None)
    for i, scale in enumerate(cfg.scales):
        ax.scatter([], [], color="0.4", marker=markers[i % len(markers)],
                   label=f"init scale {scale:g}")
    amax = pooled["a_max"] if np.isfinite(pooled["a_max"]) else 1.0
    ax.plot([0, amax], [0, pooled["slope"] * amax], "k--", lw=1,
            label=f"s = {num(pooled['slope'], '.2f')} a (r = {num(pooled['correlation'], '.2f')})")
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_title(f"{len(kept)} minima of {len(rows)} trained models")
    ax.legend(fontsize=7)
    return save(fig, folder, "correlation")


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = records
    by_scale = fits(cfg, rows)
    why = nw.at_minimum(rows)[1]
    *_, desc = nw.data_of(cfg)
    lines = ["# Figure 4: non-uniformity against sharpness", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}. {len(rows)} models: eta in "
             f"{list(cfg.etas)}, B in {list(cfg.Bs)}, init scale in {list(cfg.scales)}, "
             f"{cfg.seeds} seeds, up to {cfg.steps} steps to loss {cfg.loss_tol:g}, then "
             f"Gauss-Newton polish. Minima: {by_scale['pooled']['minima']}; left out: "
             f"{nw.left_out(why)}.", "",
             *table_lines(by_scale)]
    text = sentence(by_scale)
    lines += ["", text, "", "![correlation](correlation.png)", ""]
    return "\n".join(lines), {"data": desc, "models": len(rows), "by_scale": by_scale,
                              "slope": by_scale["pooled"]["slope"],
                              "correlation": by_scale["pooled"]["correlation"],
                              "sentence": text, "table": table_lines(by_scale),
                              "figures": ["correlation"]}


def table_lines(by_scale: dict) -> list[str]:
    lines = ["| init scale | minima | slope s/a (through 0) | correlation | a range |",
             "|---|---|---|---|---|"]
    for k, v in by_scale.items():
        lines.append(f"| {k} | {v['minima']} | {num(v['slope'], '.3f')} | "
                     f"{num(v['correlation'], '.3f', 'fewer than 3 minima')} | "
                     f"{num(v['a_min'])} to {num(v['a_max'])} |")
    return lines


STUDY = Study(name="nn_correlation", config=Config, size=lambda c: len(grid(c)), task=task,
              table=nw.table, summary=summary, plot=plot, files=nw.models_file,
              check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
