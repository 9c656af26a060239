"""Benchmark: Monte Carlo of linearized SGD against the code a user would write.

Side by side, in one run:

- ``simulate(backend="cpu")`` (this package: numba, grouped kernel for dense);
- a plain numba loop: ``prange`` over paths, ``fastmath``, a partial Fisher-Yates
  shuffle per step for the batch, explicit ``H_i x`` loops (what a numba user writes);
- plain NumPy: batches by ``argpartition`` of random keys, gather, ``einsum``;
- the same in PyTorch on the CPU (batches by ``topk``), when ``torch`` is installed
  (``n/a`` otherwise);
- the machine's float64 matmul peak (``numpy.dot`` of 2000 x 2000, all threads).

Work is counted as ``2 B d^2`` flops per path-step. Also times
``spectral_radius`` for ``d = 1000``, ``n = 2000`` rank-one factors (the dense
operator would hold ``d^4 = 10^12`` entries, 8 TB).

Exact thresholds of interpolating nets (``--exact-ranks``): a tanh 64-128-128-10 net
(``p = 26122``) at its own parameters with teacher targets (``Y = f(X; theta)``, an
exact zero-loss minimum, no training) on the first ``r / 10`` digits, so the reduced
ensemble has rank up to ``r = n K``. Per rank: the NTK Gram matrix and reduction
(:func:`sim.nets.to_ensemble`), ``eta_exact`` at ``B = 4`` by the memory-lean solver
with its warm start (:func:`sim.exact_threshold`), the GFLOP/s of one application of
``T`` (``4 r^2 n K`` flops, against the matmul peak), and the peak memory NumPy
allocated (``tracemalloc``); on a CUDA device too, when torch sees one. At
``--compare-rank`` the lean solver runs against itself without the warm start
(``lean_cold``) and against ``eigsh`` (``solver="eigsh"``, 24 vectors) on the same
ensemble. ``--paper-exact``: the same for the paper's 784-500-500-500-10 (tanh) at a
teacher minimum on 1000 ``digits28`` images, with the loss and gradient norm there and
the process's peak resident memory (``getrusage``: the whole run so far, so run it
alone, as ``--exact-ranks 0 --compare-rank 0 --paper-exact``).

    python scripts/bench_linear.py [--quick] [--out results]

A single task, run serially: a timing needs the machine to itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit, prange

import sim
from sim import data
from sim.studies import Study, main, option

CONFIGS = {
    "small": dict(d=20, n=64, B=8, paths=4096, steps=200),
    "large": dict(d=100, n=256, B=16, paths=1024, steps=100),
}
QUICK = {
    "small": dict(d=20, n=64, B=8, paths=512, steps=20),
    "large": dict(d=100, n=256, B=16, paths=128, steps=10),
}


TEACHER = (64, 128, 128, 10)
"""Widths of the interpolating net of the exact-threshold timings (tanh)."""


@dataclass(frozen=True)
class Config:
    tiny: bool = option(False, "tiny sizes (seconds)", quick=True)
    repeats: int = option(3, "timings per measurement (the best is kept)", low=1, quick=1)
    spectral_d: int = option(1000, "dimension of the spectral_radius timing", low=2)
    spectral_n: int = option(2000, "samples of the spectral_radius timing", low=1)
    exact_ranks: tuple[int, ...] = option((3000, 6000), "ranks n K of the exact-threshold "
                                          "timings (10000: about an hour on 2 cores; "
                                          "none: 0)", low=0, quick=(300,))
    compare_rank: int = option(2000, "rank of the lean-against-eigsh comparison (0: none)",
                               low=0, quick=200)
    paper_gram: bool = option(False, "also time the NTK Gram matrix and reduction of the "
                              "paper's 784-500-500-500-10 at initialisation on 1000 "
                              "digits28 images (n K = 10^4; minutes, 5 GiB)")
    paper_exact: bool = option(False, "also compute eta_exact (B = 4) of the paper's "
                               "784-500-500-500-10 (tanh) at a teacher minimum on 1000 "
                               "digits28 images (rank up to 10^4; tens of minutes, 10 GiB)")

    def check(self):
        most = TEACHER[-1] * len(data.digits().X)
        for name, ranks in (("exact_ranks", self.exact_ranks),
                            ("compare_rank", (self.compare_rank,))):
            if max(ranks) > most:
                raise ValueError(f"{name}: rank {max(ranks)} needs {max(ranks) // TEACHER[-1]}"
                                 f" digits, more than the {len(data.digits().X)} training "
                                 f"images (ranks up to {most})")
    seed: int = option(0, "seed of the ensembles", low=0)


def _best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(repeats: int = 3, size: int = 2000) -> float:
    """Measured float64 GFLOP/s of ``numpy.dot`` on ``size x size`` matrices."""
    rng = np.random.default_rng(0)
    A, Bm = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    np.dot(A, Bm)
    return 2 * size**3 / _best_time(lambda: np.dot(A, Bm), repeats) / 1e9


@njit(parallel=True, fastmath=True)
def _numba_loop(Hs, eta, B, steps, X, out, seed):
    P, d = X.shape
    n = Hs.shape[0]
    np.random.seed(seed)  # noqa: NPY002 (numba has no Generator API)
    for p in prange(P):
        x = X[p]
        y = np.empty(d)
        perm = np.arange(n)
        for t in range(steps):
            for b in range(B):  # partial Fisher-Yates: the first B entries are the batch
                j = b + np.random.randint(n - b)  # noqa: NPY002 (numba's generator)
                perm[b], perm[j] = perm[j], perm[b]
            y[:] = 0.0
            for b in range(B):
                Hi = Hs[perm[b]]
                for j in range(d):
                    acc = 0.0
                    for k in range(d):
                        acc += Hi[j, k] * x[k]
                    y[j] += acc
            nrm2 = 0.0
            for j in range(d):
                x[j] -= eta / B * y[j]
                nrm2 += x[j] * x[j]
            out[p, t] = nrm2


def numba_peer(Hs, eta, B, steps, paths, seed):
    """A plain numba ``prange`` loop over paths (``fastmath``), tracking ``||x_t||^2``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((paths, Hs.shape[1]))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    out = np.empty((paths, steps))
    _numba_loop(Hs, eta, B, steps, X, out, seed)
    return out.mean(axis=0)


def numpy_peer(Hs, eta, B, steps, paths, seed):
    """What a user writes in NumPy: sample batches, gather, einsum, track E||x||^2."""
    rng = np.random.default_rng(seed)
    n, d, _ = Hs.shape
    X = rng.standard_normal((paths, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    out = np.empty(steps + 1)
    out[0] = np.mean(np.sum(X * X, axis=1))
    for t in range(1, steps + 1):
        # B distinct indices per path: the B smallest of n random keys (a partial sort)
        idx = np.argpartition(rng.random((paths, n)), B - 1, axis=1)[:, :B]
        Y = np.zeros_like(X)
        for b in range(B):
            Y += np.einsum("pij,pj->pi", Hs[idx[:, b]], X)
        X = X - (eta / B) * Y
        out[t] = np.mean(np.sum(X * X, axis=1))
    return out


def torch_peer(Hs, eta, B, steps, paths, seed):
    """The same in PyTorch on the CPU (float64)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    H = torch.from_numpy(np.array(Hs))  # a writable copy
    n, d, _ = H.shape
    X = torch.randn(paths, d, generator=g, dtype=torch.float64)
    X /= X.norm(dim=1, keepdim=True)
    out = torch.empty(steps + 1, dtype=torch.float64)
    out[0] = (X * X).sum(1).mean()
    for t in range(1, steps + 1):
        idx = torch.rand(paths, n, generator=g).topk(B, dim=1).indices
        Y = torch.zeros_like(X)
        for b in range(B):
            Y += torch.bmm(H[idx[:, b]], X.unsqueeze(2)).squeeze(2)
        X = X - (eta / B) * Y
        out[t] = (X * X).sum(1).mean()
    return out.numpy()


def _ns_per_path_step(seconds: float, c: dict) -> float:
    return 1e9 * seconds / (c["paths"] * c["steps"])


def bench_config(name: str, c: dict, cfg: Config, peak: float) -> dict:
    ens = sim.wishart(c["n"], c["d"], c["d"], seed=cfg.seed)
    eta = 0.5 / ens.a
    flops = 2 * c["B"] * c["d"] ** 2 * c["paths"] * c["steps"]
    args = (eta, c["B"], c["steps"], c["paths"])
    sim.simulate(ens, eta, c["B"], 2, 8, 0)  # compile outside the timing
    numba_peer(ens.Hs, eta, c["B"], 2, 8, 0)
    peers = {"ours": lambda: sim.simulate(ens, *args, seed=cfg.seed),
             "numba": lambda: numba_peer(ens.Hs, *args, cfg.seed),
             "numpy": lambda: numpy_peer(ens.Hs, *args, cfg.seed)}
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        peers["torch"] = lambda: torch_peer(ens.Hs, *args, cfg.seed)
    except ImportError:
        pass
    row = dict(config=name, **c)
    for peer, fn in peers.items():
        t = _best_time(fn, cfg.repeats if peer in ("ours", "numba") else max(1, cfg.repeats - 2))
        row[f"{peer}_s"] = t
        row[f"{peer}_ns_per_path_step"] = _ns_per_path_step(t, c)
        row[f"{peer}_gflops"] = flops / t / 1e9
    for peer in ("numba", "numpy", "torch"):
        row[f"speedup_vs_{peer}"] = (row[f"{peer}_s"] / row["ours_s"] if f"{peer}_s" in row
                                     else np.nan)
    row["ours_pct_peak"] = 100 * row["ours_gflops"] / peak
    return row


def _ratio(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.1f}x"


def bench_spectral(cfg: Config) -> dict:
    d, n = (200, 400) if cfg.tiny else (cfg.spectral_d, cfg.spectral_n)
    ens = sim.rank_one(n, d, seed=cfg.seed)
    eta = 1.0 / ens.a
    start = time.perf_counter()
    res = sim.spectral_radius(ens, eta, 1)
    return dict(d=d, n=n, seconds=time.perf_counter() - start, rho=res.rho,
                applications=res.applications)


def bench_cloning(cfg: Config) -> dict:
    """Estimating Lambda(2) = log rho(T) ~ 1 where plain Monte Carlo's mean is carried by
    rare paths (rank-one, d = 3, n = 6, B = 2): the time cloning takes to a standard
    error of about 0.01, and plain Monte Carlo's error in the same time."""
    ens = sim.rank_one(6, 3, seed=0)
    eta = sim.thresholds(ens, 2).eta_gd * 0.94  # eta a = 1.88
    log_rho = sim.spectral_radius(ens, eta, 2).log_rho
    pop = 250 if cfg.tiny else 1000
    sim.moment_lyapunov(ens, eta, 2, 2.0, steps=10, population=20, replicas=2)  # compile
    start = time.perf_counter()
    est = sim.moment_lyapunov(ens, eta, 2, 2.0, steps=100, population=pop, replicas=4,
                              seed=cfg.seed)
    t_clone = time.perf_counter() - start
    paths = 1024
    start = time.perf_counter()
    res = sim.simulate(ens, eta, 2, 40, paths, cfg.seed, fit_from=10)
    per_path = (time.perf_counter() - start) / paths
    paths = max(2, int(t_clone / per_path))
    start = time.perf_counter()
    res = sim.simulate(ens, eta, 2, 40, paths, cfg.seed, fit_from=10)
    t_plain = time.perf_counter() - start
    return dict(log_rho=log_rho, clone_seconds=t_clone, clone_value=est.value,
                clone_se=est.se, clone_bias=est.bias, clone_error=est.value - log_rho,
                plain_seconds=t_plain, plain_paths=paths, plain_rate=res.growth_rate,
                plain_se=res.growth_rate_se, plain_error=res.growth_rate - log_rho,
                plain_final_ess=float(res.ess[-1]))


def teacher_minimum(rank: int, seed: int, widths=TEACHER, X=None):
    """``(net, theta, X)``: the tanh net of ``widths`` (default :data:`TEACHER`) at
    ``theta`` on the first ``rank / K`` rows of ``X`` (default the digits), whose
    targets ``f(X; theta)`` make ``theta`` an exact zero-loss minimum."""
    from sim.nets import MLP

    net = MLP(tuple(widths), "tanh", "mean")
    X = data.digits().X if X is None else X
    return net, net.init(seed), X[:max(rank // widths[-1], 2)]


def application_gflops(ens, repeats: int) -> tuple[float, float]:
    """``(seconds, GFLOP/s)`` of one sandwich average of the factor ensemble ``ens``
    (``4 d^2 n k`` flops: the core of one application of ``T``)."""
    from sim.moments import sandwich_average

    M = np.eye(ens.d)
    seconds = _best_time(lambda: sandwich_average(ens, M), repeats)
    return seconds, 4.0 * ens.d**2 * ens.n * ens.r / seconds / 1e9


def _measured(fn):
    """``(fn(), seconds, GiB)``: the result, wall time and the peak memory NumPy and
    Python allocated during the call (``tracemalloc``)."""
    import tracemalloc

    tracemalloc.start()
    try:
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 2**30
    finally:
        tracemalloc.stop()


SOLVES = {"lean": dict(solver="lean"), "lean_cold": dict(solver="lean", warm_start=False),
          "eigsh": dict(solver="eigsh")}
"""The timed solves by key: the lean solver with and without its warm start, and eigsh
(the solver before the lean one)."""


def _max_rss_gib() -> float:
    """The process's peak resident memory so far (``getrusage``; Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_exact(rank: int, cfg: Config, peak: float, solves=("lean",), minimum=None) -> dict:
    """One rank of the exact-threshold timings (see the module docstring); ``minimum``:
    ``(net, theta, X)`` instead of :func:`teacher_minimum` at ``rank``."""
    from sim.nets import to_ensemble

    net, theta, X = teacher_minimum(rank, cfg.seed) if minimum is None else minimum
    ens, seconds, gib = _measured(lambda: to_ensemble(net, theta, X, reduce=True))
    row = dict(rank=ens.d, n=ens.n, nK=ens.n * ens.r, p=net.n_params, gram_seconds=seconds,
               gram_peak_gib=gib)
    row["app_seconds"], row["app_gflops"] = application_gflops(ens, cfg.repeats)
    row["app_pct_peak"] = 100 * row["app_gflops"] / peak
    devices = [None]
    try:
        import torch

        if torch.cuda.is_available():
            devices.append("cuda")
    except ImportError:
        pass
    for key in solves:
        for device in devices if key == "lean" else [None]:
            res, _, gib = _measured(lambda k=key, dev=device: sim.exact_threshold(
                ens, 4, device=dev, **SOLVES[k]))
            name = key if device is None else f"{key}_{device}"
            row.update({f"{name}_eta_exact": res.eta_exact, f"{name}_seconds": res.seconds,
                        f"{name}_applications": res.applications,
                        f"{name}_coarse_applications": res.coarse_applications,
                        f"{name}_coarse_cost": res.coarse_cost,
                        f"{name}_gflops": res.gflops, f"{name}_peak_gib": gib})
    for key in solves:
        if key != "lean" and "lean" in solves:
            row[f"lean_speedup_{key}"] = row[f"{key}_seconds"] / row["lean_seconds"]
            row[f"lean_vs_{key}_rel"] = abs(row["lean_eta_exact"] / row[f"{key}_eta_exact"] - 1)
    row["max_rss_gib"] = _max_rss_gib()
    return row


def bench_paper_exact(cfg: Config, peak: float, hidden=(500, 500, 500), n: int = 1000) -> dict:
    """:func:`bench_exact` at the paper's net (784-``hidden``-10, tanh) at a teacher
    minimum on ``n`` ``digits28`` images, with the loss and gradient norm there
    (measured: the point is a minimum)."""
    widths = (784, *hidden, 10)
    net, theta, X = teacher_minimum(n * widths[-1], cfg.seed, widths, data.digits(size=28).X)
    Y = net.forward(theta, X)
    row = bench_exact(n * widths[-1], cfg, peak, minimum=(net, theta, X))
    row.update(widths="-".join(map(str, widths)), loss=float(net.loss(theta, X, Y)),
               grad_norm=float(np.linalg.norm(net.gradient(theta, X, Y))))
    return row


def bench_paper_gram(cfg: Config, hidden=(500, 500, 500), n: int = 1000) -> dict:
    """Time and peak memory (``tracemalloc``) of the NTK Gram matrix and of Gram plus
    reduction of the paper's net (784-``hidden``-10) at initialisation on ``n``
    ``digits28`` images."""
    from sim.nets import MLP, to_ensemble

    net = MLP((784, *hidden, 10), "relu", "mean")
    X = data.digits(size=28).X[:n]
    theta = net.init(cfg.seed)
    _, gram_s, gram_gib = _measured(lambda: net.ntk(theta, X))
    ens, red_s, red_gib = _measured(lambda: to_ensemble(net, theta, X, reduce=True))
    return dict(p=net.n_params, nK=10 * len(X), gram_seconds=gram_s, gram_peak_gib=gram_gib,
                rank=ens.d, reduction_seconds=red_s, reduction_peak_gib=red_gib)


def task(cfg: Config, index: int, seed: int) -> dict:
    peak = matmul_peak(cfg.repeats)
    configs = QUICK if cfg.tiny else CONFIGS
    rows = [bench_config(name, c, cfg, peak) for name, c in configs.items()]
    exact = [bench_exact(r, cfg, peak) for r in cfg.exact_ranks if r > 0]
    compare = (bench_exact(cfg.compare_rank, cfg, peak, ("lean", "lean_cold", "eigsh"))
               if cfg.compare_rank > 0 else None)
    return {"peak_gflops": peak, "rows": rows, "spectral_radius": bench_spectral(cfg),
            "cloning": bench_cloning(cfg), "exact": exact, "compare": compare,
            "paper_gram": bench_paper_gram(cfg) if cfg.paper_gram else None,
            "paper_exact": bench_paper_exact(cfg, peak) if cfg.paper_exact else None}


def exact_lines(rec: dict) -> list[str]:
    """The exact-threshold table and the lean-against-eigsh sentence."""
    peak = rec["peak_gflops"]
    rows = rec.get("exact") or []
    lines = []
    if rows:
        cuda = any("lean_cuda_seconds" in r for r in rows)
        lines += ["", f"Exact thresholds of interpolating tanh {'-'.join(map(str, TEACHER))} "
                  f"nets (teacher targets, B = 4, lean solver; matmul peak {peak:.1f} "
                  "GFLOP/s):", "",
                  "| rank r | n K | Gram + reduction | its peak memory | one application "
                  "of T | GFLOP/s (% of peak) | eta_exact | applications (coarse) | solve | "
                  "solve peak memory |" + (" CUDA solve |" if cuda else ""),
                  "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else "")]
        for r in rows:
            lines.append(
                f"| {r['rank']} | {r['nK']} | {r['gram_seconds']:.1f} s | "
                f"{r['gram_peak_gib']:.2f} GiB | {r['app_seconds']:.2f} s | "
                f"{r['app_gflops']:.1f} ({r['app_pct_peak']:.0f}%) | {r['lean_eta_exact']:.8g} "
                f"| {r['lean_applications']} ({r['lean_coarse_applications']}; "
                f"{r['lean_coarse_cost']:.1f}) | "
                f"{r['lean_seconds']:.1f} s | {r['lean_peak_gib']:.2f} GiB |"
                + (f" {r['lean_cuda_seconds']:.1f} s |" if "lean_cuda_seconds" in r
                   else (" n/a |" if cuda else "")))
        lines += ["", "Applications: products with T at rank r; in parentheses, those at the "
                  "coarse levels of the warm start, and what they cost in products at rank r "
                  "(each is cheaper by the square of its size over r)."]
    c = rec.get("compare")
    if c:
        lines += ["", f"Lean solver against eigsh at rank {c['rank']} (same ensemble): lean "
                  f"{c['lean_seconds']:.1f} s ({c['lean_applications']} applications at rank "
                  f"r, {c['lean_coarse_applications']} coarse worth "
                  f"{c['lean_coarse_cost']:.1f}, {c['lean_peak_gib']:.2f} GiB); "
                  f"lean without the warm start {c['lean_cold_seconds']:.1f} s "
                  f"({c['lean_cold_applications']} applications, "
                  f"{c['lean_cold_peak_gib']:.2f} GiB); eigsh {c['eigsh_seconds']:.1f} s "
                  f"({c['eigsh_applications']} applications, {c['eigsh_peak_gib']:.2f} GiB). "
                  f"Lean is {c['lean_speedup_eigsh']:.2f}x eigsh "
                  f"({c['eigsh_seconds'] / c['lean_cold_seconds']:.2f}x without the warm "
                  f"start); eta_exact agree to {c['lean_vs_eigsh_rel']:.1e} relative "
                  f"({c['lean_vs_lean_cold_rel']:.1e} warm against cold)."]
    e = rec.get("paper_exact")
    if e:
        lines += ["", f"The paper's net ({e['widths']} tanh, p = {e['p']}) at a teacher "
                  f"minimum on {e['n']} digits28 images (loss {e['loss']:.1e}, gradient norm "
                  f"{e['grad_norm']:.1e}): rank {e['rank']} of n K = {e['nK']}; Gram and "
                  f"reduction {e['gram_seconds']:.1f} s ({e['gram_peak_gib']:.2f} GiB); one "
                  f"application {e['app_seconds']:.1f} s ({e['app_gflops']:.1f} GFLOP/s, "
                  f"{e['app_pct_peak']:.0f}% of peak); eta_exact(B = 4) = "
                  f"{e['lean_eta_exact']:.10g} in {e['lean_seconds']:.1f} s "
                  f"({e['lean_seconds'] / 60:.1f} min; {e['lean_applications']} applications, "
                  f"{e['lean_coarse_applications']} coarse worth {e['lean_coarse_cost']:.1f}; "
                  f"{e['lean_peak_gib']:.2f} GiB "
                  f"traced); the process's peak resident memory {e['max_rss_gib']:.2f} GiB."]
    g = rec.get("paper_gram")
    if g:
        lines += ["", f"The paper's net (784-500-500-500-10, p = {g['p']}) at initialisation "
                  f"on 1000 digits28 images (n K = {g['nK']}): NTK Gram matrix "
                  f"{g['gram_seconds']:.1f} s ({g['gram_peak_gib']:.2f} GiB); Gram plus "
                  f"reduction to rank {g['rank']} {g['reduction_seconds']:.1f} s "
                  f"({g['reduction_peak_gib']:.2f} GiB)."]
    return lines


def summary(cfg: Config, records: list[dict], folder: Path):
    rec = records[0]
    rows, spec, peak = rec["rows"], rec["spectral_radius"], rec["peak_gflops"]
    lines = [f"float64 matmul peak: {peak:.1f} GFLOP/s ({os.cpu_count()} threads)", "",
             "| config | ours ns/path-step | ours GFLOP/s | % of peak | vs plain numba | "
             "vs NumPy | vs PyTorch |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} (d={r['d']}, n={r['n']}, B={r['B']}, "
                     f"paths={r['paths']}, steps={r['steps']}) | "
                     f"{r['ours_ns_per_path_step']:.0f} | {r['ours_gflops']:.1f} | "
                     f"{r['ours_pct_peak']:.0f}% | {_ratio(r['speedup_vs_numba'])} | "
                     f"{_ratio(r['speedup_vs_numpy'])} | {_ratio(r['speedup_vs_torch'])} |")
    lines += ["", f"spectral_radius, d={spec['d']}, n={spec['n']} rank-one factors: "
              f"{spec['seconds']:.1f} s ({spec['applications']} applications of T), "
              f"rho = {spec['rho']:.6f}"]
    cl = rec.get("cloning")
    if cl:
        lines += ["", f"Lambda(2) at log rho = {cl['log_rho']:.4f} (rank-one, d=3, n=6, B=2): "
                  f"cloning {cl['clone_value']:.4f} +- {cl['clone_se']:.4f} (error "
                  f"{cl['clone_error']:+.4f}, bias check {cl['clone_bias']:+.4f}) in "
                  f"{cl['clone_seconds']:.2f} s; plain Monte Carlo in the same time "
                  f"({cl['plain_paths']} paths): {cl['plain_rate']:.4f} +- "
                  f"{cl['plain_se']:.4f} (error {cl['plain_error']:+.4f}, final ESS "
                  f"{cl['plain_final_ess']:.1f})"]
    lines += exact_lines(rec)
    text = "\n".join(lines)
    print(text)
    return "# bench_linear\n\n" + text + "\n", {"peak_gflops": peak, "rows": rows,
                                                 "spectral_radius": spec,
                                                 "exact": rec.get("exact") or [],
                                                 "compare": rec.get("compare"),
                                                 "paper_gram": rec.get("paper_gram"),
                                                 "paper_exact": rec.get("paper_exact"),
                                                 "figures": []}


STUDY = Study(name="bench_linear", config=Config, size=lambda cfg: 1, task=task,
              table=lambda cfg, records: records[0]["rows"], summary=summary,
              serial_only=True)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
