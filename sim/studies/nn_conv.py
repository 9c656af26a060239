"""A convolutional net through :class:`sim.nets.TorchModel`: Figure 3 of Wu, Ma & E for
the paper's second architecture family, and the stay/leave transition at its minima
(``docs/theory.md``, sections 9 and 11).

A small conv net (``Conv2d -> ReLU -> MaxPool -> Linear -> ReLU -> Linear``, float64,
:func:`sim.nets.torch_model.conv_module`) trains on 8x8 digits with GD and SGD (``B`` in
a list, without replacement) to a small loss (:func:`sim.nets.torch_model.sgd`), and
Gauss-Newton polish (:func:`sim.nets.polish`) moves each end point to an exact
zero-loss minimum; points that are not minima are counted and left out. Each minimum
gets ``a``, ``s`` and ``eta_exact`` of its own ``B`` from the exact NTK reduction
(:func:`sim.nets.to_ensemble`), so ``eta / eta_exact`` says where it sits relative to
its edge. At every GD minimum, nonlinear SGD with ``B`` in ``stay_Bs`` then starts at
``theta* + eps u`` at ``eta = ratio x eta_exact(B)``; a run leaves when its loss exceeds
``leave_factor`` times its start loss within ``stay_steps`` steps (the criterion of
:mod:`sim.studies.nn_stay`). The transition (where ``P(leave)`` crosses 1/2, with Wilson
intervals) is compared with the almost-sure threshold ``eta_as(B)``.

Needs PyTorch (``pip install -e ".[torch]"``).

    python scripts/nn_conv.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim.estimates import wilson
from sim.montecarlo import almost_sure_threshold
from sim.nets import curvature, polish, to_ensemble
from sim.plotting import plt, save
from sim.studies import Study, load, main, option
from sim.studies import networks as nw
from sim.studies.nn_stay import VERDICTS, transition, verdict_of
from sim.studies.text import mean_sd, num

SIDE = 8
"""Digits are 8x8 images (one channel)."""


@dataclass(frozen=True)
class Config:
    n: int = option(100, "training samples (the first n digits)", low=2, quick=40)
    channels: int = option(4, "convolution channels", low=1)
    hidden: int = option(32, "width of the hidden Linear layer", low=1)
    eta: float = option(1.0, "learning rate of training", positive=True)
    Bs: tuple[int, ...] = option((4, 16), "SGD batch sizes (GD is added)", low=1,
                                 quick=(8,))
    seeds: int = option(3, "seeds per batch size", low=1, quick=1)
    steps: int = option(20000, "training steps at most (per attempt)", low=1, quick=4000)
    loss_tol: float = option(1e-5, "training stops at this loss; polish takes over",
                             positive=True)
    retries: int = option(2, "train on to loss/100 and polish again after a stalled polish",
                          low=0)
    stay_Bs: tuple[int, ...] = option((1, 4), "batch sizes of the stay/leave runs", low=1,
                                      quick=(2,))
    ratios: tuple[float, ...] = option((0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0),
                                       "eta / eta_exact(B) grid of the stay/leave runs",
                                       positive=True, quick=(0.8, 1.0, 1.25, 1.6))
    runs: int = option(16, "stay/leave runs per ratio", low=1, quick=8)
    stay_steps: int = option(1000, "horizon of a stay/leave run", low=1, quick=300)
    check_every: int = option(10, "steps between loss checks", low=1)
    eps: float = option(1e-5, "start distance from theta*, as a fraction of ||theta*||",
                        positive=True)
    leave_factor: float = option(100.0, "a run leaves when its loss exceeds this times its "
                                        "start loss", positive=True)
    lyapunov_paths: int = option(128, "paths per Lyapunov-exponent estimate", low=2, quick=64)
    lyapunov_steps: int = option(1000, "steps per Lyapunov-exponent estimate", low=10,
                                 quick=400)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        if any(B > self.n for B in (*self.Bs, *self.stay_Bs)):
            raise ValueError(f"batch sizes must be <= n = {self.n}")
        if self.stay_steps % self.check_every:
            raise ValueError(f"check_every must divide stay_steps = {self.stay_steps}")
        if self.leave_factor <= 1:
            raise ValueError("leave_factor must exceed 1")
        if list(self.ratios) != sorted(set(self.ratios)):
            raise ValueError("ratios must increase")


def batch_sizes(cfg: Config) -> list[int]:
    return [*cfg.Bs, cfg.n]


def task_seed(cfg: Config, index: int) -> int:
    """The seed task ``index`` runs with (:func:`sim.studies.core.task_seeds`): it also
    initialises that task's net."""
    from sim.studies.core import task_seeds

    return task_seeds(cfg.seed, STUDY.size(cfg))[index]


def check_torch(cfg: Config) -> None:
    """The ``check`` hook: PyTorch is importable and the data hold ``n`` samples."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError("nn_conv needs PyTorch: pip install -e \".[torch]\"") from None
    nw.training_data("digits", cfg.n, "", cfg.seed)


def data_of(cfg: Config):
    return nw.training_data("digits", cfg.n, "", cfg.seed)


def model_of(cfg: Config, seed: int):
    """The conv net with PyTorch's default initialisation under ``seed``."""
    from sim.nets.torch_model import TorchModel, conv_module, seeded

    module = seeded(conv_module, seed, channels=cfg.channels, hidden=cfg.hidden, side=SIDE,
                    classes=nw.N_CLASSES)
    return TorchModel(module, "mean", input_shape=(1, SIDE, SIDE))


@contextmanager
def one_thread():
    """PyTorch on one thread inside a task (workers are processes; same numbers whatever
    the machine's core count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def find_minimum(cfg: Config, model, X, Y, B: int, seed: int) -> dict:
    """Train (GD for ``B = n``, else SGD) to ``loss_tol``, polish; after a stalled polish
    train on to a hundredth of the loss and polish again (``retries`` times)."""
    from sim.nets.torch_model import sgd

    theta, total, attempts = model.theta(), 0, 0
    tol = cfg.loss_tol
    while True:
        runs = sgd(model, theta, X, Y, cfg.eta, B, cfg.steps, seed + attempts,
                   check_every=cfg.check_every, loss_tol=tol)
        attempts += 1
        total += int(runs.steps_run[0])
        trained, loss = runs.thetas[0], float(runs.loss[0])
        if runs.diverged[0]:
            return dict(theta=trained, trained_loss=loss, steps_run=total, attempts=attempts,
                        diverged=True, polish=None)
        pol = polish(model, trained, X, Y)
        if pol.status not in ("stalled", "max_iter") or attempts > cfg.retries or loss <= 0:
            return dict(theta=trained, trained_loss=loss, steps_run=total, attempts=attempts,
                        diverged=False, polish=pol)
        theta, tol = trained, loss / 100


def stay_leave(cfg: Config, model, theta, X, Y, ens, B: int, seed: int) -> dict:
    """Thresholds of ``B`` and the leave counts of nonlinear SGD at every ratio."""
    from sim.nets.torch_model import sgd

    th = sim.thresholds(ens, B)
    ast = almost_sure_threshold(ens, B, lower=th.eta_exact, steps=cfg.lyapunov_steps,
                                paths=cfg.lyapunov_paths, seed=seed)
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((cfg.runs, model.n_params))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    eps = cfg.eps * float(np.linalg.norm(theta))
    leaves, blowups = [], []
    for k, ratio in enumerate(cfg.ratios):
        runs = sgd(model, theta + eps * U, X, Y, ratio * th.eta_exact, B, cfg.stay_steps,
                   seed + 1 + k, check_every=cfg.check_every)
        left = nw.leave_steps(runs.loss_curves, runs.t, runs.steps_run, cfg.leave_factor)
        leaves.append(int(np.sum(left >= 0)))
        blowups.append(int(np.sum(runs.diverged)))
    return dict(B=B, eta_gd=th.eta_gd, eta_exact=th.eta_exact, eta_as=ast.value,
                eta_as_lo=ast.lo, eta_as_hi=ast.hi, as_status=ast.status, leaves=leaves,
                blowups=blowups)


def task(cfg: Config, index: int, seed: int) -> dict:
    j, k = divmod(index, cfg.seeds)
    B = batch_sizes(cfg)[j]
    X, Y, y, X_test, y_test, _ = data_of(cfg)
    with one_thread():
        model = model_of(cfg, seed)
        found = find_minimum(cfg, model, X, Y, B, seed)
        pol = found["polish"]
        at = pol is not None and pol.converged
        rec = dict(B=B, optimizer="gd" if B == cfg.n else "sgd", seed=k, p=model.n_params,
                   nK=cfg.n * model.n_outputs, steps_run=found["steps_run"],
                   attempts=found["attempts"], trained_loss=found["trained_loss"],
                   diverged=found["diverged"],
                   polish_status="diverged" if pol is None else pol.status,
                   displacement=np.nan if pol is None else float(pol.displacement),
                   at_minimum=bool(at), loss=np.nan, train_acc=np.nan, test_acc=np.nan,
                   a=np.nan, s=np.nan, eta_exact=np.nan, ratio=np.nan, rank=-1,
                   exact_gap=np.nan, stay=[])
        trained = found["theta"]
        if np.all(np.isfinite(trained)):  # the residual term at the trained point
            gn = curvature(model, trained, X, None, which="a")
            ex = curvature(model, trained, X, Y, kind="exact", which="a")
            rec["exact_gap"] = float((ex.a - gn.a) / gn.a)
        if not at:
            return rec
        theta = pol.theta
        ens = to_ensemble(model, theta, X, reduce=True)
        own = sim.thresholds(ens, B)
        rec.update(theta=np.asarray(theta), loss=float(pol.loss),
                   train_acc=model.accuracy(theta, X, y),
                   test_acc=model.accuracy(theta, X_test, y_test), a=ens.a, s=ens.s,
                   eta_exact=own.eta_exact, ratio=cfg.eta / own.eta_exact, rank=ens.d)
        if B == cfg.n:
            rec["stay"] = [stay_leave(cfg, model, theta, X, Y, ens, b, seed + 7 * (i + 1))
                           for i, b in enumerate(cfg.stay_Bs)]
        return rec


def table(cfg: Config, records: list[dict]) -> list[dict]:
    """One row per minimum (the stay/leave counts go to ``summary.json``, the polished
    parameters to ``runs/<task>.npz``)."""
    return [{k: v for k, v in r.items() if k not in ("stay", "theta")} for r in records]


def figure3(cfg: Config, records: list[dict]) -> dict:
    """Per training batch size, over minima only: counts, ``a``, ``s`` and
    ``eta / eta_exact`` of the minimum's own ``B``."""
    out = {}
    for B in batch_sizes(cfg):
        kept, why = nw.at_minimum([r for r in records if r["B"] == B])
        ratios = [r["ratio"] for r in kept]
        out[B] = dict(runs=sum(r["B"] == B for r in records), minima=len(kept), left_out=why,
                      a=[r["a"] for r in kept], s=[r["s"] for r in kept], ratios=ratios,
                      stable=int(sum(x <= 1.0 for x in ratios)),
                      gap=[r["exact_gap"] for r in kept])
    return out


def transitions(cfg: Config, records: list[dict]) -> list[dict]:
    """Per (GD minimum, B): the network's transition in ``eta / eta_exact`` and the
    verdict against ``eta_as`` (:func:`sim.studies.nn_stay.verdict_of`)."""
    out = []
    for r in records:
        for st in r.get("stay") or []:
            net = transition(cfg.ratios, st["leaves"], cfg.runs)
            as_lo, as_hi = st["eta_as_lo"] / st["eta_exact"], st["eta_as_hi"] / st["eta_exact"]
            out.append(dict(seed=r["seed"], B=st["B"], net=net,
                            eta_as_ratio=st["eta_as"] / st["eta_exact"], eta_as_lo_ratio=as_lo,
                            eta_as_hi_ratio=as_hi, eta_gd_ratio=st["eta_gd"] / st["eta_exact"],
                            verdict=verdict_of(net, as_lo, as_hi, st["as_status"]),
                            leaves=st["leaves"], blowups=st["blowups"]))
    return out


def sentence(fig3: dict, trans: list[dict], n: int) -> str:
    """The result sentences, from :func:`figure3` and :func:`transitions`."""
    every = sum(st["minima"] for st in fig3.values())
    runs = sum(st["runs"] for st in fig3.values())
    if not every:
        return f"No run of {runs} reached a minimum: **undetermined**."
    stable = sum(st["stable"] for st in fig3.values())
    worst = max((max(st["ratios"]) for st in fig3.values() if st["ratios"]), default=np.nan)
    text = (f"{every} of {runs} runs reached an exact minimum; {stable} of {every} minima "
            f"are mean-square stable at their own B (largest eta/eta_exact "
            f"{num(worst, '.3f')}).")
    if not trans:
        return text + " No GD minimum for the stay/leave runs."
    counts = {v: sum(t["verdict"] == v for t in trans) for v in VERDICTS}
    return text + (f" The conv net's stay/leave transition agrees with eta_as in "
                   f"{counts['agrees']} of {len(trans)} (minimum, B) pairs and disagrees in "
                   f"{counts['disagrees']} ({counts['undetermined']} undetermined; rule: the "
                   "transition's Wilson interval overlaps eta_as's).")


def table_lines(n: int, fig3: dict, trans: list[dict], ratios) -> list[str]:
    lines = ["| B (training) | minima (left out) | a | s | eta/eta_exact (own B) | "
             "exact-GN gap at the trained point |", "|---|---|---|---|---|---|"]
    for B, st in fig3.items():
        lines.append(f"| {'GD' if int(B) == n else B} | {st['minima']} of {st['runs']} "
                     f"({nw.left_out(st['left_out'])}) | {mean_sd(st['a'])} | "
                     f"{mean_sd(st['s'])} | {mean_sd(st['ratios'], '.3f')} | "
                     f"{mean_sd(st['gap'], '.2g')} |")
    if trans:
        lines += ["", "| GD minimum | B | P(leave) at eta/eta_exact = "
                  + ", ".join(f"{r:g}" for r in ratios) + " | transition | eta_as/eta_exact | "
                  "eta_gd/eta_exact | verdict |", "|---|---|---|---|---|---|---|"]
        for t in trans:
            lo, hi = t["net"]["lo"], t["net"]["hi"]
            lines.append(f"| #{t['seed']} | {t['B']} | "
                         + ", ".join(str(k) for k in t["leaves"])
                         + f" | {num(t['net']['point'], '.3f', 'off the grid')} "
                         f"[{num(lo, '.3f', 'below')}, {num(hi, '.3f', 'above')}] | "
                         f"{num(t['eta_as_ratio'], '.3f')} [{num(t['eta_as_lo_ratio'], '.3f')}, "
                         f"{num(t['eta_as_hi_ratio'], '.3f', 'none')}] | "
                         f"{num(t['eta_gd_ratio'], '.3f')} | {t['verdict']} |")
    return lines


def plot(folder: Path) -> list[Path]:
    cfg, records, _ = load(STUDY, folder)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(batch_sizes(cfg))))
    ax = axes[0]
    ax.axvline(2 / cfg.eta, color="k", ls="--", lw=1.2, label=r"$a = 2/\eta$")
    for B, c in zip(batch_sizes(cfg), colors, strict=True):
        kept = nw.at_minimum([r for r in records if r["B"] == B])[0]
        ax.scatter([r["a"] for r in kept], [r["s"] for r in kept], color=c, s=24,
                   label="GD" if B == cfg.n else f"SGD $B={B}$")
        if B < cfg.n:
            ax.axhline(1 / (cfg.eta * np.sqrt(sim.Sampling(B).gamma(cfg.n))), color=c, ls=":")
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_title(rf"conv-net minima, $\eta = {cfg.eta}$")
    ax.legend(fontsize=8)
    ax = axes[1]
    for t in transitions(cfg, records):
        k = np.array(t["leaves"])
        lo, hi = wilson(k, cfg.runs)
        p = k / cfg.runs
        line = ax.errorbar(cfg.ratios, p, yerr=[p - lo, hi - p], fmt="o-", ms=3.5, capsize=2,
                           label=f"GD #{t['seed']}, B = {t['B']}")
        ax.axvline(t["eta_as_ratio"], color=line[0].get_color(), ls=":", lw=1)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel(r"$\eta / \eta_{exact}(B)$ (dotted: $\eta_{as}$)")
    ax.set_ylabel("P(leave) (95% Wilson)")
    ax.set_title("SGD at a conv-net minimum")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, folder, "conv")


def summary(cfg: Config, records: list[dict], folder: Path):
    *_, desc = data_of(cfg)
    fig3, trans = figure3(cfg, records), transitions(cfg, records)
    lines_ = table_lines(cfg.n, fig3, trans, cfg.ratios)
    text = sentence(fig3, trans, cfg.n)
    p = records[0]["p"] if records else 0
    md = ["# A convolutional net through TorchModel: Figure 3 and the stay/leave transition",
          "", f"Data: {desc} as 1x8x8 images. Net: Conv2d(1, {cfg.channels}, 3) - ReLU - "
          f"MaxPool(2) - Linear({cfg.hidden}) - ReLU - Linear({nw.N_CLASSES}), p = {p}, loss "
          f"mean, eta = {cfg.eta}, up to {cfg.steps} steps to loss {cfg.loss_tol:g}, then "
          f"Gauss-Newton polish; minima only. Stay/leave at each GD minimum: {cfg.runs} runs "
          f"per ratio from theta* + {cfg.eps:g} ||theta*|| u, leave = loss above "
          f"{cfg.leave_factor:g} x its start within {cfg.stay_steps} steps.", "", *lines_,
          "", text, "", "![conv](conv.png)", ""]
    return "\n".join(md), {"data": desc, "n": cfg.n, "p": p, "figure3": fig3,
                           "transitions": trans, "sentence": text, "table": lines_,
                           "figures": ["conv"]}


STUDY = Study(name="nn_conv", config=Config,
              size=lambda c: len(batch_sizes(c)) * c.seeds, task=task, table=table,
              summary=summary, plot=plot, check=check_torch)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
