"""Beyond the paper: four edges of stability along training, side by side.

For several batch sizes (GD included), initialisation scales and with or without a
linear learning-rate warm-up, a net is trained while, at every measurement, four
ratios are recorded with the learning rate ``eta_t`` in use at that step
(``docs/theory.md``, section 10):

- ``a eta_t / 2``: the GD edge (sharpness against ``2/eta``);
- ``eta_t / 2 * E_B[g_B^T H_B g_B / ||g_B||^2]``: batch sharpness against ``2/eta``, the
  quantity Andreyev & Beneventano (2024) report hovering at 1 for SGD;
- ``eta_t / eta_exact(B)``: mean-square stability of the linearization;
- ``eta_t / eta_as(B)``: almost-sure stability (where the top Lyapunov exponent of the
  linearization changes sign).

Each measures the trained point (Gauss-Newton per-sample Hessians for the last two).
At the end, training stops at ``loss_tol`` and the end point is polished to an exact
minimum (the pipeline of :mod:`sim.studies.networks`), whose three linear ratios are
reported with the learning rate the run ended with. Which ratio hovers at 1 (its median
over the second half of the measurements within :data:`HOVER`) is read off the data.

    python scripts/nn_edge.py [--quick | --full] [--out results]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim.montecarlo import almost_sure_threshold
from sim.nets import batch_sharpness, curvature, to_ensemble, train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, read_runs
from sim.studies import networks as nw
from sim.studies.text import num

EDGES = ("gd", "batch", "mean_square", "almost_sure")
"""The four ratios, in the order of the track's columns after ``t, eta_t, loss``."""
LABELS = {"gd": "a eta/2", "batch": "batch sharpness eta/2",
          "mean_square": "eta/eta_exact(B)", "almost_sure": "eta/eta_as(B)"}
HOVER = (0.9, 1.1)
"""A ratio hovers at 1 in a run when its median over the second half of the run's
measurements lies in this interval."""


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(100, "training samples (the first n)", low=2, quick=50)
    hidden: tuple[int, ...] = option((128, 128), "hidden layer widths", low=1, quick=(64,),
                                     full=(128,))
    eta: float = option(0.2, "learning rate (after the warm-up)", positive=True,
                        quick=0.5)
    Bs: tuple[int, ...] = option((2, 4, 10, 100), "batch sizes (n: GD)", low=1,
                                 quick=(4, 50))
    scales: tuple[float, ...] = option((1.0, 3.0), "initialisation scales", positive=True)
    warmups: tuple[int, ...] = option((0, 4000), "warm-up steps (eta t / warmup at step t; "
                                      "each spans at least two measurements)", low=0,
                                      quick=(0, 800))
    seeds: int = option(2, "seeds per setting", low=1, quick=1, full=1)
    steps: int = option(20000, "training steps at most", low=1, quick=2000)
    segments: int = option(20, "measurements along training", low=2, quick=8)
    exact_every: int = option(2, "eta_exact and eta_as at every this many measurements "
                                 "(and at the end)", low=1, quick=3)
    batches: int = option(64, "batches per batch-sharpness estimate", low=1, quick=16)
    lyapunov_paths: int = option(64, "paths per Lyapunov-exponent estimate", low=2,
                                 quick=32)
    lyapunov_steps: int = option(500, "steps per Lyapunov-exponent estimate", low=10,
                                 quick=200)
    loss_tol: float = option(1e-5, "training stops at this loss; polish takes over",
                             positive=True, quick=1e-4)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)
        if self.steps % self.segments:
            raise ValueError(f"segments must divide steps = {self.steps}")
        seg = self.steps // self.segments
        if any(w and not 2 * seg <= w <= self.steps for w in self.warmups):
            raise ValueError(f"every non-zero warm-up must span at least two measurements "
                             f"(>= {2 * seg} steps) and at most steps = {self.steps}, got "
                             f"{self.warmups}")


net_of = nw.net_of


def grid(cfg: Config):
    return list(itertools.product(cfg.Bs, cfg.scales, cfg.warmups, range(cfg.seeds)))


def eta_at(cfg: Config, warmup: int, t: int) -> float:
    """The learning rate in use at step ``t`` (the linear warm-up of :func:`train`)."""
    return cfg.eta * min(1.0, t / warmup) if warmup else cfg.eta


def edges(cfg: Config, net, theta, X, Y, B: int, eta_t: float, linear: bool,
          seed: int) -> tuple[float, ...]:
    """``a``, ``s`` and the four ratios at ``theta`` (NaN for the two linear ones unless
    ``linear``)."""
    a = curvature(net, theta, X, None, which="a").a
    bs = batch_sharpness(net, theta, X, Y, B, batches=cfg.batches, seed=seed)
    ms = as_ = np.nan
    if linear and eta_t > 0:
        ens = to_ensemble(net, theta, X, reduce=True)
        th = sim.thresholds(ens, B)
        ast = almost_sure_threshold(ens, B, lower=th.eta_exact, steps=cfg.lyapunov_steps,
                                    paths=cfg.lyapunov_paths, seed=seed)
        ms, as_ = eta_t / th.eta_exact, eta_t / ast.value
    return a * eta_t / 2, bs * eta_t / 2, ms, as_


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
        eta_t = eta_at(cfg, warmup, t)
        if not np.all(np.isfinite(theta)):
            track.append((t, eta_t, np.nan, *[np.nan] * len(EDGES)))
            continue
        linear = m == len(points) - 1 or (m + 1) % cfg.exact_every == 0
        track.append((t, eta_t, net.loss(theta, X, Y),
                      *edges(cfg, net, theta, X, Y, B, eta_t, linear, seed)))
    found = nw.finish(net, res, X, Y, eta=cfg.eta, sampling=B, steps=cfg.steps, seed=seed,
                      labels=y)
    eta_end = eta_at(cfg, warmup, int(res.steps_run))
    final = nw.minimum_row(cfg.dataset, net, found, X, Y, X_test, y_test,
                           optimizer="gd" if B == cfg.n else "sgd", sampling=B, eta=eta_end,
                           seed=k, init_scale=scale, warmup=warmup)
    if found.at_minimum:  # the minimum's linear ratios at the eta the run ended with
        ens = to_ensemble(net, found.polish.theta, X, reduce=True)
        ast = almost_sure_threshold(ens, B, lower=final["eta_exact"],
                                    steps=cfg.lyapunov_steps, paths=cfg.lyapunov_paths,
                                    seed=seed)
        final.update(end_gd=final["a"] * eta_end / 2,
                     end_mean_square=eta_end / final["eta_exact"],
                     end_almost_sure=eta_end / ast.value)
    final["track"] = track
    return final


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("theta", "track")} for r in records]


def hover(track) -> dict:
    """Per edge: the median ratio over the second half of the measurements where it was
    measured, and whether it lies in :data:`HOVER`."""
    tr = np.array(track, dtype=float)
    out = {}
    for j, e in enumerate(EDGES):
        col = tr[:, 3 + j]
        ok = np.flatnonzero(np.isfinite(col))
        late = col[ok[len(ok) // 2:]] if ok.size else np.array([])
        med = float(np.median(late)) if late.size else np.nan
        out[e] = dict(median=med, hovers=bool(HOVER[0] <= med <= HOVER[1]))
    return out


def groups(cfg: Config, records: list[dict]) -> list[dict]:
    """Per setting (B, init scale, warm-up): runs, minima, each edge's late median (mean
    over runs) and how many runs hover at 1, and the end ratios at the minima."""
    out = []
    for B, scale, warm in itertools.product(cfg.Bs, cfg.scales, cfg.warmups):
        rs = [r for r in records if (r["B"], r["init_scale"], r["warmup"]) == (B, scale, warm)]
        hv = [hover(r["track"]) for r in rs]
        kept, why = nw.at_minimum(rs)
        g = dict(B=B, init_scale=scale, warmup=warm, runs=len(rs), minima=len(kept),
                 left_out=why)
        for e in EDGES:
            meds = [h[e]["median"] for h in hv if np.isfinite(h[e]["median"])]
            g[e] = float(np.mean(meds)) if meds else np.nan
            g[f"{e}_hovers"] = sum(h[e]["hovers"] for h in hv)
        for e in ("gd", "mean_square", "almost_sure"):
            vals = [r[f"end_{e}"] for r in kept]
            g[f"end_{e}"] = float(np.mean(vals)) if vals else np.nan
        out.append(g)
    return out


def sentence(n: int, gs: list[dict]) -> str:
    """Which edge hovers at 1, in which settings, from :func:`groups` (``n``: the batch
    size that is GD)."""
    def name(g):
        return (f"{'GD' if g['B'] == n else 'B=' + str(g['B'])}, init {g['init_scale']:g}, "
                f"warm-up {g['warmup']}")

    parts = []
    for e in EDGES:
        where = [name(g) for g in gs if g["runs"] and g[f"{e}_hovers"] * 2 > g["runs"]]
        parts.append(f"{LABELS[e]} in {len(where)} of {len(gs)} settings"
                     + (f" ({'; '.join(where)})" if where else ""))
    return ("Hovers at 1 (median over the second half of the measurements in "
            f"[{HOVER[0]:g}, {HOVER[1]:g}], in most of the setting's runs): "
            + "; ".join(parts) + ".")


def plot(folder: Path) -> list[Path]:
    cfg, _, _ = load(STUDY, folder)
    records = read_runs(folder, len(grid(cfg)))
    fig, axes = plt.subplots(1, len(EDGES), figsize=(4.2 * len(EDGES), 4), sharey=True)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(cfg.Bs)))
    for r in records:
        tr = np.array(r["track"], dtype=float)
        c = colors[cfg.Bs.index(r["B"])]
        for j, ax in enumerate(axes):
            ok = np.isfinite(tr[:, 3 + j])
            ax.plot(tr[ok, 0], tr[ok, 3 + j], color=c, ls="-" if r["warmup"] == 0 else "--",
                    lw=1.6 if r["init_scale"] > 1 else 0.9, marker=".", ms=3)
    for ax, e in zip(axes, EDGES, strict=True):
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhspan(*HOVER, color="0.85", zorder=0)
        ax.set_title(LABELS[e])
        ax.set_xlabel("step")
        ax.set_yscale("log")
    for B, c in zip(cfg.Bs, colors, strict=True):
        axes[0].plot([], [], color=c, label="GD" if B == cfg.n else f"B={B}")
    axes[0].set_ylabel("ratio (1: at the edge; dashed: warm-up; thick: large init)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, folder, "edge")


def table_lines(n: int, gs: list[dict]) -> list[str]:
    lines = ["| B | init | warm-up | minima (left out) | " + " | ".join(
        f"{LABELS[e]} (late median; runs at 1)" for e in EDGES)
        + " | at the minimum: a eta/2, eta/eta_exact, eta/eta_as |",
        "|---|---|---|---|" + "---|" * len(EDGES) + "---|"]
    for g in gs:
        cells = " | ".join(f"{num(g[e], '.3f', 'not measured')}; {g[e + '_hovers']} of "
                           f"{g['runs']}" for e in EDGES)
        end = ", ".join(num(g[f"end_{e}"], ".3f", "no minimum")
                        for e in ("gd", "mean_square", "almost_sure"))
        lines.append(f"| {'GD' if g['B'] == n else g['B']} | {g['init_scale']:g} | "
                     f"{g['warmup']} | {g['minima']} of {g['runs']} "
                     f"({nw.left_out(g['left_out'])}) | {cells} | {end} |")
    return lines


def summary(cfg: Config, records: list[dict], folder: Path):
    gs = groups(cfg, records)
    *_, desc = nw.data_of(cfg)
    text = sentence(cfg.n, gs)
    table = table_lines(cfg.n, gs)
    lines = ["# Four edges of stability along training", "",
             f"Data: {desc}. Net: {net_of(cfg)!r}, eta = {cfg.eta} after the warm-up, up to "
             f"{cfg.steps} steps to loss {cfg.loss_tol:g}; {cfg.segments} measurements, "
             f"eta_exact and eta_as at every {cfg.exact_every} measurements and the last. "
             "Ratios use the learning rate in use at each step; the last column the one each "
             "run ended with, at its polished minimum.", "", *table, "", text, "",
             "![edge](edge.png)", ""]
    return "\n".join(lines), {"data": desc, "n": cfg.n, "groups": gs, "sentence": text,
                              "table": table, "figures": ["edge"]}


STUDY = Study(name="nn_edge", config=Config, size=lambda c: len(grid(c)), task=task,
              table=table, summary=summary, plot=plot, files=nw.models_file,
              check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
