"""The main job: every study in a quick mode, and an index ``<out>/REPORT.md``.

1. derivations (``derive_conditions``): the recursion, the conditions, the toy threshold;
2. the toy example (``toy_example``): GD keeps ``x = 1``, SGD leaves it;
3. the sharpness/non-uniformity diagram (``diagram``) with exact verdicts;
4. a Monte Carlo stability map over ``(B, eta)`` (``monte_carlo``);
5. the paper's network experiments on offline data: Table 1 (``nn_sharpness``),
   Figure 3 with each minimum's exact threshold (``nn_diagram``), Figure 4
   (``nn_correlation``) and Figure 1 (``nn_escape``); and where training ends relative
   to its edge of stability (``nn_edge``);
6. the theorem on a network (``nn_stay``): nonlinear SGD leaves an exact (polished)
   minimum where its linearization is unstable.

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

import derive_conditions  # scripts/derive_conditions.py: a script (it uses theory)

from sim.nonlinear_toy import reference
from sim.studies import (
    atomic_write,
    diagram,
    moment_spectrum,
    monte_carlo,
    nn_correlation,
    nn_diagram,
    nn_edge,
    nn_escape,
    nn_sharpness,
    nn_stay,
    option,
    preset,
    read_summary,
    run,
    toy_example,
)
from sim.studies.cli import OUT, parse_config
from sim.studies.core import check_study

STUDIES = {"derive_conditions": derive_conditions.STUDY, "toy_example": toy_example.STUDY,
           "diagram": diagram.STUDY, "monte_carlo": monte_carlo.STUDY,
           "nn_sharpness": nn_sharpness.STUDY, "nn_diagram": nn_diagram.STUDY,
           "nn_correlation": nn_correlation.STUDY, "nn_escape": nn_escape.STUDY,
           "nn_edge": nn_edge.STUDY, "moment_spectrum": moment_spectrum.STUDY,
           "nn_stay": nn_stay.STUDY}
DOCS_FIGURES = {"toy_example": ["landscape", "paths", "escape_probability", "escape_times"],
                "diagram": ["diagram", "overlay"], "monte_carlo": ["stability_map"],
                "nn_sharpness": ["sharpness"], "nn_diagram": ["diagram", "edge_ratio"],
                "nn_correlation": ["correlation"], "nn_escape": ["escape"],
                "nn_edge": ["edge"], "moment_spectrum": ["moment_spectrum", "thresholds"],
                "nn_stay": ["stay"]}
DOCS_NAMES = {("nn_diagram", "diagram"): "nn_diagram"}
"""Figures whose name in docs/ differs from their name in the results folder."""
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
            **tiny_networks(cfg.seed),
        }
    name = "full" if cfg.size == "full" else "quick"
    return {key: preset(study.config, name, **seed) for key, study in STUDIES.items()}


def tiny_edge(seed: int):
    """``nn_edge`` at the test suite's size."""
    return preset(nn_edge.Config, None, n=20, hidden=(64,), Bs=(4, 20), scales=(1.0, 3.0),
                  warmups=(0, 200), seeds=1, steps=600, segments=6, exact_every=3, batches=4,
                  lyapunov_paths=16, lyapunov_steps=100, loss_tol=1e-4, seed=seed)


def tiny_networks(seed: int) -> dict:
    """The network studies at the test suite's sizes: 20 digits, a 64-64-10 net."""
    common = dict(n=20, hidden=(64,), seed=seed)
    return {
        "nn_sharpness": preset(nn_sharpness.Config, None, etas=(0.3, 2.0), seeds=2,
                               steps=3000, loss_tol=1e-4, **common),
        "nn_diagram": preset(nn_diagram.Config, None, eta=0.5, Bs=(4,), seeds=2, steps=3000,
                             loss_tol=1e-4, **common),
        "nn_correlation": preset(nn_correlation.Config, None, etas=(0.2,), Bs=(4, 20),
                                 scales=(1.0, 2.0), seeds=2, steps=2000, **common),
        "nn_escape": preset(nn_escape.Config, None, hidden=(64,), n=20, gd_steps=4000,
                            Bs=(1, 4), seeds=3, steps=100, land_steps=1000,
                            lyapunov_paths=16, lyapunov_steps=100, seed=seed),
        "nn_edge": tiny_edge(seed),
        "moment_spectrum": preset(moment_spectrum.Config, None, toy_etas=(0.7,),
                                  qs=(0.0, 2.0, 4.0), population=200, steps=30,
                                  escape_etas=(0.55, 0.6), runs=50, seed=seed),
        "nn_stay": preset(nn_stay.Config, None, n=10, hidden=(16,), Bs=(1,),
                          ratios=(0.8, 1.1, 1.5), runs=8, steps=600, lyapunov_paths=32,
                          lyapunov_steps=300, seed=seed),
    }


def network_sections(sm: dict, rel: dict) -> list[str]:
    """The report's section per network experiment: the data, the study's table and its
    result sentence, recomputed here from the summary's numbers by the study's own rule."""
    sh, dg, co, es, ed = (sm[k] for k in ("nn_sharpness", "nn_diagram", "nn_correlation",
                                          "nn_escape", "nn_edge"))
    lines = ["## The paper's network experiments (offline data)", "",
             "FashionMNIST and CIFAR10 cannot be downloaded here: these run on scikit-learn's "
             "digits (run `--dataset idx --idx DIR` for FashionMNIST's IDX files and "
             "`--hidden 500 500 500` for the paper's net). Every network study trains, then "
             "polishes the end point to an exact minimum; tables hold minima only and count "
             "what was left out.", "",
             f"### Table 1: sharpness of GD minima ([study]({rel['nn_sharpness']}/summary.md))",
             "", f"Data and net: {sh['data']}; {sh['net']}.", "", *sh["table"], "",
             nn_sharpness.sentence(nn_sharpness.pattern(sh["by_eta"])), "",
             f"### Figure 3: SGD minima and their exact edge "
             f"([study]({rel['nn_diagram']}/summary.md))", "",
             f"Data and net: {dg['data']}; {dg['net']}.", "", *dg["table"], "",
             nn_diagram.sentence(dg["n"], dg["by_B"]), "",
             f"### Figure 4: s against a ([study]({rel['nn_correlation']}/summary.md))", "",
             f"Data: {co['data']}; {co['models']} models.", "", *co["table"], "",
             nn_correlation.sentence(co["by_scale"]), "",
             f"### Figure 1: leaving the GD minimum, and landing "
             f"([study]({rel['nn_escape']}/summary.md))", "",
             f"Data: {es['data']}.", "", *es["table"], "",
             nn_escape.sentence(es["gd"], es["by_B"], es["eta"]), ""]
    ms = sm["moment_spectrum"]
    th = ms["thresholds"]
    order = [th["as"], th["1"], th["2"], th["4"]]
    ordered = all(x >= y for x, y in zip(order[:-1], order[1:], strict=True))
    lines += [f"### Moments of every order ([study]({rel['moment_spectrum']}/summary.md))", "",
              f"Toy x = 1, B = 1: eta_as = {th['as']:.4f}, eta_1 = {th['1']:.4f}, "
              f"eta_2 = {th['2']:.4f}, eta_4 = {th['4']:.4f}: "
              + ("ordered eta_as >= eta_1 >= eta_2 >= eta_4, as stability of a higher moment "
                 "implies that of the lower ones." if ordered else
                 "NOT ordered eta_as >= eta_1 >= eta_2 >= eta_4, which the theory requires."),
              ""]
    lines += [f"### Beyond the paper: four edges of stability along training "
              f"([study]({rel['nn_edge']}/summary.md))", "",
              f"Data: {ed['data']}.", "", *ed["table"], "",
              nn_edge.sentence(ed["n"], ed["groups"]), ""]
    st = sm["nn_stay"]
    lines += [f"### The theorem on a network ([study]({rel['nn_stay']}/summary.md))", "",
              "Nonlinear SGD started next to an exact (Gauss-Newton polished) minimum, at "
              "eta = rho eta_exact(B): where P(leave) crosses 1/2, against the almost-sure "
              "threshold eta_as of the minimum's linearization.", "",
              *nn_stay.table_lines(st["results"]), "", nn_stay.verdict(st), ""]
    return lines


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
        f"[Monte Carlo]({rel['monte_carlo']}/summary.md) |",
        f"| cloning verdicts (Lambda(2)) agreeing with rho(T) <= 1 | {mc['clone_agree']} of "
        f"{mc['clone_decided']} decided ({mc['clone_undecided']} undecided) | all, none "
        "undecided | Monte Carlo |", "",
        *network_sections(sm, rel),
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
        "sharpness": "Table 1: sharpness of GD minima against 2/eta, beside the paper's.",
        "edge_ratio": "eta / eta_exact of every SGD and GD minimum for its own B.",
        "correlation": "Figure 4: non-uniformity against sharpness of many trained models.",
        "escape": "Figure 1: training loss and test accuracy after switching from GD to SGD.",
        "edge": "Distance to the edge of stability along training (dashed: warm-up; thick: "
                "large initialisation).",
        "stay": "P(leave) of nonlinear SGD started next to an exact minimum against "
                "eta / eta_exact(B) (points: the network, dashed: its linearization, "
                "dotted: eta_as).",
        "moment_spectrum": "Lambda(q) by cloning against q, with the Lyapunov slope at 0, "
                           "log rho(T) at q = 2 and the fourth-moment operator at q = 4.",
        "thresholds": "The toy's ordered thresholds eta_as >= eta_1 >= eta_2 >= eta_4 and "
                      "the probability that SGD leaves x = 1.",
    }
    for study, figs in DOCS_FIGURES.items():
        for fig in figs:
            assert fig in sm[study]["figures"], (study, fig)
            caption = ("SGD and GD minima on the (a, s) plane with each B's line."
                       if (study, fig) == ("nn_diagram", "diagram") else captions[fig])
            lines += [f"### {study}: {fig.replace('_', ' ')}", "", caption, "",
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
                name = DOCS_NAMES.get((study, fig), fig)
                shutil.copyfile(folders[study] / f"{fig}.png", DOCS / f"{name}.png")
    if not quiet:
        print(f"wrote {path}")
    return path


def check(cfg: Config, options: dict) -> None:
    """Every study's checks (its results folder can be written, its data exist) before
    the first study runs: ``ValueError`` naming the option."""
    for name, config in study_configs(cfg).items():
        check_study(STUDIES[name], config, options["out"], OUT)


def main(argv=None) -> Path:
    cfg, options = parse_config("reproduce", Config, argv, __doc__.splitlines()[0],
                                check=check)
    return reproduce(cfg, **options)


if __name__ == "__main__":
    main()
