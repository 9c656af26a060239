"""Table 1 of Wu, Ma & E: the sharpness of the minima GD finds, against 2/eta.

GD (the full batch, constant ``eta``) trains a fully connected ReLU net on the first
``n`` samples with one-hot targets and the mean-squared loss of PyTorch's ``MSELoss``
(the paper's setup), for several learning rates and five seeds, to a small loss; then
Gauss-Newton polish moves the end point to an exact minimum (the pipeline of
:mod:`sim.studies.networks`). The table holds minima only: per ``eta`` the mean and
sd of their sharpness ``a``, and the verdict "at the edge" (``a eta / 2 >=``
:data:`EDGE`) or "inside" (the constraint ``a <= 2/eta`` does not bind). Blow-ups and
points that are not minima are counted, never averaged.

    python scripts/nn_sharpness.py [--quick | --full] [--dataset digits] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw
from sim.studies.text import mean_sd, num

PAPER = {"FashionMNIST": (53.5, 39.3, 19.6, 3.9, 1.9),
         "CIFAR10": (198.9, 39.8, 19.8, 3.6, float("nan"))}
"""The paper's Table 1 (sharpness for eta = 0.01, 0.05, 0.1, 0.5, 1; CIFAR10 blew up at 1)."""
PAPER_ETAS = (0.01, 0.05, 0.1, 0.5, 1.0)
EDGE = 0.8
"""An ``eta`` is "at the edge" when the mean sharpness of its minima has ``a eta / 2 >=
EDGE``, else "inside"."""
ETA_RULE = ("2/eta runs from well above the sharpness GD reaches at small eta on this data "
            "(about 3 on digits) to below it, so the constraint a <= 2/eta goes from slack "
            "to binding, as in the paper's grid (53.5 at 2/eta = 200, 1.9 at 2)")


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS, paper="digits28")
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(300, "training samples (the first n)", low=2, quick=80, full=100,
                    paper=1000)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths (the paper's: 500 "
                                     "500 500, hours on 2 cores)", low=1, quick=(64,), full=(128,),
                                     paper=(500, 500, 500))
    etas: tuple[float, ...] = option((0.05, 0.2, 0.5, 1.0, 2.0, 4.0),
                                     "learning rates; rule: " + ETA_RULE, positive=True,
                                     quick=(0.3, 1.0, 2.0, 4.0),
                                     full=(0.1, 0.3, 0.6, 1.0, 2.0), paper=PAPER_ETAS)
    seeds: int = option(5, "seeds per learning rate", low=1, quick=3)
    steps: int = option(40000, "GD steps at most (per attempt)", low=1, quick=10000,
                        full=20000)
    loss_tol: float = option(1e-5, "training stops at this loss; polish takes over",
                             positive=True, quick=1e-4)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self)


net_of = nw.net_of


def task(cfg: Config, index: int, seed: int) -> dict:
    j, k = divmod(index, cfg.seeds)
    eta = cfg.etas[j]
    X, Y, y, X_test, y_test, _ = nw.data_of(cfg)
    net = net_of(cfg)
    found = nw.minimum(net, net.init(seed), X, Y, eta=eta, sampling=cfg.n, steps=cfg.steps,
                       seed=seed, loss_tol=cfg.loss_tol, labels=y)
    return nw.minimum_row(cfg.dataset, net, found, X, Y, X_test, y_test, optimizer="gd",
                          sampling=cfg.n, eta=eta, seed=k, init_scale=1.0)


def verdict_of(ratio: float) -> str:
    """``"at the edge"`` (``a eta / 2 >=`` :data:`EDGE`), ``"inside"``, or ``"-"`` (no
    minimum)."""
    if not np.isfinite(ratio):
        return "-"
    return "at the edge" if ratio >= EDGE else "inside"


def rows_by_eta(cfg: Config, rows: list[dict]) -> list[dict]:
    """Per ``eta``: the minima's ``a`` (mean, sd), ``a eta / 2``, the verdict, and what
    was left out."""
    out = []
    for eta in cfg.etas:
        mine = [r for r in rows if r["eta"] == eta]
        kept, why = nw.at_minimum(mine)
        a = [r["a"] for r in kept]
        mean = float(np.mean(a)) if a else np.nan
        out.append(dict(eta=eta, two_over_eta=2 / eta, runs=len(mine), minima=len(kept),
                        blowups=sum(bool(r["diverged"]) for r in mine), left_out=why,
                        a=a, a_mean=mean, a_std=float(np.std(a, ddof=1)) if len(a) > 1
                        else np.nan, trained_a=[r["trained_a"] for r in mine
                                                if np.isfinite(r["trained_a"])],
                        displacement=[r["displacement"] for r in kept],
                        ratio=mean * eta / 2, verdict=verdict_of(mean * eta / 2)))
    return out


def paper_verdicts() -> list[tuple[float, str]]:
    """The paper's own verdict per eta (FashionMNIST), by the same rule."""
    return [(eta, verdict_of(a * eta / 2)) for eta, a in zip(PAPER_ETAS, PAPER["FashionMNIST"],
                                                             strict=True)]


def pattern(by_eta: list[dict]) -> dict:
    """Does the grid cross the edge, and does the pattern match the paper's (inside at
    the smallest eta, at the edge from the first edge on)? From the verdicts only."""
    seen = [g for g in by_eta if g["verdict"] != "-"]
    v = [g["verdict"] for g in seen]
    crosses = "inside" in v and "at the edge" in v
    first = v.index("at the edge") if "at the edge" in v else len(v)
    monotone = all(x == "at the edge" for x in v[first:])
    return dict(crosses=crosses, monotone=monotone,
                agrees=bool(crosses and monotone and v[0] == "inside"),
                inside=[g["eta"] for g in seen if g["verdict"] == "inside"],
                edge=[g["eta"] for g in seen if g["verdict"] == "at the edge"],
                none=[g["eta"] for g in by_eta if g["verdict"] == "-"])


def sentence(pat: dict) -> str:
    """The result sentence of Table 1, from :func:`pattern`."""
    def etas(xs):
        return ", ".join(f"{x:g}" for x in xs) if xs else "none"

    paper = paper_verdicts()
    text = (f"Inside at eta = {etas(pat['inside'])}; at the edge (a eta/2 >= {EDGE:g}) at "
            f"eta = {etas(pat['edge'])}")
    if pat["none"]:
        text += f"; no minimum at eta = {etas(pat['none'])}"
    text += (". The paper (FashionMNIST, same rule): inside at eta = "
             f"{etas([e for e, v in paper if v == 'inside'])}, at the edge at eta = "
             f"{etas([e for e, v in paper if v == 'at the edge'])}. ")
    if not pat["crosses"]:
        return text + ("The grid does not cross the edge, so it cannot show the paper's "
                       "pattern: **undetermined** (rule: agrees when the smallest eta is "
                       "inside and every eta from the first edge on is at the edge).")
    return text + ("**Agrees**" if pat["agrees"] else "**Disagrees**") + (
        " with the paper's pattern (rule: the smallest eta is inside and every eta from the "
        "first edge on is at the edge).")


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    agg = rows_by_eta(cfg, rows)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    etas = np.array(cfg.etas)
    grid = np.geomspace(min(etas.min(), PAPER_ETAS[0]), etas.max(), 50)
    ax.plot(grid, 2 / grid, "k--", label=r"$2/\eta$")
    ok = [g for g in agg if g["minima"]]
    ax.errorbar([g["eta"] for g in ok], [g["a_mean"] for g in ok],
                yerr=[np.nan_to_num(g["a_std"]) for g in ok], fmt="o", color="C0", capsize=3,
                label="GD minima (this study, polished)")
    for g in agg:
        ax.plot([g["eta"]] * len(g["trained_a"]), g["trained_a"], "x", color="C0", ms=4,
                alpha=0.6)
    ax.plot([], [], "x", color="C0", label="trained points")
    for name, values in PAPER.items():
        ax.plot(PAPER_ETAS, values, "s", mfc="none", label=f"paper, {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel("sharpness $a$")
    ax.set_title("sharpness of GD minima against $2/\\eta$")
    ax.legend(fontsize=8)
    return save(fig, folder, "sharpness")


def table_lines(agg: list[dict]) -> list[str]:
    """The Markdown table (summary and the main job's report)."""
    lines = ["| eta | 2/eta | minima (left out) | a of the trained points | a of the minima "
             "(mean +- sd) | a eta / 2 | verdict | paper FashionMNIST | paper CIFAR10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in agg:
        i = PAPER_ETAS.index(g["eta"]) if g["eta"] in PAPER_ETAS else None
        paper = [num(PAPER[k][i], "g", "blow-up") if i is not None else "-" for k in PAPER]
        miss = "all blew up" if g["blowups"] == g["runs"] else "no minimum"
        lines.append(f"| {g['eta']:g} | {g['two_over_eta']:.3g} | {g['minima']} of {g['runs']} "
                     f"({nw.left_out(g['left_out'])}) | {mean_sd(g['trained_a'])} | "
                     f"{mean_sd(g['a'], missing=miss)} | {num(g['ratio'], '.3f')} | "
                     f"{g['verdict']} | {paper[0]} | {paper[1]} |")
    return lines


def summary(cfg: Config, records: list[dict], folder: Path):
    agg = rows_by_eta(cfg, records)
    pat = pattern(agg)
    *_, desc = nw.data_of(cfg)
    net = net_of(cfg)
    disp = [d for g in agg for d in g["displacement"]]
    lines = ["# Table 1: sharpness of GD minima", "",
             f"Data: {desc}. Net: {net!r} (p = {net.n_params}), GD, up to {cfg.steps} steps "
             f"to loss {cfg.loss_tol:g}, then Gauss-Newton polish to an exact minimum "
             f"(median displacement {num(np.median(disp) if disp else np.nan, '.2g')} "
             "||theta||). Sharpness of the Gauss-Newton per-sample Hessians, exact at the "
             f"minima. Grid rule: {ETA_RULE}.", "", *table_lines(agg), "", sentence(pat), "",
             "![sharpness](sharpness.png)", ""]
    return "\n".join(lines), {"data": desc, "net": repr(net), "by_eta": agg, "pattern": pat,
                              "sentence": sentence(pat), "table": table_lines(agg),
                              "figures": ["sharpness"]}


STUDY = Study(name="nn_sharpness", config=Config, size=lambda c: len(c.etas) * c.seeds,
              task=task, table=nw.table, summary=summary, plot=plot, files=nw.models_file,
              check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
