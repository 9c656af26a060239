"""The moment Lyapunov spectrum Lambda(q) of linearized SGD, by cloning.

``Lambda(q) = lim (1/t) log E||x_t||^q`` against ``q`` (``docs/theory.md``, section 8)
for the toy's sharp minimum at several learning rates and for a random ``d >= 2``
ensemble: its slope at 0 is the Lyapunov exponent (almost-sure stability),
``Lambda(2) = log rho(T)`` (mean square) and ``Lambda(4)`` is ``log rho`` of the
fourth-moment operator. A second figure puts the toy's ordered thresholds
``eta_as >= eta_1 >= eta_2 >= eta_4`` on one axis with the probability that SGD leaves
the minimum.

    python scripts/moment_spectrum.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim import nonlinear_toy as toy
from sim.higher import almost_sure_threshold, fourth_moment_operator, moment_threshold
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, read_runs

REPLICAS = 8
"""Independent cloning replicas per estimate (Student-t intervals with 7 degrees of
freedom)."""

@dataclass(frozen=True)
class Config:
    toy_etas: tuple[float, ...] = option((0.5, 0.555, 0.7), "learning rates of the toy",
                                         positive=True)
    qs: tuple[float, ...] = option((0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0), "moment orders",
                                   low=0.0)
    population: int = option(4000, "clones", low=8, quick=2000, full=20000)
    steps: int = option(150, "steps per replica", low=8)
    escape_etas: tuple[float, ...] = option((0.54, 0.548, 0.552, 0.556, 0.56, 0.565, 0.58),
                                            "learning rates of the escape runs",
                                            positive=True)
    runs: int = option(2000, "escape runs per learning rate", low=1, quick=500)
    seed: int = option(0, "study seed", low=0)


def systems(cfg: Config):
    """``(label, ensemble, eta, B)`` of each spectrum."""
    sharp = sim.toy()[1]
    out = [(f"toy x = 1, eta = {e:g}", sharp, e, 1) for e in cfg.toy_etas]
    ens = sim.wishart(6, 3, 1, seed=cfg.seed)
    th = sim.thresholds(ens, 1)
    out += [(f"wishart d = 3, eta = {r:g} eta_exact", ens, r * th.eta_exact, 1)
            for r in (0.8, 1.2)]
    return out


def size(cfg: Config) -> int:
    return len(systems(cfg)) + 1


def task(cfg: Config, index: int, seed: int) -> dict:
    """A spectrum per system; the last task: the toy's thresholds and escape runs."""
    if index == len(systems(cfg)):
        h = sim.toy()[1].Hs[:, 0, 0]  # curvatures of the sharp minimum x = 1
        th = {"as": almost_sure_threshold(h, 1),
              **{str(k): moment_threshold(h, 1, q=k) for k in (1, 2, 4)}}
        esc = [toy.simulate_toy(e, cfg.runs, 5000, seed + k).escape_probability
               for k, e in enumerate(cfg.escape_etas)]
        return {"thresholds": th, "escape": esc}
    label, ens, eta, B = systems(cfg)[index]
    ests = sim.moment_lyapunov(ens, eta, B, list(cfg.qs), steps=cfg.steps,
                               population=cfg.population, seed=seed, replicas=REPLICAS)
    lyap = sim.lyapunov_exponent(ens, eta, B, steps=4000, paths=512, seed=seed)
    T4 = fourth_moment_operator(ens, eta, B) if ens.d <= 3 else None
    return {"label": label, "eta": eta, "q": list(cfg.qs),
            "value": [e.value for e in ests], "se": [e.se for e in ests],
            "bias": [e.bias for e in ests], "lyapunov": lyap.value,
            "log_rho": sim.spectral_radius(ens, eta, B).log_rho,
            "log_rho4": float(np.log(np.abs(np.linalg.eigvals(T4)).max()))
            if T4 is not None else np.nan}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    rows = []
    for r in records[:-1]:
        for qv, v, se, b in zip(r["q"], r["value"], r["se"], r["bias"], strict=True):
            rows.append(dict(system=r["label"], eta=r["eta"], q=qv, Lambda=v, se=se, bias=b,
                             lyapunov=r["lyapunov"], log_rho=r["log_rho"],
                             log_rho4=r["log_rho4"]))
    return rows


def plot(folder: Path) -> list[Path]:
    cfg, _, _ = load(STUDY, folder)
    records = read_runs(folder, size(cfg))
    out = []
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    for k, r in enumerate(records[:-1]):
        c = f"C{k}"
        qs, lam = np.array(r["q"]), np.array(r["value"])
        ax.errorbar(qs, lam, yerr=np.array(r["se"]) * 2, fmt="o-", ms=3, color=c, lw=1.2,
                    label=r["label"])
        ax.plot([0, 1.5], [0, 1.5 * r["lyapunov"]], ":", color=c, lw=1)
        ax.plot([2], [r["log_rho"]], "s", mfc="none", color=c, ms=9)
        if np.isfinite(r["log_rho4"]):
            ax.plot([4], [r["log_rho4"]], "D", mfc="none", color=c, ms=9)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("moment order $q$")
    ax.set_ylabel(r"$\Lambda(q)$")
    ax.set_title(r"cloning (points); dotted: slope $\lambda$ at 0; squares: $\log\rho(T)$; "
                 r"diamonds: 4th moment", fontsize=9)
    ax.legend(fontsize=7)
    out += save(fig, folder, "moment_spectrum")
    last = records[-1]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(cfg.escape_etas, last["escape"], "o-", color="C3", label="P(SGD leaves x = 1)")
    for name, style in (("as", "-"), ("1", "--"), ("2", "-."), ("4", ":")):
        label = "almost sure" if name == "as" else f"q = {name}"
        ax.axvline(last["thresholds"][name], ls=style, color="k", lw=1,
                   label=rf"$\eta$ ({label}) = {last['thresholds'][name]:.4f}")
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel("escape probability")
    ax.legend(fontsize=7)
    out += save(fig, folder, "thresholds")
    return out


def summary(cfg: Config, records: list[dict], folder: Path):
    last = records[-1]
    th = last["thresholds"]
    lines = ["# The moment Lyapunov spectrum", "",
             f"Cloning with {cfg.population} clones, {REPLICAS} replicas, {cfg.steps} steps.", "",
             "| system | Lambda(2) (cloning) | log rho(T) | Lambda(4) (cloning) | log rho(4th) | "
             "Lyapunov exponent |", "|---|---|---|---|---|---|"]
    for r in records[:-1]:
        i2, i4 = r["q"].index(2.0), r["q"].index(4.0)
        lines.append(f"| {r['label']} | {r['value'][i2]:+.4f} +- {r['se'][i2]:.1g} | "
                     f"{r['log_rho']:+.4f} | {r['value'][i4]:+.4f} +- {r['se'][i4]:.1g} | "
                     f"{r['log_rho4']:+.4f} | {r['lyapunov']:+.4f} |")
    lines += ["", f"Toy thresholds: eta_as = {th['as']:.4f} >= eta_1 = {th['1']:.4f} >= "
              f"eta_2 = {th['2']:.4f} >= eta_4 = {th['4']:.4f}.", "",
              "| eta | " + " | ".join(f"{e:g}" for e in cfg.escape_etas) + " |",
              "|---|" + "---|" * len(cfg.escape_etas),
              "| P(escape) | " + " | ".join(f"{p:.3f}" for p in last["escape"]) + " |", "",
              "![moment spectrum](moment_spectrum.png)", "![thresholds](thresholds.png)", ""]
    return "\n".join(lines), {"thresholds": th, "escape": last["escape"],
                              "figures": ["moment_spectrum", "thresholds"]}


STUDY = Study(name="moment_spectrum", config=Config, size=size, task=task, table=table,
              summary=summary, plot=plot)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
