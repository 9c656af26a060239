"""The main job: every study in a quick mode, and an index ``results/REPORT.md``.

1. derivations (``derive_conditions``): the recursion, the conditions, the toy threshold;
2. the toy example (``toy_example``): GD keeps ``x = 1``, SGD leaves it;
3. the sharpness/non-uniformity diagram (``diagram``) with exact verdicts;
4. a Monte Carlo stability map over ``(B, eta)`` (``monte_carlo``).

Quick mode takes about a minute on 2 cores; ``--full`` runs the larger versions.
``--docs`` also copies the README's figures into ``docs/``.

    python scripts/reproduce.py [--full] [--out results] [--docs] [--quiet]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import derive_conditions  # noqa: E402
import diagram  # noqa: E402
import monte_carlo  # noqa: E402
import toy_example  # noqa: E402

from sim.nonlinear_toy import reference  # noqa: E402

DOCS_FIGURES = {"toy_example": ["landscape", "paths", "escape_probability", "escape_times"],
                "diagram": ["diagram", "overlay"], "monte_carlo": ["stability_map"]}


@dataclass(frozen=True)
class Config:
    full: bool = False
    out: str = "results"
    docs: bool = False
    quiet: bool = False
    tiny: bool = False  # for the test suite: smallest sizes that exercise everything


def study_configs(cfg: Config) -> dict:
    common = dict(out=cfg.out, quiet=True)
    ref = reference()
    if cfg.tiny:
        return {
            "derive_conditions": derive_conditions.Config(**common),
            "toy_example": toy_example.Config(etas=(0.5, round(ref.eta_mean_square, 4),
                                                    round(ref.eta_almost_sure, 4), 0.7, 0.9),
                                              runs=200,
                                              steps=800, **common),
            "diagram": diagram.Config(ensembles=30, **common),
            "monte_carlo": monte_carlo.Config(d=2, n=6, r=1, B=(1, 6), ratios=(0.5, 1.5),
                                              steps=20, paths=256, fit_from=5, **common),
        }
    if cfg.full:
        return {
            "derive_conditions": derive_conditions.Config(**common),
            "toy_example": toy_example.Config(**toy_example.FULL, **common),
            "diagram": diagram.Config(ensembles=4000, **common),
            "monte_carlo": monte_carlo.Config(steps=100, paths=16384,
                                              ratios=(0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 2.0),
                                              **common),
        }
    return {
        "derive_conditions": derive_conditions.Config(**common),
        "toy_example": toy_example.Config(**common),
        "diagram": diagram.Config(**common),
        "monte_carlo": monte_carlo.Config(steps=60, paths=4096, **common),
    }


MODULES = {"derive_conditions": derive_conditions, "toy_example": toy_example,
           "diagram": diagram, "monte_carlo": monte_carlo}


def _csv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def report(folders: dict, cfg: Config, seconds: dict) -> str:
    """Markdown index: every figure, and each reproduced number next to the reference."""
    root = Path(cfg.out)
    rel = {k: os.path.relpath(v, root) for k, v in folders.items()}
    cond = json.loads((folders["derive_conditions"] / "conditions.json").read_text())
    th = json.loads((folders["toy_example"] / "thresholds.json").read_text())
    toy = dict(np.load(folders["toy_example"] / "data.npz"))
    i7 = int(np.argmin(np.abs(toy["eta"] - 0.7)))
    dia = diagram.read_rows(folders["diagram"])
    stable_out = [r for r in dia if r["outside_box_stable"]]
    best = max((r["ratio"] for r in dia if r["stable"]), default=float("nan"))
    mc = _csv(folders["monte_carlo"] / "data.csv")
    decided = [r for r in mc if r["mc_verdict"] != "undecided"]
    agree = sum((r["mc_verdict"] == "stable") == (float(r["rho"]) <= 1) for r in decided)
    mode = "tiny" if cfg.tiny else ("full" if cfg.full else "quick")
    ref = reference()
    lines = [
        "# Reproduction report", "",
        f"Mode: {mode}. Wall time per study: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".", "",
        "## Numbers reproduced", "",
        "| quantity | reproduced | reference (closed form in docs/theory.md, or the paper) "
        "| study |",
        "|---|---|---|---|",
        f"| batch factor without replacement | `{cond['recursion (without)']['gamma']['text']}` "
        f"| (n-B)/(B(n-1)) | [derivations]({rel['derive_conditions']}/conditions.md) |",
        f"| toy x = 1, `max_stable_lr(a=2, s=1.8, n=2, B=1)` | "
        f"{cond['toy']['max_stable_lr']:.4f} | {ref.eta_mean_square:.4f} | derivations |",
        f"| toy mean-square threshold (SGD, B = 1) | {th['SGD B=1']['mean_square']:.4f} | "
        f"{ref.eta_mean_square:.4f} | [toy]({rel['toy_example']}/summary.md) |",
        f"| toy almost-sure threshold (SGD, B = 1) | {th['SGD B=1']['almost_sure']:.4f} | "
        f"{ref.eta_almost_sure:.4f} | toy |",
        f"| toy GD threshold 2/a at x = 0 and x = 1 | {th['GD']['2/a at x=0']:.4f}, "
        f"{th['GD']['2/a at x=1']:.4f} | {ref.eta_gd:g}, {ref.eta_gd:g} | toy |",
        f"| median escape time at eta = 0.7 from 1 - 1e-5 | {toy['sgd_t50'][i7]:.0f} steps | "
        "roughly 60 | toy |",
        f"| runs that end at x = 0, eta = 0.7 | {toy['sgd_final_at_0'][i7]:.3f} | SGD settles "
        "at 0 | toy |",
        f"| GD escape probability, every eta tested | {toy['gd_escape_prob'].max():.3f} | 0 "
        "(GD stays at 1) | toy |",
        f"| random d >= 2 ensembles stable outside the box | {len(stable_out)} of {len(dia)} | "
        "exist for d >= 2 | [diagram]({}/summary.md) |".format(rel["diagram"]),
        f"| largest eta sqrt(gamma) s among stable ensembles | {best:.3f} | > 1 (about 1.08 "
        "(d = 3, n = 6) | diagram |",
        f"| Monte Carlo verdicts agreeing with rho(T) <= 1 | {agree} of {len(decided)} decided "
        f"({len(mc) - len(decided)} undecided) | all | "
        f"[Monte Carlo]({rel['monte_carlo']}/summary.md) |", "",
        "Not reproduced here: the paper's Table 1 and Figures 1, 3, 4 train networks on "
        "FashionMNIST and CIFAR10, which cannot be downloaded on this machine.", "",
        "## Figures", ""]
    captions = {
        "landscape": "The toy: two global minima with the same sharpness, different "
                     "non-uniformity.",
        "paths": "At eta = 0.7, GD stays at x = 1; SGD (B = 1) leaves within about 60 steps "
                 "and settles at x = 0.",
        "escape_probability": "Probability of leaving x = 1 against eta, with the "
                              "mean-square (dashed) and almost-sure (dotted) thresholds.",
        "escape_times": "Escape times against the Lyapunov prediction log(delta/eps)/lambda.",
        "diagram": "Sharpness/non-uniformity diagram: box (dashed) and exact 1-D boundary.",
        "overlay": "Random d >= 2 ensembles coloured by exact stability; circled: stable "
                   "outside the box.",
        "stability_map": "Exact, theorem and box boundaries over (B, eta) against Monte "
                         "Carlo verdicts.",
    }
    for study, figs in DOCS_FIGURES.items():
        for fig in figs:
            lines += [f"### {fig.replace('_', ' ')}", "", captions[fig], "",
                      f"![{fig}]({rel[study]}/{fig}.png)", ""]
    return "\n".join(lines)


def main(cfg: Config) -> Path:
    configs = study_configs(cfg)
    folders, seconds = {}, {}
    for name in tqdm(configs, disable=cfg.quiet, desc="reproduce"):
        start = time.perf_counter()
        folders[name] = MODULES[name].main(configs[name])
        seconds[name] = time.perf_counter() - start
    out = Path(cfg.out)
    tmp = out / ".REPORT.md.tmp"
    tmp.write_text(report(folders, cfg, seconds))
    tmp.replace(out / "REPORT.md")
    if cfg.docs:
        docs = HERE.parent / "docs"
        docs.mkdir(exist_ok=True)
        for study, figs in DOCS_FIGURES.items():
            for fig in figs:
                shutil.copyfile(folders[study] / f"{fig}.png", docs / f"{fig}.png")
    if not cfg.quiet:
        print(f"wrote {out / 'REPORT.md'}")
    return out / "REPORT.md"


def parse_args(argv=None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the larger versions (an hour or so)")
    ap.add_argument("--out", default="results")
    ap.add_argument("--docs", action="store_true", help="copy the README's figures to docs/")
    ap.add_argument("--quiet", action="store_true")
    ns = ap.parse_args(argv)
    return Config(full=ns.full, out=ns.out, docs=ns.docs, quiet=ns.quiet)


if __name__ == "__main__":
    main(parse_args())
