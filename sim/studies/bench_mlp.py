"""Benchmark: sim.nets against the code a user would otherwise write, side by side.

1. Non-uniformity ``s`` of a trained 64-32-32-10 net on 1000 digits:
   ``curvature(which="s")`` (Lanczos on the linearization, NTK blocks) against the
   authors' method (power iteration on
   ``v -> (1/n) sum_i H_i (H_i v) - H (H v)`` with per-sample Hessian-vector products
   in a loop) in NumPy, and in PyTorch when installed; the power iteration runs until
   its eigenvalue changes by less than 1e-6 relative, and the accuracy of each result
   against a dense eigendecomposition is reported.
2. One GD step of the paper's 784-500-500-500-10 ReLU net on ``n = 1000`` (synthetic
   inputs): ``train(method="blas")`` against PyTorch on the CPU, with the % of the
   measured float64 matmul peak.
3. 256 models of 64-32-10 trained by SGD (``B = 4``): ``train_many`` against a Python
   loop over models in NumPy (and PyTorch), per model-step.
4. The exact threshold of an interpolating 64-128-128-10 net on 200 samples
   (``p = 26122``, ``n K = 2000``): the NTK Gram matrix, the reduction to ``range(H)``,
   ``sim.thresholds``, each timed.

    python scripts/bench_mlp.py [--quick] [--out results]

A single task, run serially: a timing needs the machine to itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sim
from sim import data
from sim.nets import MLP, curvature, train, train_many
from sim.studies import Study, main, option


@dataclass(frozen=True)
class Config:
    tiny: bool = option(False, "small sizes (a minute)", quick=True)
    seed: int = option(0, "seed of the nets and data", low=0)
    repeats: int = option(2, "timings per measurement (the best is kept)", low=1, quick=1)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def _time(fn, repeats: int = 1):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def matmul_peak(size: int = 2000) -> float:
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    A @ B
    t, _ = _time(lambda: A @ B, 3)
    return 2 * size**3 / t / 1e9


# ----------------------------------------------------------------- 1. non-uniformity
def power_iteration(apply, p: int, seed: int, rtol: float = 1e-6, max_iter: int = 2000):
    """The authors' method: power iteration until the Rayleigh quotient converges."""
    v = np.random.default_rng(seed).standard_normal(p)
    v /= np.linalg.norm(v)
    lam = 0.0
    for it in range(1, max_iter + 1):
        w = apply(v)
        new = float(v @ w)
        v = w / np.linalg.norm(w)
        if abs(new - lam) <= rtol * abs(new):
            return new, it
        lam = new
    return lam, max_iter


def sigma_numpy(net, theta, X, Y):
    """v -> (1/n) sum_i H_i (H_i v) - H (H v) with per-sample Hessian-vector products."""
    n = len(X)

    def H(v):
        return net.hvp(theta, X, Y, v, "gauss_newton")

    def apply(v):
        acc = np.zeros_like(v)
        for i in range(n):
            hv = net.hvp(theta, X[i:i + 1], Y[i:i + 1], v, "gauss_newton")
            acc += net.hvp(theta, X[i:i + 1], Y[i:i + 1], hv, "gauss_newton")
        return acc / n - H(H(v))

    return apply


def sigma_torch(torch, net, theta, X, Y):
    """The same in PyTorch: per-sample Gauss-Newton products by autograd (jvp, vjp)."""
    layers = [(torch.tensor(W), torch.tensor(b)) for W, b in net.unflatten(theta)]
    params = [t for pair in layers for t in pair]
    Xt = torch.tensor(X)

    def f(x, *ps):
        h = x
        for k in range(0, len(ps), 2):
            h = h @ ps[k].T + ps[k + 1]
            if k < len(ps) - 2:
                h = torch.relu(h)
        return h

    def unflat(v):
        out, pos = [], 0
        for t in params:
            out.append(torch.tensor(v[pos:pos + t.numel()]).reshape(t.shape))
            pos += t.numel()
        return out

    def flat(ts):
        return torch.cat([t.reshape(-1) for t in ts]).numpy()

    def gn(x, v_list, scale):
        _, jv = torch.func.jvp(lambda *ps: f(x, *ps), tuple(params), tuple(v_list))
        _, vjp = torch.func.vjp(lambda *ps: f(x, *ps), *params)
        return vjp(scale * jv)

    def apply(v):
        n = len(X)
        acc = [torch.zeros_like(t) for t in params]
        vl = unflat(v)
        for i in range(n):
            hv = gn(Xt[i:i + 1], vl, net.c)
            hhv = gn(Xt[i:i + 1], hv, net.c)
            acc = [a + b for a, b in zip(acc, hhv, strict=True)]
        Hv = gn(Xt, vl, net.c / n)
        HHv = gn(Xt, Hv, net.c / n)
        return flat(acc) / n - flat(HHv)

    return apply


def bench_sigma(cfg: Config) -> dict:
    ds = data.digits()
    n = 200 if cfg.tiny else 1000
    X, y = data.first(ds.X, ds.y, n)
    Y = data.one_hot(y, 10)
    net = MLP((64, 32, 32, 10))
    res = train(net, net.init(cfg.seed), X, Y, 0.5, n, 200 if cfg.tiny else 2000, cfg.seed,
                method="blas")
    theta = res.theta
    t_ours, cv = _time(lambda: curvature(net, theta, X, Y, which="s"), cfg.repeats)
    J = net.jacobians(theta, X)  # dense reference: Sigma from the per-sample Jacobians
    GJ = np.einsum("ikl,ilp->ikp", np.einsum("ikp,ilp->ikl", J, J), J)
    Jf = J.reshape(-1, net.n_params)
    H = net.c / n * (Jf.T @ Jf)
    Sigma = net.c**2 / n * (Jf.T @ GJ.reshape(-1, net.n_params)) - H @ H
    s_dense = float(np.sqrt(np.linalg.eigvalsh(0.5 * (Sigma + Sigma.T))[-1]))
    max_iter = 300 if cfg.tiny else 5000
    start = time.perf_counter()
    lam, its = power_iteration(sigma_numpy(net, theta, X, Y), net.n_params, cfg.seed,
                               max_iter=max_iter)
    t_np = time.perf_counter() - start
    row = dict(n=n, p=net.n_params, train_loss=res.loss, s_dense=s_dense, ours_s=t_ours,
               ours_value=cv.s, ours_rel_err=abs(cv.s - s_dense) / s_dense, ours_matvecs=cv.matvecs,
               numpy_s=t_np, numpy_value=float(np.sqrt(max(lam, 0))), numpy_iterations=its,
               numpy_rel_err=abs(np.sqrt(max(lam, 0)) - s_dense) / s_dense)
    torch = _torch()
    if torch is not None:
        start = time.perf_counter()
        lam_t, its_t = power_iteration(sigma_torch(torch, net, theta, X, Y), net.n_params,
                                       cfg.seed, max_iter=max_iter)
        row.update(torch_s=time.perf_counter() - start, torch_iterations=its_t,
                   torch_rel_err=abs(np.sqrt(max(lam_t, 0)) - s_dense) / s_dense)
    return row


# ----------------------------------------------------------------- 2. GD step, big net
def bench_gd_step(cfg: Config, peak: float) -> dict:
    rng = np.random.default_rng(cfg.seed)
    widths = (784, 100, 100, 10) if cfg.tiny else (784, 500, 500, 500, 10)
    n = 200 if cfg.tiny else 1000
    net = MLP(widths)
    X = rng.random((n, 784))
    Y = data.one_hot(rng.integers(0, 10, n), 10)
    theta = net.init(cfg.seed)
    steps = 3
    t_ours, _ = _time(lambda: train(net, theta, X, Y, 0.01, n, steps, 0, record_every=steps,
                                    method="blas"), cfg.repeats)
    # train records the full loss at t = 0 and at the end: two extra forward passes.
    flops = sum(2 * n * i * o for i, o in zip(widths[:-1], widths[1:], strict=True))
    work = steps * 3 * flops + 2 * flops
    row = dict(widths=str(widths), n=n, ours_step_s=t_ours / steps,
               ours_pct_peak=100 * work / t_ours / 1e9 / peak)
    torch = _torch()
    if torch is not None:
        layers = [torch.nn.Linear(i, o, dtype=torch.float64)
                  for i, o in zip(widths[:-1], widths[1:], strict=True)]
        mods = []
        for k, layer in enumerate(layers):
            mods.append(layer)
            if k < len(layers) - 1:
                mods.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*mods)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        loss_fn = torch.nn.MSELoss()

        def run():
            for _ in range(steps):
                opt.zero_grad()
                loss = loss_fn(model(Xt), Yt)
                loss.backward()
                opt.step()
            with torch.no_grad():
                loss_fn(model(Xt), Yt)
                loss_fn(model(Xt), Yt)

        t_torch, _ = _time(run, cfg.repeats)
        row.update(torch_step_s=t_torch / steps, ratio_to_torch=t_ours / t_torch,
                   torch_pct_peak=100 * work / t_torch / 1e9 / peak)
    return row


# ----------------------------------------------------------------- 3. many small models
def bench_many(cfg: Config) -> dict:
    ds = data.digits()
    n = 1000
    X, y = data.first(ds.X, ds.y, n)
    Y = data.one_hot(y, 10)
    net = MLP((64, 32, 10))
    m = 32 if cfg.tiny else 256
    steps = 200 if cfg.tiny else 2000
    thetas = np.stack([net.init(s) for s in range(m)])
    seeds = list(range(m))
    train_many(net, thetas[:2], X, Y, 0.1, 4, 2, [0, 1], record_every=2)  # compile
    t_ours, _ = _time(lambda: train_many(net, thetas, X, Y, 0.1, 4, steps, seeds,
                                         record_every=steps), 1)
    m_peer = 4 if cfg.tiny else 8
    rng = np.random.default_rng(0)

    def numpy_loop():
        for k in range(m_peer):
            th = thetas[k].copy()
            for _ in range(steps):
                idx = rng.choice(n, 4, replace=False)
                th -= 0.1 * net.gradient(th, X[idx], Y[idx])

    t_np, _ = _time(numpy_loop, 1)
    per_ours = t_ours / (m * steps)
    row = dict(models=m, steps=steps, ours_s=t_ours, ours_us_per_model_step=1e6 * per_ours,
               numpy_us_per_model_step=1e6 * t_np / (m_peer * steps),
               speedup_vs_numpy=t_np / (m_peer * steps) / per_ours)
    torch = _torch()
    if torch is not None:
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        g = torch.Generator().manual_seed(0)

        def torch_loop():
            for _ in range(m_peer):
                model = torch.nn.Sequential(torch.nn.Linear(64, 32, dtype=torch.float64),
                                            torch.nn.ReLU(),
                                            torch.nn.Linear(32, 10, dtype=torch.float64))
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                loss_fn = torch.nn.MSELoss()
                for _ in range(steps):
                    idx = torch.randperm(n, generator=g)[:4]
                    opt.zero_grad()
                    loss_fn(model(Xt[idx]), Yt[idx]).backward()
                    opt.step()

        t_t, _ = _time(torch_loop, 1)
        row.update(torch_us_per_model_step=1e6 * t_t / (m_peer * steps),
                   speedup_vs_torch=t_t / (m_peer * steps) / per_ours)
    return row


# ----------------------------------------------------------------- 4. exact threshold
def bench_threshold(cfg: Config) -> dict:
    ds = data.digits()
    n = 50 if cfg.tiny else 200
    X, _ = data.first(ds.X, ds.y, n)
    net = MLP((64, 128, 128, 10))
    theta = net.init(cfg.seed)
    # Teacher targets: theta is an exact interpolating minimum (docs/theory.md, sec. 7).
    start = time.perf_counter()
    gram = net.c * net.ntk(theta, X)
    t_jac = time.perf_counter() - start
    start = time.perf_counter()
    red = sim.Ensemble.from_gram(gram, n)
    t_red = time.perf_counter() - start
    start = time.perf_counter()
    th = sim.thresholds(red, 10)
    t_th = time.perf_counter() - start
    return dict(n=n, p=net.n_params, nK=n * 10, r=red.d, ntk_s=t_jac, reduction_s=t_red,
                thresholds_s=t_th, total_s=t_jac + t_red + t_th, eta_exact=th.eta_exact,
                eta_gd=th.eta_gd, a=th.a, s=th.s)


def task(cfg: Config, index: int, seed: int) -> dict:
    peak = matmul_peak()
    return {"peak_gflops": peak, "sigma": bench_sigma(cfg), "gd_step": bench_gd_step(cfg, peak),
            "many": bench_many(cfg), "threshold": bench_threshold(cfg)}


def table(cfg: Config, records: list[dict]) -> list[dict]:
    return [{"benchmark": name, "key": k, "value": v} for name, row in records[0].items()
            if isinstance(row, dict) for k, v in row.items()]


def summary(cfg: Config, records: list[dict], folder: Path):
    rec = records[0]
    peak = rec["peak_gflops"]
    s, g, m, t = rec["sigma"], rec["gd_step"], rec["many"], rec["threshold"]
    lines = [
        f"float64 matmul peak: {peak:.1f} GFLOP/s ({os.cpu_count()} threads)", "",
        "| benchmark | ours | NumPy peer | PyTorch peer | ratio |", "|---|---|---|---|---|",
        f"| 1. s of a trained 64-32-32-10 net, n = {s['n']} | {s['ours_s']:.2f} s, rel. err "
        f"{s['ours_rel_err']:.1e} | {s['numpy_s']:.1f} s ({s['numpy_iterations']} power "
        f"iterations), rel. err {s['numpy_rel_err']:.1e} | "
        + (f"{s['torch_s']:.1f} s, rel. err {s['torch_rel_err']:.1e}" if "torch_s" in s
           else "n/a")
        + f" | {s['numpy_s'] / s['ours_s']:.0f}x NumPy"
        + (f", {s['torch_s'] / s['ours_s']:.0f}x PyTorch" if "torch_s" in s else "") + " |",
        f"| 2. GD step, {g['widths']}, n = {g['n']} | {1e3 * g['ours_step_s']:.1f} ms "
        f"({g['ours_pct_peak']:.0f}% of peak) | (same: NumPy) | "
        + (f"{1e3 * g['torch_step_s']:.1f} ms ({g['torch_pct_peak']:.0f}% of peak)"
           if "torch_step_s" in g else "n/a")
        + " | " + (f"{g['ratio_to_torch']:.2f}x PyTorch's time" if "ratio_to_torch" in g
                   else "n/a") + " |",
        f"| 3. {m['models']} models 64-32-10, SGD B = 4, {m['steps']} steps | "
        f"{m['ours_us_per_model_step']:.1f} us/model-step | "
        f"{m['numpy_us_per_model_step']:.1f} us | "
        + (f"{m['torch_us_per_model_step']:.1f} us" if "torch_us_per_model_step" in m
           else "n/a")
        + f" | {m['speedup_vs_numpy']:.0f}x NumPy"
        + (f", {m['speedup_vs_torch']:.0f}x PyTorch" if "speedup_vs_torch" in m else "")
        + " |",
        f"| 4. exact threshold, 64-128-128-10, n = {t['n']} (p = {t['p']}, r = {t['r']}) | "
        f"NTK Gram {t['ntk_s']:.1f} s + reduction {t['reduction_s']:.1f} s + "
        f"thresholds {t['thresholds_s']:.1f} s = {t['total_s']:.1f} s | n/a | n/a | "
        f"eta_exact = {t['eta_exact']:.4g} (2/a = {t['eta_gd']:.4g}) |"]
    text = "\n".join(lines)
    print(text)
    return "# bench_mlp\n\n" + text + "\n", {**rec, "figures": []}


STUDY = Study(name="bench_mlp", config=Config, size=lambda cfg: 1, task=task, table=table,
              summary=summary, serial_only=True)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
