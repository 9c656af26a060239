"""Figure 1 of Wu, Ma & E: SGD leaves the minimum GD found, and lands at another one.

GD fits a subset whose labels are partly corrupted, and Gauss-Newton polish moves its
end point to an exact minimum ``theta*`` (the pipeline of :mod:`sim.studies.networks`).
Then SGD at the same learning rate starts at ``theta* + eps u`` for several batch sizes
and runs; a run *leaves* when its loss exceeds ``leave_factor`` times its start loss
within ``steps`` steps (the criterion of :mod:`sim.studies.nn_stay`), and blow-ups are
counted apart. Beside ``P(leave)`` (Wilson 95%) stand the predictions of ``theta*``'s
linearization: ``eta_exact(B)`` (mean square) and ``eta_as(B)`` (almost sure, where
the Lyapunov exponent changes sign). A run that left trains on until its loss is below
``land_loss`` and is polished: where it landed is measured (``a``, ``s``, accuracy on
the clean training labels, test accuracy and loss) against ``theta*``, with Student-t
95% intervals over runs: the paper's "SGD finds a flatter minimum that generalizes
better", measured.

    python scripts/nn_escape.py [--quick | --full] [--out results]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import sim
from sim import data
from sim.estimates import wilson
from sim.montecarlo import almost_sure_threshold
from sim.nets import to_ensemble, train
from sim.plotting import plt, save
from sim.studies import Study, load, main, option, read_runs
from sim.studies import networks as nw
from sim.studies.text import ci_cell, num, share, t_interval

LANDED = ("a", "s", "clean_train_acc", "test_acc", "test_loss")
"""What is measured at the GD minimum and where each run lands."""


@dataclass(frozen=True)
class Config:
    dataset: str = option("digits", "training data", choices=nw.DATASETS)
    idx: str = option("", "folder with FashionMNIST/MNIST IDX files (dataset idx)")
    n: int = option(200, "training samples (the first n)", low=2, quick=60, full=100)
    corrupt: float = option(0.2, "fraction of corrupted training labels", low=0.0, high=1.0)
    hidden: tuple[int, ...] = option((256,), "hidden layer widths", low=1, quick=(128,))
    eta: float = option(0.3, "learning rate of GD and of SGD", positive=True, full=0.2)
    gd_steps: int = option(20000, "GD steps at most", low=1, quick=6000)
    gd_loss: float = option(1e-5, "GD stops at this loss; polish takes over", positive=True)
    Bs: tuple[int, ...] = option((1, 4, 10), "SGD batch sizes", low=1)
    seeds: int = option(20, "SGD runs per batch size", low=1, quick=10)
    steps: int = option(1000, "horizon of a run: it leaves within this many steps or stays",
                        low=1, quick=400)
    check_every: int = option(10, "steps between loss checks", low=1)
    eps: float = option(1e-5, "start distance from theta*, as a fraction of ||theta*||",
                        positive=True)
    leave_factor: float = option(100.0, "a run leaves when its loss exceeds this times its "
                                        "start loss", positive=True)
    land_steps: int = option(20000, "SGD steps after leaving at most, to land", low=1,
                             quick=5000)
    land_loss: float = option(1e-4, "landing: SGD stops at this loss, then polish",
                              positive=True)
    lyapunov_paths: int = option(128, "paths per Lyapunov-exponent estimate", low=2, quick=64)
    lyapunov_steps: int = option(1000, "steps per Lyapunov-exponent estimate", low=10,
                                 quick=400)
    seed: int = option(0, "study seed", low=0)

    def check(self):
        nw.check(self, self.Bs)
        if self.steps % self.check_every:
            raise ValueError(f"check_every must divide steps = {self.steps}")
        if self.leave_factor <= 1:
            raise ValueError("leave_factor must exceed 1")


net_of = nw.net_of


@cache
def problem(cfg: Config):
    """Training inputs with corrupted one-hot targets, clean labels, clean test data."""
    X, Y, y, X_test, y_test, desc = nw.data_of(cfg)
    K = Y.shape[1]  # the data set's classes: the one-hot width of its clean targets
    noisy = data.corrupt_labels(y, cfg.corrupt, cfg.seed, K=K)
    return X, data.one_hot(noisy, K), noisy, y, X_test, y_test, desc


@cache
def gd_minimum(cfg: Config) -> nw.Found:
    """GD to ``gd_loss`` on the corrupted labels, then polish: the same on every worker
    (fixed seed)."""
    X, Y, noisy, *_ = problem(cfg)
    net = net_of(cfg)
    return nw.minimum(net, net.init(cfg.seed), X, Y, eta=cfg.eta, sampling=cfg.n,
                      steps=cfg.gd_steps, seed=cfg.seed, loss_tol=cfg.gd_loss, labels=noisy)


def measured(cfg: Config, theta) -> dict:
    """:data:`LANDED` at a minimum ``theta``."""
    X, Y, noisy, y, X_test, y_test, _ = problem(cfg)
    net = net_of(cfg)
    cv = sim.nets.curvature(net, theta, X, None)
    return dict(a=cv.a, s=cv.s, clean_train_acc=net.accuracy(theta, X, y),
                test_acc=net.accuracy(theta, X_test, y_test),
                test_loss=net.loss(theta, X_test, data.one_hot(y_test, Y.shape[1])))


def predictions(cfg: Config, theta) -> dict:
    """Per ``B``: ``eta_exact(B)``, ``eta_as(B)`` with its interval, and the Lyapunov
    exponent at ``eta`` of the GD minimum's linearization (reduced to ``range(H)``)."""
    X, *_ = problem(cfg)
    ens = to_ensemble(net_of(cfg), theta, X, reduce=True)
    out = {}
    for B in cfg.Bs:
        th = sim.thresholds(ens, B)
        ast = almost_sure_threshold(ens, B, lower=th.eta_exact, steps=cfg.lyapunov_steps,
                                    paths=cfg.lyapunov_paths, seed=cfg.seed)
        lyap = sim.lyapunov_exponent(ens, cfg.eta, B, steps=cfg.lyapunov_steps,
                                     paths=cfg.lyapunov_paths, seed=cfg.seed)
        out[str(B)] = dict(eta_exact=th.eta_exact, eta_as=ast.value, eta_as_lo=ast.lo,
                           eta_as_hi=ast.hi, as_status=ast.status, lyapunov=lyap.value,
                           lyapunov_se=lyap.se)
    return out


def size(cfg: Config) -> int:
    return 1 + len(cfg.Bs) * cfg.seeds


def task(cfg: Config, index: int, seed: int) -> dict:
    """Task 0: the GD minimum and the predictions; task 1 + j * seeds + k: SGD run k at
    batch size ``Bs[j]`` from next to it, and where it lands."""
    X, Y, noisy, *_ = problem(cfg)
    net = net_of(cfg)
    gd = gd_minimum(cfg)
    if index == 0:
        rec = {"phase": "gd", "theta": gd.polish.theta, **nw.minimum_fields(gd)}
        if gd.at_minimum:
            rec.update(measured(cfg, gd.polish.theta),
                       predictions=predictions(cfg, gd.polish.theta))
        return rec
    j, k = divmod(index - 1, cfg.seeds)
    B = cfg.Bs[j]
    rec = {"phase": "sgd", "B": B, "seed": k}
    if not gd.at_minimum:
        return {**rec, "theta": gd.trained.theta,
                "skipped": f"GD found no minimum (polish {gd.polish.status})"}
    theta = gd.polish.theta
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(net.n_params)
    start = theta + cfg.eps * np.linalg.norm(theta) * u / np.linalg.norm(u)
    res = train(net, start, X, Y, cfg.eta, B, cfg.steps, seed, record_every=cfg.check_every,
                labels=noisy)
    step = int(nw.leave_steps(res.loss_curve[None], res.t, np.array([res.steps_run]),
                              cfg.leave_factor)[0])
    rec.update(skipped="", blowup=bool(res.diverged), left=bool(step >= 0 and not res.diverged),
               leave_step=step, t=res.t.tolist(), loss_curve=res.loss_curve.tolist())
    if not rec["left"]:
        return {**rec, "theta": res.theta, "landed": False, "land_status": "did not leave"}
    land = nw.minimum(net, res.theta, X, Y, eta=cfg.eta, sampling=B, steps=cfg.land_steps,
                      seed=seed + 1, loss_tol=cfg.land_loss, labels=noisy)
    rec.update(landed=land.at_minimum, land_status=land.polish.status,
               land_steps=land.steps_run, land_displacement=land.polish.displacement,
               land_distance=float(np.linalg.norm(land.polish.theta - theta)
                                   / np.linalg.norm(theta)),
               land_loss_curve=land.trained.loss_curve.tolist(),
               land_t=land.trained.t.tolist())
    if land.at_minimum:
        rec.update({f"land_{k}": v for k, v in measured(cfg, land.polish.theta).items()})
    return {**rec, "theta": land.polish.theta if land.at_minimum else land.trained.theta}


CURVES = ("t", "loss_curve", "land_loss_curve", "land_t", "theta", "predictions")


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in CURVES} for r in records[1:]]


def files(cfg: Config, records: list[dict], folder: Path) -> None:
    """``models.npz``: the GD minimum first, then each run's end (its landing minimum
    where it landed)."""
    X, Y, *_ = problem(cfg)
    nw.write_models(net_of(cfg), X, Y, records, folder)


def predicted(p: dict, eta: float) -> str:
    """The almost-sure prediction at ``eta``: ``"leave"`` above ``eta_as``'s interval,
    ``"stay"`` below it, ``"undetermined"`` inside it or without an upper bound."""
    if p["as_status"] == "no_upper" or not np.isfinite(p["eta_as_hi"]):
        return "undetermined" if eta >= p["eta_as_lo"] else "stay"
    if eta > p["eta_as_hi"]:
        return "leave"
    return "stay" if eta < p["eta_as_lo"] else "undetermined"


def verdict_of(pred: str, lo: float, hi: float) -> str:
    """``agrees`` when the prediction is ``leave`` and P(leave)'s Wilson interval lies
    above 1/2, or ``stay`` and it lies below; ``disagrees`` when it lies on the other side;
    ``undetermined`` otherwise."""
    if pred == "undetermined" or (lo <= 0.5 <= hi):
        return "undetermined"
    return "agrees" if (pred == "leave") == (lo > 0.5) else "disagrees"


def by_B(cfg: Config, records: list[dict]) -> dict:
    gd = records[0]
    out = {}
    for B in cfg.Bs:
        runs = [r for r in records[1:] if r["B"] == B and not r["skipped"]]
        if not runs:
            continue
        p = gd["predictions"][str(B)]
        blowups = sum(r["blowup"] for r in runs)
        counted = len(runs) - blowups
        k = sum(r["left"] for r in runs)
        (lo,), (hi,) = wilson([k], max(counted, 1))
        landed = [r for r in runs if r.get("landed")]
        pred = predicted(p, cfg.eta)
        out[str(B)] = dict(runs=len(runs), blowups=blowups, counted=counted, left=k,
                           p_leave=k / counted if counted else np.nan, p_lo=lo, p_hi=hi,
                           leave_step_median=float(np.median([r["leave_step"] for r in runs
                                                              if r["left"]])) if k else np.nan,
                           landed=len(landed),
                           land_status=dict(Counter(r["land_status"] for r in runs
                                                    if r["left"] and not r["landed"])),
                           **{f"land_{q}": t_interval([r[f"land_{q}"] for r in landed])
                              for q in LANDED},
                           prediction_mean_square="leave" if cfg.eta > p["eta_exact"] else "stay",
                           prediction=pred, verdict=verdict_of(pred, lo, hi)
                           if counted else "undetermined", **p)
    return out


def landing_words(gd: dict, st: dict) -> tuple[str, str]:
    """Flatter / sharper, and tests better / worse, of the landing minima against the GD
    minimum: decided where the 95% interval of the landed runs excludes the GD value."""
    out = []
    for q, lower, higher, same in (("a", "flatter", "sharper", "as sharp"),
                                   ("test_acc", "test worse", "test better", "test the same")):
        m, lo, hi = st[f"land_{q}"]
        if not np.isfinite(lo):
            out.append(f"{same} or not (fewer than 2 landed)")
        else:
            out.append(lower if hi < gd[q] else higher if lo > gd[q] else same)
    return out[0], out[1]


def sentence(gd: dict, stats: dict, eta: float) -> str:
    """The result sentences of Figure 1, from :func:`by_B` and the GD minimum's record
    (measured only where it is a minimum)."""
    if "a" not in gd:
        return f"GD found no minimum (polish {gd['polish_status']}): nothing was measured."
    counts = {v: sum(st["verdict"] == v for st in stats.values()) for v in
              ("agrees", "disagrees", "undetermined")}
    edge = gd["a"] * eta / 2
    text = (f"The GD minimum has a eta / 2 = {edge:.3f}: "
            + ("GD is stable there." if edge <= 1 else
               "GD itself is unstable there (the polished minimum is sharper than the point "
               "GD trained to).")
            + f" P(leave) agrees with the almost-sure prediction at {counts['agrees']} of "
            f"{len(stats)} batch sizes, disagrees at {counts['disagrees']}, undetermined at "
            f"{counts['undetermined']} (rule: prediction leave when eta > eta_as(B)'s "
            "interval, stay below it; agrees when P(leave)'s Wilson interval lies on the "
            "predicted side of 1/2).")
    for B, st in stats.items():
        if st["landed"]:
            flat, test = landing_words(gd, st)
            text += (f" B = {B}: {st['landed']} of {st['left']} runs that left landed at "
                     f"minima that are {flat} and {test} (against the GD minimum; 95% "
                     "intervals).")
    paper = [B for B, st in stats.items() if st["landed"] and landing_words(gd, st) ==
             ("flatter", "test better")]
    text += (f" The paper's claim (SGD finds a flatter minimum that tests better) holds at B "
             f"= {', '.join(paper)}." if paper else
             " The paper's claim (SGD finds a flatter minimum that tests better) holds at no "
             "batch size here.")
    return text


def plot(folder: Path) -> list[Path]:
    cfg, _, _ = load(STUDY, folder)
    records = read_runs(folder, size(cfg))
    gd = records[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(cfg.Bs)))
    for B, c in zip(cfg.Bs, colors, strict=True):
        mine = [r for r in records[1:] if r["B"] == B and not r["skipped"]]
        for i, r in enumerate(mine):
            t = np.array(r["t"], dtype=float)
            curve = np.array(r["loss_curve"], dtype=float)
            if r.get("land_t"):
                t = np.concatenate([t, t[-1] + np.array(r["land_t"], dtype=float)[1:]])
                curve = np.concatenate([curve, np.array(r["land_loss_curve"], float)[1:]])
            ok = np.isfinite(curve) & (curve > 0)
            axes[0].loglog(t[ok] + 1, curve[ok], color=c, lw=0.7, alpha=0.6,
                           label=f"SGD B={B}" if i == 0 else None)
        landed = [r for r in mine if r.get("landed")]
        axes[1].scatter([r["land_a"] for r in landed], [r["land_test_acc"] for r in landed],
                        color=c, s=18, label=f"landed, B={B}")
    if "a" in gd:
        axes[1].scatter([gd["a"]], [gd["test_acc"]], color="k", marker="*", s=120,
                        label="GD minimum")
    axes[0].set_xlabel("steps after the start next to the GD minimum (+1)")
    axes[0].set_ylabel("training loss (corrupted labels)")
    axes[1].set_xlabel("sharpness $a$ of the minimum")
    axes[1].set_ylabel("test accuracy (clean labels)")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    return save(fig, folder, "escape")


def table_lines(gd: dict, stats: dict) -> list[str]:
    """The two tables: leaving against the predictions, and where the runs landed."""
    lines = ["| B | P(leave) [Wilson 95%] | blow-ups | median leave step | "
              "eta_exact(B) | eta_as(B) [interval] | prediction (almost sure; mean "
              "square) | verdict |", "|---|---|---|---|---|---|---|---|"]
    for B, st in stats.items():
        lines.append(
            f"| {B} | {share(st['left'], st['counted'], st['p_lo'], st['p_hi'])} | "
            f"{st['blowups']} | {num(st['leave_step_median'], '.0f', 'none left')} | "
            f"{st['eta_exact']:.4g} | {num(st['eta_as'], '.4g')} "
            f"[{num(st['eta_as_lo'], '.4g')}, {num(st['eta_as_hi'], '.4g', 'no bound')}] | "
            f"{st['prediction']}; {st['prediction_mean_square']} | {st['verdict']} |")
    lines += ["", "Where the runs that left landed (mean [Student-t 95%] over landed runs; "
              "GD minimum for reference):", "",
              "| B | landed | a | s | clean train acc | test acc | test loss |",
              "|---|---|---|---|---|---|---|",
              f"| GD minimum | - | {gd['a']:.4g} | {gd['s']:.4g} | "
              f"{gd['clean_train_acc']:.3f} | {gd['test_acc']:.3f} | "
              f"{gd['test_loss']:.4g} |"]
    for B, st in stats.items():
        miss = "none landed" if not st["landed"] else "-"
        cells = " | ".join(ci_cell(st[f"land_{q}"], ".4g", miss) for q in LANDED)
        why = ", ".join(f"{s} {c}" for s, c in st["land_status"].items())
        lines.append(f"| {B} | {st['landed']} of {st['left']} left"
                     + (f" ({why})" if why else "") + f" | {cells} |")
    return lines


def summary(cfg: Config, records: list[dict], folder: Path):
    gd = records[0]
    *_, desc = problem(cfg)
    lines = ["# Figure 1: SGD leaves the minimum found by GD, and where it lands", "",
             f"Data: {desc}, {cfg.corrupt:.0%} of the training labels corrupted. Net: "
             f"{net_of(cfg)!r}, eta = {cfg.eta}. A run starts at theta* + eps u, eps = "
             f"{cfg.eps:g} ||theta*||, and leaves when its loss exceeds {cfg.leave_factor:g} "
             f"x its start within {cfg.steps} steps; blow-ups are counted apart. A run that "
             f"left trains on (at most {cfg.land_steps} steps) to loss {cfg.land_loss:g} and "
             "is polished: where it landed.", "",
             f"GD minimum: {gd['steps_run']} GD steps to loss {gd['trained_loss']:.2e}, polish "
             f"{gd['polish_status']} (loss {gd['loss']:.1e}, displacement "
             f"{num(gd['displacement'], '.2g')} ||theta||)."]
    stats = by_B(cfg, records) if "predictions" in gd else {}
    if "predictions" in gd:
        lines[-1] += (f" At it: a = {gd['a']:.4g}, s = {gd['s']:.4g}, accuracy on the clean "
                      f"training labels {gd['clean_train_acc']:.3f}, test accuracy "
                      f"{gd['test_acc']:.3f}, test loss {gd['test_loss']:.4g}.")
        lines += ["", *table_lines(gd, stats)]
    text = sentence(gd, stats, cfg.eta)
    lines += ["", text, "", "![escape](escape.png)", ""]
    gd_out = {k: gd[k] for k in ("steps_run", "trained_loss", "loss", "polish_status",
                                 "displacement", "at_minimum", *LANDED) if k in gd}
    return "\n".join(lines), {"data": desc, "eta": cfg.eta, "gd": gd_out, "by_B": stats,
                              "sentence": text, "table": table_lines(gd, stats) if stats else [],
                              "figures": ["escape"]}


STUDY = Study(name="nn_escape", config=Config, size=size, task=task, table=table,
              summary=summary, plot=plot, files=files, check=nw.check_data)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
