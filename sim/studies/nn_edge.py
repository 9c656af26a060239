"""Beyond the paper: where do GD and SGD end relative to their edge of stability?

For several ``(eta, B)``, initialisation scales and with or without a learning-rate
warm-up, a net is trained while its sharpness ``a``, non-uniformity ``s`` and exact
mean-square threshold ``eta_exact(B)`` are measured along the way. Each run ends at
``a / (2/eta)`` (GD) or ``eta / eta_exact`` (SGD): 1 means at the edge. Mulayoff &
Michaeli report SGD at its edge with a large initialisation and warm-up; which regime
gives which is measured here, not assumed.

    python scripts/nn_edge.py [--quick | --full] [--out results]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.nets import train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, read_runs
from sim.studies import networks as nw


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(100, "training samples (the first n)", low=2, quick=50)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths", low=1, quick=(64,))
    eta: float = option(0.2, "learning rate (after the warm-up)", positive=True)
    Bs: tuple[int, ...] = option((2, 4, 10, 100), "batch sizes (n: GD)", low=1,
                                 quick=(4, 50))
    scales: tuple[float, ...] = option((1.0, 3.0), "initialisation scales", positive=True)
    warmups: tuple[int, ...] = option((0, 2000), "warm-up steps (eta t / warmup at step t)",
                                      low=0, quick=(0, 500))
    seeds: int = option(2, "seeds per setting", low=1, quick=1)
    steps: int = option(20000, "training steps", low=1, quick=3000)
    segments: int = option(20, "measurements of a and s along training", low=1, quick=6)
    exact_every: int = option(5, "eta_exact at every this many measurements (and at the "
                                 "end)", low=1, quick=1)
    loss_tol: float = option(1e-6, "stop once the loss is below this", positive=True,
                             quick=1e-5)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)
        if self.steps % self.segments or any(w > self.steps for w in self.warmups):
            raise ValueError("segments must divide steps, and warm-ups be <= steps")


net_of = nw.net_of


def grid(cfg: Config):
    return list(itertools.product(cfg.Bs, cfg.scales, cfg.warmups, range(cfg.seeds)))


def task(cfg: Config, index: int, seed: int) -> dict:
    B, scale, warmup, k = grid(cfg)[index]
    X, Y, y, X_test, y_test, _ = nw.data_of(cfg)
    net = net_of(cfg)
    seg = cfg.steps // cfg.segments
    # One run: the warm-up inside the training loop, the parameters saved every segment.
    res = train(net, net.init(seed, scale=scale), X, Y, cfg.eta, B, cfg.steps, seed,
                loss_tol=cfg.loss_tol, record_every=seg, warmup=warmup, save_every=seg,
                labels=y)
    points = [(int(t), th) for t, th in zip(res.checkpoint_steps[1:], res.checkpoints[1:],
                                             strict=True) if t <= res.steps_run]
    if not points or points[-1][0] != res.steps_run:  # stopped between two checkpoints
        points.append((int(res.steps_run), res.theta))
    track = []
    for m, (t, theta) in enumerate(points):
        last = m == len(points) - 1
        meas = nw.measure(net, theta, X, B, exact=last or (m + 1) % cfg.exact_every == 0)
        eta_t = cfg.eta * min(1.0, t / warmup) if warmup else cfg.eta
        loss = net.loss(theta, X, Y) if np.all(np.isfinite(theta)) else np.nan
        track.append((t, eta_t, loss, meas["a"], meas["s"], meas["eta_exact"]))
    final = nw.row(cfg.dataset, net, res, X, Y, X_test, y_test,
                   optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=cfg.eta, seed=k,
                   init_scale=scale, warmup=warmup, measured=meas)
    final["edge_ratio"] = (final["a"] * cfg.eta / 2 if B == cfg.n
                           else cfg.eta / final["eta_exact"])
    final["track"] = track
    return final


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("theta", "track")} for r in records]


def plot(folder: Path) -> list[Path]:
    cfg, _, _ = load(STUDY, folder)
    records = read_runs(folder, len(grid(cfg)))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(cfg.Bs)))
    for r in records:
        tr = np.array(r["track"], dtype=float)
        c = colors[cfg.Bs.index(r["B"])]
        ratio = tr[:, 3] * cfg.eta / 2 if r["B"] == cfg.n else tr[:, 1] / tr[:, 5]
        ok = np.isfinite(ratio)  # SGD: eta_exact at every exact_every-th measurement
        ax.plot(tr[ok, 0], ratio[ok], color=c, ls="-" if r["warmup"] == 0 else "--",
                lw=1.6 if r["init_scale"] > 1 else 0.9, marker=".", ms=3)
    for B, c in zip(cfg.Bs, colors, strict=True):
        ax.plot([], [], color=c, label="GD: a eta/2" if B == cfg.n else f"B={B}: eta/eta_exact")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("distance to the edge (1: at the edge)")
    ax.set_title("dashed: warm-up; thick: large initialisation")
    ax.legend(fontsize=8)
    return save(fig, folder, "edge")


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = table(cfg, records)
    *_, desc = nw.data_of(cfg)
    lines = ["# Where training ends relative to its edge of stability", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}, eta = {cfg.eta}, {cfg.steps} steps.", "",
             "| B | init scale | warm-up | runs | converged | edge ratio (mean) | max |",
             "|---|---|---|---|---|---|---|"]
    groups = {}
    for r in rows:
        key = (r["B"], r["init_scale"], r["warmup"])
        groups.setdefault(key, []).append(r)
    out = []
    for (B, scale, warm), rs in groups.items():
        ratios = np.array([r["edge_ratio"] for r in rs], dtype=float)
        lines.append(f"| {'GD' if B == cfg.n else B} | {scale:g} | {warm} | {len(rs)} | "
                     f"{sum(r['converged'] for r in rs)} | {np.nanmean(ratios):.3f} | "
                     f"{np.nanmax(ratios):.3f} |")
        out.append(dict(B=B, init_scale=scale, warmup=warm, mean=float(np.nanmean(ratios))))
    lines += ["", "Edge ratio: a eta / 2 for GD, eta / eta_exact(B) for SGD (1 = at the edge "
              "of mean-square stability).", "", "![edge](edge.png)", ""]
    return "\n".join(lines), {"data": desc, "groups": out, "figures": ["edge"]}


STUDY = Study(name="nn_edge", config=Config, size=lambda c: len(grid(c)), task=task,
              table=table, summary=summary, plot=plot, files=nw.models_file)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
