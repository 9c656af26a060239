"""Figure 3 of Wu, Ma & E, and what the paper could not draw: SGD minima on the
sharpness/non-uniformity plane, and each minimum's exact mean-square threshold.

At one learning rate, GD and SGD (without replacement, ``B`` in a list) train a net
from several seeds to a small loss, and Gauss-Newton polish moves each end point to an
exact minimum (the pipeline of :mod:`sim.studies.networks`; points that are not minima
are counted and left out). Each minimum is placed at its ``(a, s)`` with ``a = 2/eta``
and each batch size's line ``s = (1/eta) sqrt(B (n-1)/(n-B))``; then its own exact
threshold ``eta_exact`` (``docs/theory.md``, section 4) gives ``eta / eta_exact``.
Mean-square stability is no theorem about where SGD ends: a minimum with
``eta_exact < eta < eta_as`` keeps a typical run (section 8), so the ratio may exceed 1,
and the summary counts where it does.

    python scripts/nn_diagram.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw
from sim.studies.text import num


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS, paper="digits28")
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=50, full=100,
                    paper=1000)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths", low=1, quick=(64,),
                                     full=(128,), paper=(500, 500, 500))
    eta: float = option(0.2, "learning rate", positive=True)
    Bs: tuple[int, ...] = option((4, 10, 25), "SGD batch sizes (GD is added)", low=1)
    seeds: int = option(8, "seeds per batch size", low=1, quick=3)
    steps: int = option(20000, "steps at most", low=1, quick=4000)
    loss_tol: float = option(1e-5, "training stops at this loss; polish takes over",
                             positive=True, quick=1e-4)
    exact_max: int = nw.exact_max_option()
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
    found = nw.minimum(net, net.init(seed), X, Y, eta=cfg.eta, sampling=B, steps=cfg.steps,
                       seed=seed, loss_tol=cfg.loss_tol, labels=y)
    return nw.minimum_row(cfg.dataset, net, found, X, Y, X_test, y_test,
                          optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=cfg.eta,
                          seed=k, init_scale=1.0, exact_max=cfg.exact_max)


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
        mine = nw.at_minimum([r for r in rows if r["B"] == B])[0]
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
        vals = [cfg.eta / r["eta_exact"] for r in nw.at_minimum(rows)[0] if r["B"] == B
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


def by_batch(cfg: Config, rows: list[dict]) -> dict:
    """Per batch size, over minima only: counts, means, the ratios ``eta / eta_exact``
    and the box line."""
    stats = {}
    for B in batch_sizes(cfg):
        kept, why = nw.at_minimum([r for r in rows if r["B"] == B])
        ratios = np.array([cfg.eta / r["eta_exact"] for r in kept if np.isfinite(r["eta_exact"])])
        line = s_line(cfg.eta, cfg.n, B)
        stats[B] = dict(runs=sum(r["B"] == B for r in rows), minima=len(kept), left_out=why,
                        a_mean=float(np.mean([r["a"] for r in kept])) if kept else np.nan,
                        s_mean=float(np.mean([r["s"] for r in kept])) if kept else np.nan,
                        s_line=line, under_line=int(sum(r["s"] <= line for r in kept)),
                        outside_box_stable=int(sum(r["s"] > line and cfg.eta <= r["eta_exact"]
                                                   for r in kept)),
                        mean_square_stable=int(np.sum(ratios <= 1.0)),
                        ratio_min=float(ratios.min()) if ratios.size else np.nan,
                        ratio_median=float(np.median(ratios)) if ratios.size else np.nan,
                        ratio_max=float(ratios.max()) if ratios.size else np.nan,
                        within_10pct=int(np.sum(ratios >= 0.9)))
    return stats


def sentence(cfg_n: int, stats: dict) -> str:
    """The result sentence of Figure 3, from :func:`by_batch`: the paper's claim (every
    SGD minimum lies under its ``B``'s line) and the mean-square count."""
    sgd = {B: st for B, st in stats.items() if int(B) != cfg_n}
    minima = sum(st["minima"] for st in sgd.values())
    if not minima:
        return "No SGD run reached a minimum: **undetermined**."
    under = sum(st["under_line"] for st in sgd.values())
    stable = sum(st["mean_square_stable"] for st in stats.values())
    every = sum(st["minima"] for st in stats.values())
    worst = max((st["ratio_max"] for st in stats.values() if np.isfinite(st["ratio_max"])),
                default=np.nan)
    return (f"{under} of {minima} SGD minima lie under their batch size's line s = "
            f"1/(eta sqrt(gamma)): {'**agrees**' if under == minima else '**disagrees**'} "
            "with the paper (rule: agrees when every one does). "
            f"{stable} of {every} minima (GD included) are mean-square stable at their own B "
            f"(eta <= eta_exact; largest eta/eta_exact {num(worst, '.3f')}); a ratio above 1 "
            "is a minimum SGD can keep while eta < eta_as (docs/theory.md, section 8).")


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = records
    *_, desc = nw.data_of(cfg)
    stats = by_batch(cfg, rows)
    lines = ["# Figure 3: SGD minima on the sharpness/non-uniformity plane", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}, eta = {cfg.eta}, up to {cfg.steps} steps "
             f"to loss {cfg.loss_tol:g}, then Gauss-Newton polish; minima only.", "",
             *table_lines(cfg.n, stats)]
    text = sentence(cfg.n, stats)
    lines += ["", text, "", "![diagram](diagram.png)", "![edge ratio](edge_ratio.png)", ""]
    return "\n".join(lines), {"data": desc, "net": repr(net_of(cfg)), "n": cfg.n,
                              "by_B": stats, "sentence": text, "table": table_lines(cfg.n, stats),
                              "figures": ["diagram", "edge_ratio"]}


def table_lines(n: int, stats: dict) -> list[str]:
    lines = ["| B | minima (left out) | a (mean) | s (mean) | box line s | under the line | "
             "eta/eta_exact (min, median, max) | stable outside box |",
             "|---|---|---|---|---|---|---|---|"]
    for B, st in stats.items():
        q = ", ".join(num(st[k], ".3f") for k in ("ratio_min", "ratio_median", "ratio_max"))
        lines.append(f"| {'GD' if int(B) == n else B} | {st['minima']} of {st['runs']} "
                     f"({nw.left_out(st['left_out'])}) | {num(st['a_mean'])} | "
                     f"{num(st['s_mean'])} | {num(st['s_line'], '.3g', 'none (GD)')} | "
                     f"{st['under_line']} | {q if st['minima'] else 'no minimum'} | "
                     f"{st['outside_box_stable']} |")
    return lines


STUDY = Study(name="nn_diagram", config=Config,
              size=lambda c: len(batch_sizes(c)) * c.seeds, task=task, table=nw.table,
              summary=summary, plot=plot, files=nw.models_file, check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
