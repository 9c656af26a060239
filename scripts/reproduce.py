"""The main job: every study in a quick mode, and an index ``<out>/REPORT.md``.

1. derivations (``derive_conditions``): the recursion, the conditions, the toy threshold;
2. the toy example (``toy_example``): GD keeps ``x = 1``, SGD leaves it;
3. the sharpness/non-uniformity diagram (``diagram``) with exact verdicts;
4. a Monte Carlo stability map over ``(B, eta)`` (``monte_carlo``).

Each study runs through ``sim.studies`` (resumable, hashed folders; ``--executor dask``
spreads their tasks over a cluster) and the report reads only their ``summary.json``.
``--size tiny`` is the test suite's smallest run, ``--full`` the larger versions;
``--docs`` copies the README's figures into ``docs/``.

    python scripts/reproduce.py [--full] [--out results] [--docs] [--quiet]
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import derive_conditions
import diagram
import monte_carlo
import toy_example
from sim.nonlinear_toy import reference
from sim.studies import atomic_write, option, preset, read_summary, run
from sim.studies.cli import parse_config

STUDIES = {"derive_conditions": derive_conditions.STUDY, "toy_example": toy_example.STUDY,
           "diagram": diagram.STUDY, "monte_carlo": monte_carlo.STUDY}
DOCS_FIGURES = {"toy_example": ["landscape", "paths", "escape_probability", "escape_times"],
                "diagram": ["diagram", "overlay"], "monte_carlo": ["stability_map"]}
DOCS = Path(__file__).resolve().parents[1] / "docs"


@dataclass(frozen=True)
class Config:
    size: str = option("quick", "tiny (the tests), quick (minutes) or full (an hour or so)",
                       choices=("tiny", "quick", "full"), full="full")
    seed: int = option(0, "seed of every study", low=0)
    docs: bool = option(False, "copy the README's figures into docs/")


def study_configs(cfg: Config) -> dict:
    """The config of each study at ``cfg.size``."""
    ref = reference()
    seed = {"seed": cfg.seed}
    if cfg.size == "tiny":
        return {
            "derive_conditions": preset(derive_conditions.Config, None, **seed),
            "toy_example": preset(toy_example.Config, None, etas=(
                0.5, round(ref.eta_mean_square, 4), round(ref.eta_almost_sure, 4), 0.7, 0.9),
                runs=200, steps=800, **seed),
            "diagram": preset(diagram.Config, None, ensembles=30, **seed),
            "monte_carlo": preset(monte_carlo.Config, None, d=2, n=6, r=1, B=(1, 6),
                                  ratios=(0.5, 1.5), steps=20, paths=256, fit_from=5, **seed),
        }
    name = "full" if cfg.size == "full" else "quick"
    return {key: preset(study.config, name, **seed) for key, study in STUDIES.items()}


def report(folders: dict, cfg: Config, seconds: dict, out: Path) -> str:
    """Markdown index: every figure, and each reproduced number next to its reference,
    read from the studies' ``summary.json``."""
    rel = {k: os.path.relpath(v, out) for k, v in folders.items()}
    sm = {k: read_summary(v) for k, v in folders.items()}
    cond, toy, dia, mc = (sm[k] for k in ("derive_conditions", "toy_example", "diagram",
                                          "monte_carlo"))
    th = toy["thresholds"]
    ref = reference()
    lines = [
        "# Reproduction report", "",
        f"Size: {cfg.size}. Wall time per study: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".", "",
        "## Numbers reproduced", "",
        "| quantity | reproduced | reference (closed form in docs/theory.md, or the paper) "
        "| study |",
        "|---|---|---|---|",
        f"| batch factor without replacement | `{cond['gamma_without']}` "
        f"| (n-B)/(B(n-1)) | [derivations]({rel['derive_conditions']}/conditions.md) |",
        f"| toy x = 1, `max_stable_lr(a=2, s=1.8, n=2, B=1)` | "
        f"{cond['toy_max_stable_lr']:.4f} | {ref.eta_mean_square:.4f} | derivations |",
        f"| toy mean-square threshold (SGD, B = 1) | {th['SGD B=1']['mean_square']:.4f} | "
        f"{ref.eta_mean_square:.4f} | [toy]({rel['toy_example']}/summary.md) |",
        f"| toy almost-sure threshold (SGD, B = 1) | {th['SGD B=1']['almost_sure']:.4f} | "
        f"{ref.eta_almost_sure:.4f} | toy |",
        f"| toy GD threshold 2/a at x = 0 and x = 1 | {th['GD']['2/a at x=0']:.4f}, "
        f"{th['GD']['2/a at x=1']:.4f} | {ref.eta_gd:g}, {ref.eta_gd:g} | toy |",
        f"| median escape time at eta = 0.7 from 1 - 1e-5 | {toy['t50_at_0.7']:.0f} steps | "
        "roughly 60 | toy |",
        f"| runs that end at x = 0, eta = 0.7 | {toy['final_at_0_at_0.7']:.3f} | SGD settles "
        "at 0 | toy |",
        f"| GD escape probability, every eta tested | {toy['gd_escape_prob_max']:.3f} | 0 "
        "(GD stays at 1) | toy |",
        f"| random d >= 2 ensembles stable outside the box | {dia['stable_outside_box']} of "
        f"{dia['ensembles']} | exist for d >= 2 | [diagram]({rel['diagram']}/summary.md) |",
        f"| largest eta sqrt(gamma) s among stable ensembles | {dia['best_ratio']:.3f} | > 1 "
        "(about 1.08 for d = 3, n = 6) | diagram |",
        f"| ensembles meeting the theorem while unstable | {dia['theorem_but_unstable']} | 0 "
        "(the theorem is sufficient) | diagram |",
        f"| Monte Carlo verdicts agreeing with rho(T) <= 1 | {mc['agree']} of {mc['decided']} "
        f"decided ({mc['undecided']} undecided) | all | "
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
            assert fig in sm[study]["figures"], (study, fig)
            lines += [f"### {fig.replace('_', ' ')}", "", captions[fig], "",
                      f"![{fig}]({rel[study]}/{fig}.png)", ""]
    return "\n".join(lines)


def reproduce(cfg: Config, *, out="results", executor="serial", workers=None, scheduler=None,
              quiet=False) -> Path:
    """Run every study (resuming finished ones) and write ``<out>/REPORT.md``."""
    out = Path(out)
    folders, seconds = {}, {}
    for name, config in study_configs(cfg).items():
        start = time.perf_counter()
        folders[name] = run(STUDIES[name], config, out=out, executor=executor,
                            workers=workers, scheduler=scheduler, quiet=quiet)
        seconds[name] = time.perf_counter() - start
    path = atomic_write(out / "REPORT.md", report(folders, cfg, seconds, out))
    if cfg.docs:
        for study, figs in DOCS_FIGURES.items():
            for fig in figs:
                shutil.copyfile(folders[study] / f"{fig}.png", DOCS / f"{fig}.png")
    if not quiet:
        print(f"wrote {path}")
    return path


def main(argv=None) -> Path:
    cfg, options = parse_config("reproduce", Config, argv, __doc__.splitlines()[0])
    return reproduce(cfg, **options)


if __name__ == "__main__":
    main()
