"""The theorem on a network: nonlinear SGD leaves an exact minimum where linear stability
says it must (``docs/theory.md``, section 9).

Each minimum is found by the pipeline every network study shares
(:func:`sim.studies.networks.minimum`: GD or SGD to a small loss, then Gauss-Newton
polish to an exact zero-loss minimum ``theta*``). For each batch size ``B`` the
minimum's per-sample Hessian ensemble, reduced exactly to ``range(H)``, gives
``eta_exact(B)`` (mean square), ``eta_as(B)`` (where the top Lyapunov exponent crosses
0, bracketed by Monte Carlo) and ``eta_gd = 2/a``. Then nonlinear SGD (the network
itself, :func:`sim.nets.train_many`) starts at ``theta* + eps u`` (``u`` a random unit
vector, ``eps`` a small fraction of ``||theta*||``) at ``eta = rho * eta_exact(B)`` for a
grid of ``rho``, and a run *leaves* when its loss exceeds ``leave_factor`` times its
starting loss within ``steps`` steps (checked every ``check_every`` steps). Beside
each count stands the linearized model's (:func:`sim.montecarlo.exit_steps` on the reduced
ensemble, the same start projected to ``range(H)``, the same batches, the same
criterion on its loss ``x^T H x / 2``).

    python scripts/nn_stay.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import sim
from sim.estimates import wilson
from sim.montecarlo import almost_sure_threshold, exit_steps
from sim.nets import MLP, to_ensemble, train_many
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw

TRAINERS = ("gd", "sgd")


@dataclass(frozen=True)
class Config:
    datasets: tuple[str, ...] = option(("digits",), "training data sets",
                                       choices=("digits", "mnist1d"),
                                       full=("digits", "mnist1d"))
    n: int = option(40, "training samples (the first n)", low=2)
    hidden: tuple[int, ...] = option((32,), "hidden layer widths", low=1)
    activations: tuple[str, ...] = option(("tanh",), "activations of the nets",
                                          choices=("tanh", "relu"), full=("tanh", "relu"))
    trainers: tuple[str, ...] = option(("gd",), "how the minima are found (then polished)",
                                       choices=TRAINERS, full=("gd", "sgd"))
    train_eta: float = option(0.2, "learning rate of the training that finds the minima",
                              positive=True)
    train_B: int = option(4, "batch size of the SGD trainer", low=1)
    train_steps: int = option(20000, "training steps at most (stops at the polish start "
                                     "loss)", low=1)
    inits: int = option(1, "initialisations per (data, net, trainer)", low=1)
    Bs: tuple[int, ...] = option((1, 4), "batch sizes of the stay/leave experiment", low=1,
                                 full=(1, 2, 4, 10, 40))
    ratios: tuple[float, ...] = option(
        (0.8, 0.9, 0.95, 1.0, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5), "eta / eta_exact(B) grid",
        positive=True, full=(0.8, 0.9, 0.95, 0.98, 1.0, 1.01, 1.02, 1.03, 1.05, 1.1, 1.2,
                             1.5))
    runs: int = option(32, "runs per (minimum, B, ratio)", low=1, full=48)
    steps: int = option(3000, "horizon T of a run", low=1)
    check_every: int = option(10, "steps between loss checks", low=1)
    eps: float = option(1e-5, "start distance from theta*, as a fraction of ||theta*||",
                        positive=True)
    leave_factor: float = option(100.0, "a run leaves when its loss exceeds this times "
                                        "its start loss", positive=True)
    lyapunov_paths: int = option(128, "paths per Lyapunov-exponent estimate", low=2)
    lyapunov_steps: int = option(1000, "steps per Lyapunov-exponent estimate", low=10)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        if any(B > self.n for B in self.Bs) or self.train_B > self.n:
            raise ValueError(f"batch sizes must be <= n = {self.n}")
        if self.steps % self.check_every:
            raise ValueError(f"check_every must divide steps = {self.steps}")
        if self.leave_factor <= 1:
            raise ValueError("leave_factor must exceed 1")
        if list(self.ratios) != sorted(set(self.ratios)):
            raise ValueError("ratios must increase")


def minima(cfg: Config) -> list[tuple]:
    """``(dataset, activation, trainer, init)`` of every minimum, in task order."""
    return [(d, a, t, k) for d in cfg.datasets for a in cfg.activations
            for t in cfg.trainers for k in range(cfg.inits)]


def size(cfg: Config) -> int:
    return len(minima(cfg)) * len(cfg.Bs)


def net_of(cfg: Config, dataset: str, activation: str) -> MLP:
    return MLP((nw.input_size(dataset), *cfg.hidden, nw.N_CLASSES), activation, "mean")


@cache
def find_minimum(cfg: Config, key: tuple):
    """``(net, X, Y, found)`` (:class:`~sim.studies.networks.Found`) of one minimum: the
    same on every worker (its seed comes from the study seed and the key's position)."""
    dataset, activation, trainer, _ = key
    X, Y, y, *_ = nw.training_data(dataset, cfg.n, "", cfg.seed)
    net = net_of(cfg, dataset, activation)
    seed = int(np.random.SeedSequence([cfg.seed, minima(cfg).index(key)]).generate_state(1)[0])
    found = nw.minimum(net, net.init(seed), X, Y, eta=cfg.train_eta,
                       sampling=cfg.n if trainer == "gd" else cfg.train_B,
                       steps=cfg.train_steps, seed=seed, labels=y)
    return net, X, Y, found


def task(cfg: Config, index: int, seed: int) -> dict:
    """One minimum and one batch size: thresholds, then nonlinear and linearized runs
    from the same starts with the same batches at every ratio."""
    m, b = divmod(index, len(cfg.Bs))
    key = minima(cfg)[m]
    B = cfg.Bs[b]
    net, X, Y, found = find_minimum(cfg, key)
    pol = found.polish
    rec = dict(dataset=key[0], activation=key[1], trainer=key[2], init=key[3], B=B,
               widths="-".join(map(str, net.widths)), n=cfg.n, p=net.n_params,
               nK=cfg.n * net.n_outputs, **nw.minimum_fields(found))
    if not pol.converged:
        return {**rec, "skipped": f"not a minimum: polish {pol.status} ({pol.message})"}
    theta = pol.theta
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((cfg.runs, net.n_params))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    eps = cfg.eps * float(np.linalg.norm(theta))
    ens, Z = to_ensemble(net, theta, X, reduce=True, directions=eps * U)
    th = sim.thresholds(ens, B)
    ast = almost_sure_threshold(ens, B, lower=th.eta_exact, steps=cfg.lyapunov_steps,
                                paths=cfg.lyapunov_paths, seed=seed)
    seeds = [int(s) for s in rng.integers(0, 2**31, cfg.runs)]
    R = len(cfg.ratios)
    etas = np.repeat(np.array(cfg.ratios) * th.eta_exact, cfg.runs)
    out = train_many(net, theta + eps * np.tile(U, (R, 1)), X, Y, etas, B,
                     cfg.steps, seeds * R, record_every=cfg.check_every, labels=None)
    net_steps = nw.leave_steps(out.loss_curves, out.t, out.steps_run,
                               cfg.leave_factor).reshape(R, -1)
    # In the basis of Ensemble.from_gram, H = Lambda / n is diagonal: the loss of the
    # linearized model x^T H x / 2 is checked in O(r).
    Q = np.diag(ens.H).copy()
    lin_steps = np.stack([exit_steps(ens, eta, B, Z, cfg.steps, Q=Q, factor=cfg.leave_factor,
                                     check_every=cfg.check_every, seeds=seeds)
                          for eta in etas[::cfg.runs]])
    return {**rec, "skipped": "", "a": ens.a, "s": ens.s, "rank": ens.d,
            "eta_gd": th.eta_gd, "eta_exact": th.eta_exact, "eta_as": ast.value,
            "eta_as_lo": ast.lo, "eta_as_hi": ast.hi, "as_status": ast.status,
            "as_message": ast.message, "eps": eps,
            "blowups": out.diverged.reshape(R, -1).sum(axis=1).tolist(),
            "net_steps": net_steps, "lin_steps": lin_steps}


def transition(ratios, leaves, runs: int) -> dict:
    """Where P(leave) crosses 1/2 on the ratio grid.

    ``point``: linear interpolation between the grid points around the first crossing;
    ``lo``: the largest ratio at or below it whose Wilson 95% upper bound is below 1/2;
    ``hi``: the smallest ratio at or above it whose Wilson lower bound is above 1/2
    (``-inf``/``inf`` where the grid has none)."""
    ratios, leaves = np.asarray(ratios, float), np.asarray(leaves, float)
    p = leaves / runs
    w_lo, w_hi = wilson(leaves, runs)
    over = np.flatnonzero(p >= 0.5)
    if not over.size:
        point = np.inf
    elif over[0] == 0:
        point = -np.inf
    else:
        i = over[0]
        point = ratios[i - 1] + (ratios[i] - ratios[i - 1]) * (0.5 - p[i - 1]) / (p[i] - p[i - 1])
    below = ratios[(w_hi < 0.5) & (ratios <= point)]
    above = ratios[(w_lo > 0.5) & (ratios >= point)]
    return dict(point=float(point), lo=float(below.max()) if below.size else -np.inf,
                hi=float(above.min()) if above.size else np.inf)


def _fmt_interval(lo: float, hi: float) -> str:
    def f(v):
        return f"{v:.3f}" if np.isfinite(v) else ("below the grid" if v < 0 else
                                                  "above the grid")

    return f"[{f(lo)}, {f(hi)}]"


VERDICTS = ("agrees", "disagrees", "undetermined")


def verdict_of(net: dict, as_lo: float, as_hi: float, as_status: str) -> str:
    """``agrees`` when the network's transition interval overlaps ``eta_as``'s, both
    measured; ``undetermined`` when either was not: the transition off the grid (no
    crossing, or one before the first ratio) or ``eta_as`` without an upper bound; else
    ``disagrees``."""
    if not np.isfinite(net["point"]) or as_status == "no_upper" or not np.isfinite(as_hi):
        return "undetermined"
    return "agrees" if net["lo"] <= as_hi and as_lo <= net["hi"] else "disagrees"


def paired_agreement(net_steps: np.ndarray, lin_steps: np.ndarray) -> float:
    """The fraction of paired runs (same start, same batches) where the network and its
    linearization reach the same verdict, over the ratios where the network's
    ``P(leave)`` is strictly between 0 and 1 (elsewhere agreement is nearly automatic);
    NaN where there is no such ratio."""
    net, lin = net_steps >= 0, lin_steps >= 0
    mixed = (net.mean(axis=1) > 0) & (net.mean(axis=1) < 1)
    return float(np.mean(net[mixed] == lin[mixed])) if mixed.any() else float("nan")


def results(cfg: Config, records: list[dict]) -> list[dict]:
    """Per (minimum, B): the measured transitions, the thresholds as ratios to
    ``eta_exact`` and the verdict (:func:`verdict_of`)."""
    out = []
    for r in records:
        base = {k: r[k] for k in ("dataset", "activation", "trainer", "init", "B", "skipped",
                                  "polish_status", "displacement")}
        if r["skipped"]:
            out.append(base)
            continue
        net = transition(cfg.ratios, (r["net_steps"] >= 0).sum(axis=1), cfg.runs)
        lin = transition(cfg.ratios, (r["lin_steps"] >= 0).sum(axis=1), cfg.runs)
        as_lo, as_hi = r["eta_as_lo"] / r["eta_exact"], r["eta_as_hi"] / r["eta_exact"]
        verdict = verdict_of(net, as_lo, as_hi, r["as_status"])
        paired = paired_agreement(r["net_steps"], r["lin_steps"])
        out.append({**base, "eta_exact": r["eta_exact"], "eta_gd_ratio":
                    r["eta_gd"] / r["eta_exact"], "eta_as_ratio": r["eta_as"] / r["eta_exact"],
                    "eta_as_lo_ratio": as_lo, "eta_as_hi_ratio": as_hi,
                    "as_status": r["as_status"], "net": net, "lin": lin, "verdict": verdict,
                    "paired_agreement": paired, "runs": cfg.runs})
    return out


def table(cfg: Config, records: list[dict]) -> list[dict]:
    """One row per (minimum, B, ratio): leave counts with Wilson intervals, nonlinear and
    linearized, beside the minimum's thresholds."""
    rows = []
    for r in records:
        head = {k: r[k] for k in ("dataset", "activation", "trainer", "init", "B", "widths",
                                  "n", "p", "nK", "steps_run", "trained_loss", "polish_status",
                                  "polish_iterations", "displacement", "loss", "at_minimum")}
        if r["skipped"]:
            rows.append({**head, "skipped": r["skipped"]})
            continue
        for i, rho in enumerate(cfg.ratios):
            k_net = int((r["net_steps"][i] >= 0).sum())
            k_lin = int((r["lin_steps"][i] >= 0).sum())
            (n_lo, l_lo), (n_hi, l_hi) = wilson([k_net, k_lin], cfg.runs)
            rows.append({**head, "skipped": "", "a": r["a"], "s": r["s"], "rank": r["rank"],
                         "eta_gd": r["eta_gd"], "eta_exact": r["eta_exact"],
                         "eta_as": r["eta_as"], "eta_as_lo": r["eta_as_lo"],
                         "eta_as_hi": r["eta_as_hi"], "ratio": rho,
                         "eta": rho * r["eta_exact"], "runs": cfg.runs, "leave_net": k_net,
                         "p_net": k_net / cfg.runs, "p_net_lo": n_lo, "p_net_hi": n_hi,
                         "blowups_net": r["blowups"][i], "leave_lin": k_lin,
                         "p_lin": k_lin / cfg.runs, "p_lin_lo": l_lo, "p_lin_hi": l_hi})
    return rows


AS_WINDOW = (0.9, 1.1)
"""The lower row of the figure: ``eta / eta_as(B)`` around the almost-sure threshold."""


def plot(folder: Path) -> list[Path]:
    """P(leave) per ``B`` (columns): against ``eta / eta_exact(B)`` over the whole grid
    (top), and against ``eta / eta_as(B)`` near 1 (bottom), where the minima's
    transitions line up if the almost-sure threshold is what decides leaving."""
    from matplotlib.lines import Line2D

    cfg, records, _ = load(STUDY, folder)
    fig, axes = plt.subplots(2, len(cfg.Bs), figsize=(3.6 * len(cfg.Bs) + 1, 6.6),
                             sharey=True, squeeze=False)
    keys = minima(cfg)
    colors = plt.cm.tab10(np.arange(len(keys)) % 10)
    rho = np.array(cfg.ratios)
    for r in records:
        if r["skipped"]:
            continue
        color = colors[keys.index((r["dataset"], r["activation"], r["trainer"], r["init"]))]
        k = (r["net_steps"] >= 0).sum(axis=1)
        lo, hi = wilson(k, cfg.runs)
        p = k / cfg.runs
        p_lin = (r["lin_steps"] >= 0).sum(axis=1) / cfg.runs
        top, bottom = axes[:, cfg.Bs.index(r["B"])]
        for ax, x, scale in ((top, rho, r["eta_exact"]),
                             (bottom, rho * r["eta_exact"] / r["eta_as"], r["eta_as"])):
            ax.errorbar(x, p, yerr=[p - lo, hi - p], fmt="o", ms=3.5, color=color, capsize=2)
            ax.plot(x, p_lin, "--", color=color, lw=1)
            ax.axvspan(r["eta_as_lo"] / scale, r["eta_as_hi"] / scale, color=color, alpha=0.12)
            ax.axvline(r["eta_exact"] / scale, color=color, lw=0.8)
            ax.axvline(r["eta_as"] / scale, color=color, ls=":", lw=1)
            if r["eta_gd"] / r["eta_exact"] <= rho[-1]:
                ax.axvline(r["eta_gd"] / scale, color=color, ls="-.", lw=0.8)
    for B, top, bottom in zip(cfg.Bs, axes[0], axes[1], strict=True):
        top.set_title(f"B = {B}")
        top.set_xlabel(r"$\eta / \eta_{exact}(B)$")
        bottom.set_xlabel(r"$\eta / \eta_{as}(B)$")
        bottom.set_xlim(*AS_WINDOW)
    for ax in axes[:, 0]:
        ax.set_ylabel("P(leave) (95% Wilson)")
    handles = [Line2D([], [], color=c, marker="o", ls="", label=" ".join(map(str, key[:3]))
                      + f" #{key[3]}") for key, c in zip(keys, colors, strict=True)]
    handles += [Line2D([], [], color="0.3", ls="--", label="linearized model"),
                Line2D([], [], color="0.3", ls="-", label=r"$\eta_{exact}$"),
                Line2D([], [], color="0.3", ls=":", label=r"$\eta_{as}$ (band: interval)"),
                Line2D([], [], color="0.3", ls="-.", label=r"$\eta_{gd} = 2/a$")]
    ncol = min(len(handles), 6)
    rows = -(-len(handles) // ncol)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Nonlinear SGD leaves an exact minimum (points: the network; dashed: its "
                 "linearization from the same starts and batches)", fontsize=10)
    fig.tight_layout(rect=(0, 0.025 + 0.03 * rows, 1, 1))
    return save(fig, folder, "stay")


def table_lines(results: list[dict]) -> list[str]:
    """The Markdown table of :func:`results` (summary and the main job's report)."""
    lines = ["| data | act | trainer | B | eta_exact | eta_gd/eta_exact | eta_as/eta_exact "
             "| network transition | linearized transition | network = linearized (paired "
             "runs where 0 < P < 1) | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["skipped"]:
            continue
        lines.append(
            f"| {r['dataset']} | {r['activation']} | {r['trainer']} #{r['init']} | {r['B']} | "
            f"{r['eta_exact']:.4g} | {r['eta_gd_ratio']:.3f} | {r['eta_as_ratio']:.3f} "
            f"{_fmt_interval(r['eta_as_lo_ratio'], r['eta_as_hi_ratio'])} | "
            f"{r['net']['point']:.3f} {_fmt_interval(r['net']['lo'], r['net']['hi'])} | "
            f"{r['lin']['point']:.3f} {_fmt_interval(r['lin']['lo'], r['lin']['hi'])} | "
            f"{_fmt_share(r['paired_agreement'])} | {r['verdict']} |")
    return lines


def _fmt_share(v: float) -> str:
    return f"{v:.1%}" if np.isfinite(v) else "n/a (no ratio with 0 < P < 1)"


def verdict(sm: dict) -> str:
    """The result sentence, from a summary's numbers."""
    done = [r for r in sm["results"] if not r["skipped"]]
    if not done:
        return "No pair was measured: no minimum was found (see the left-out list)."
    shares = [r["paired_agreement"] for r in done if np.isfinite(r["paired_agreement"])]
    counts = {v: sum(r["verdict"] == v for r in done) for v in VERDICTS}
    text = (f"The network's transition agrees with eta_as/eta_exact in {counts['agrees']} of "
            f"{sm['pairs']} (minimum, B) pairs and disagrees in {counts['disagrees']} (rule: "
            "the transition's interval overlaps eta_as's; "
            f"{counts['undetermined']} undetermined: a transition off the grid or eta_as "
            "without an upper bound). Where P(leave) is strictly between 0 and 1, nonlinear "
            "and linearized runs from the same start with the same batches reach the same "
            "verdict in " + (f"{np.mean(shares):.1%} of runs." if shares else
                             "(no such ratio)."))
    if sm["left_out"]:
        text += f" {sm['left_out']} pairs were left out: their point was not a minimum."
    return text


def summary(cfg: Config, records: list[dict], folder: Path):
    res = results(cfg, records)
    skipped = [r for r in res if r["skipped"]]
    sm = {"results": res, "agree": sum(r.get("verdict") == "agrees" for r in res),
          "pairs": len(res) - len(skipped), "left_out": len(skipped), "figures": ["stay"]}
    lines = ["# The theorem on a network: SGD stays at an exact minimum only where it is "
             "stable", "",
             f"Nets {', '.join(cfg.activations)} with hidden widths "
             f"{'-'.join(map(str, cfg.hidden))} and {nw.N_CLASSES} outputs (loss mean) on the "
             "first "
             f"{cfg.n} samples of {', '.join(cfg.datasets)}; minima from "
             f"{', '.join(cfg.trainers)} (eta {cfg.train_eta}) polished by Gauss-Newton. Runs "
             f"start at theta* + eps u, eps = {cfg.eps:g} ||theta*||; a run leaves when its "
             f"loss exceeds {cfg.leave_factor:g} x its start within {cfg.steps} steps; "
             f"{cfg.runs} runs per point.", "",
             "Transition: the ratio eta/eta_exact where P(leave) crosses 1/2 (interpolated), "
             "with the interval [largest ratio whose Wilson upper bound < 1/2, smallest whose "
             "lower bound > 1/2]. Rule: the network **agrees** with the theory when that "
             "interval overlaps eta_as/eta_exact's interval.", "",
             *table_lines(res), "", verdict(sm)]
    if skipped:
        lines += ["", "Left out (not minima): " + "; ".join(
            f"{r['dataset']} {r['activation']} {r['trainer']} #{r['init']} B={r['B']}: "
            f"{r['skipped']}" for r in skipped)]
    lines += ["", "![stay](stay.png)", ""]
    return "\n".join(lines), sm


STUDY = Study(name="nn_stay", config=Config, size=size, task=task, table=table,
              summary=summary, plot=plot, check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
