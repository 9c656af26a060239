"""The sharpness/non-uniformity diagram (Wu, Ma & E, figure 2), with exact verdicts.

Panel (a): fixed ``eta`` and ``n``, several batch sizes ``B``; panel (b): fixed ``B``,
several ``eta``. Each shows the box ``a <= 2/eta``, ``s <= 1/(eta sqrt(gamma))`` and
the exact 1-D boundary ``(1 - eta a)^2 + eta^2 gamma s^2 = 1``. The overlay places
random ``d >= 2`` ensembles at their ``(a, s)``, coloured by exact mean-square
stability (``rho(T) <= 1``): points stable outside the box show that its
non-uniformity bound is not necessary once ``d >= 2``.

    python scripts/diagram.py [--full] [--out results] [--quiet]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, task_seeds

CHUNK = 20
"""Ensembles per task."""


@dataclass(frozen=True)
class Config:
    eta: float = option(0.5, "learning rate of the overlay and panel (a)", positive=True)
    n: int = option(10, "samples per ensemble", low=2)
    Bs: tuple[int, ...] = option((1, 2, 5, 10), "batch sizes of panel (a)", low=1)
    B_fixed: int = option(1, "batch size of panel (b) and the overlay", low=1)
    etas: tuple[float, ...] = option((0.25, 0.5, 1.0), "learning rates of panel (b)",
                                     positive=True)
    ensembles: int = option(400, "random ensembles in the overlay", low=1, full=4000)
    d: tuple[int, ...] = option((2, 3), "dimensions of the random ensembles", low=1)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        if self.B_fixed > self.n or any(B > self.n for B in self.Bs):
            raise ValueError(f"B_fixed and Bs must be <= n = {self.n}")


def boundary_1d(eta: float, gamma: float, a: np.ndarray) -> np.ndarray:
    """``s`` on ``(1 - eta a)^2 + eta^2 gamma s^2 = 1`` for ``0 <= a <= 2/eta``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.clip(1 - (1 - eta * a) ** 2, 0, None) / (eta**2 * gamma))


def random_ensembles(cfg: Config, index: int, seed: int):
    """The ensembles of task ``index``: ``d`` in ``cfg.d``, each rescaled so that its
    sharpness is uniform on ``(0.05, 2.4)/eta``. Two families alternate: Gaussian factors
    of full rank (``G_i`` iid ``N(0, 1)``), and heterogeneous ones (rank ``1..d``, each
    sample scaled by a factor uniform on ``(0.2, 2)``: larger non-uniformity)."""
    rng = np.random.default_rng(seed)
    for k in range(index * CHUNK, min((index + 1) * CHUNK, cfg.ensembles)):
        d = int(rng.choice(cfg.d))
        if k % 2 == 0:
            G = rng.standard_normal((cfg.n, d, d))
        else:
            r = int(rng.integers(1, d + 1))
            G = rng.standard_normal((cfg.n, d, r)) * rng.uniform(0.2, 2.0, size=(cfg.n, 1, 1))
        ens = sim.from_factors(G, name=f"random-{k}")
        target = rng.uniform(0.05, 2.4) / cfg.eta
        yield sim.from_factors(G * np.sqrt(target / ens.a), name=f"random-{k}")


def all_ensembles(cfg: Config):
    """Every ensemble of the study, in order (what the tasks see)."""
    for i, seed in enumerate(task_seeds(cfg.seed, size(cfg))):
        yield from random_ensembles(cfg, i, seed)


def size(cfg: Config) -> int:
    return -(-cfg.ensembles // CHUNK)


def task(cfg: Config, index: int, seed: int) -> dict:
    g = sim.batch_factor(cfg.n, cfg.B_fixed)
    rows = []
    for ens in random_ensembles(cfg, index, seed):
        rep = sim.report(ens, cfg.eta, cfg.B_fixed)
        rows.append(dict(name=ens.name, d=ens.d, r=ens.r, a=ens.a, s=ens.s, gamma=g,
                         rho=rep.rho, stable=rep.stable["exact"], box=rep.box,
                         theorem=rep.stable["theorem"],
                         outside_box_stable=rep.stable["exact"] and not rep.box,
                         ratio=cfg.eta * np.sqrt(g) * ens.s))
    return {"rows": rows}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [row for rec in records for row in rec["rows"]]


def _panel(ax, eta, gamma, color, label):
    """Exact 1-D boundary (solid) and box (dashed) for one ``(eta, gamma)``."""
    if gamma == 0:  # B = n: gradient descent, only a <= 2/eta
        ax.axvline(2 / eta, color=color, lw=1.8, label=rf"GD ({label}): $a = 2/\eta$")
        return
    a = np.linspace(0, 2 / eta, 400)
    ax.plot(a, boundary_1d(eta, gamma, a), color=color, lw=1.8, label=f"exact 1-D, {label}")
    s_box = 1 / (eta * np.sqrt(gamma))
    ax.plot([0, 2 / eta, 2 / eta], [s_box, s_box, 0], color=color, ls="--", lw=1.2)


def plot(folder: Path) -> list[Path]:
    cfg, _, rows = load(STUDY, folder)
    out = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(cfg.Bs), len(cfg.etas))))
    ax = axes[0]
    for B, c in zip(cfg.Bs, colors, strict=False):
        _panel(ax, cfg.eta, sim.batch_factor(cfg.n, B), c, f"$B={B}$")
    ax.set_title(rf"(a) $\eta = {cfg.eta}$, $n = {cfg.n}$: box (dashed) and exact 1-D boundary")
    ax = axes[1]
    g = sim.batch_factor(cfg.n, cfg.B_fixed)
    for eta, c in zip(cfg.etas, colors, strict=False):
        _panel(ax, eta, g, c, rf"$\eta={eta}$")
    ax.set_title(rf"(b) $B = {cfg.B_fixed}$, $n = {cfg.n}$: varying $\eta$")
    for ax in axes:
        ax.set_xlabel("sharpness $a$")
        ax.set_ylabel("non-uniformity $s$")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    out += save(fig, folder, "diagram")

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    _panel(ax, cfg.eta, g, "k", f"$B={cfg.B_fixed}$")
    for stable, color, label in ((True, "C0", r"stable: $\rho(T) \leq 1$"),
                                 (False, "C3", r"unstable: $\rho(T) > 1$")):
        pts = [(r["a"], r["s"]) for r in rows if r["stable"] == stable]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=9, color=color, alpha=0.6, label=label)
    outside = [(r["a"], r["s"]) for r in rows if r["outside_box_stable"]]
    if outside:
        xs, ys = zip(*outside, strict=True)
        ax.scatter(xs, ys, s=40, facecolors="none", edgecolors="C2", lw=1.2,
                   label=f"stable outside the box ({len(outside)})")
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_xlim(0, 2.5 / cfg.eta)
    ax.set_ylim(0, max(r["s"] for r in rows) * 1.05)
    ax.set_title(rf"random ensembles, $d \in \{{{', '.join(map(str, cfg.d))}\}}$, "
                 rf"$\eta={cfg.eta}$, "
                 rf"$B={cfg.B_fixed}$, $n={cfg.n}$")
    ax.legend(fontsize=7, loc="upper right")
    out += save(fig, folder, "overlay")
    return out


def summary(cfg: Config, records: list[dict], folder: Path):
    rows = table(cfg, records)
    stable = [r for r in rows if r["stable"]]
    outside = [r for r in rows if r["outside_box_stable"]]
    in_box_unstable = [r for r in rows if r["box"] and not r["stable"]]
    theorem_unstable = [r for r in rows if r["theorem"] and not r["stable"]]
    best = max((r["ratio"] for r in stable), default=float("nan"))
    lines = [
        "# Sharpness/non-uniformity diagram", "",
        f"{len(rows)} random ensembles (d in {list(cfg.d)}, n = {cfg.n}) at eta = {cfg.eta}, "
        f"B = {cfg.B_fixed} (gamma = {sim.batch_factor(cfg.n, cfg.B_fixed):.4f}).", "",
        f"- mean-square stable (rho(T) <= 1): {len(stable)}",
        f"- stable but outside the box (s > 1/(eta sqrt(gamma))): {len(outside)}",
        f"- largest eta sqrt(gamma) s among stable ensembles: {best:.4f} (values above 1 "
        "exist for d >= 2; about 1.08 was reported for d = 3, n = 6, B = 1)",
        f"- inside the box but unstable (the box is not sufficient): {len(in_box_unstable)}",
        f"- theorem's condition holds but unstable (must be 0: the theorem is sufficient): "
        f"{len(theorem_unstable)}", "",
        "![diagram](diagram.png)", "![overlay](overlay.png)", ""]
    return "\n".join(lines), {
        "ensembles": len(rows), "stable": len(stable), "stable_outside_box": len(outside),
        "in_box_unstable": len(in_box_unstable), "theorem_but_unstable": len(theorem_unstable),
        "best_ratio": best, "figures": ["diagram", "overlay"]}


STUDY = Study(name="diagram", config=Config, size=size, task=task, table=table,
              summary=summary, plot=plot)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
