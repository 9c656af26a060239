"""Derive the stability conditions of linearized SGD and write a report.

Everything printed is computed by :mod:`theory` from definitions: the batch factor
of each sampling scheme, the second-moment recursion (matrix and Kronecker form),
the 1-D conditions and threshold, the paper's sufficient condition and the 1-D
heavy-ball recursion. One task; the results folder holds ``conditions.json`` and
``conditions.md`` besides the usual files.

    python scripts/derive_conditions.py [--out results] [--quiet]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sympy as sp

import theory
from sim.nonlinear_toy import reference
from sim.studies import Study, atomic_write, main, option, write_json
from theory.numeric import max_stable_lr

# The toy minimum x = 1 (docs/theory.md, section 5).
TOY = {"a": 2.0, "s": 1.8, "n": 2, "B": 1}


@dataclass(frozen=True)
class Config:
    theorem_d: int = option(2, "dimension of the symbolic theorem condition", low=1, high=4)
    seed: int = option(0, "study seed (nothing here is random)", low=0)


def derive(theorem_d: int = 2) -> dict:
    """All derived results as ``{section: {name: sympy object}}``."""
    out: dict[str, dict] = {}
    for scheme in theory.SCHEMES:
        rec = theory.second_moment_recursion(scheme)
        out[f"recursion ({scheme})"] = {
            "gamma": rec.gamma, "T(M)": rec.T_gamma, "vec T": rec.kron, "C": rec.C, "D": rec.D,
        }
    for scheme in ("without", "with"):
        c = theory.conditions_1d(scheme)
        out[f"1-D conditions ({scheme})"] = {
            k: c[k] for k in ("gamma", "multiplier", "exact", "gd", "box", "eta_max")
        }
    out["theorem (Wu-Ma-E)"] = {"E[(I - eta H_xi)^2]": theory.theorem_condition(theorem_d)}
    mom = theory.momentum_recursion("without", batch=False)
    out["heavy-ball 1-D"] = {
        "A": mom.matrix, "charpoly": mom.charpoly,
        "eta_max": sp.Eq(theory.symbols.eta_max, mom.eta_max),
        "at beta=0": sp.factor(mom.eta_max.subs(theory.symbols.beta, 0)),
        "at gamma=0": sp.factor(mom.eta_max.subs(theory.symbols.gamma, 0)),
        **{f"Jury {i + 1}": j for i, j in enumerate(mom.jury)},
    }
    return out


def report(derived: dict) -> tuple[dict, str]:
    """JSON-ready dict (text and LaTeX per result) and a Markdown report."""
    data: dict[str, dict] = {}
    lines = ["# Derived stability conditions of linearized SGD", ""]
    for section, items in derived.items():
        lines += [f"## {section}", ""]
        data[section] = {}
        for name, expr in items.items():
            text, tex = sp.sstr(expr), theory.latex(expr)
            data[section][name] = {"text": text, "latex": tex}
            lines += [f"- **{name}**: `{text}`", "", f"  $${tex}$$", ""]
    toy = float(max_stable_lr(**TOY))
    closed = reference().eta_mean_square  # 2a/(a^2 + s^2): gamma = 1 at n = 2, B = 1
    data["toy"] = {"input": TOY, "max_stable_lr": toy, "closed_form": closed}
    lines += ["## Toy minimum x = 1 (docs/theory.md, section 5)", "",
              f"- `max_stable_lr(a=2, s=1.8, n=2, B=1)` = {toy:.6f} (closed form "
              f"2a/(a^2 + s^2) = {closed:.6f})", ""]
    return data, "\n".join(lines)


def task(cfg: Config, index: int, seed: int) -> dict:
    data, md = report(derive(cfg.theorem_d))
    return {"conditions": data, "markdown": md}


def files(cfg: Config, records: list[dict], folder: Path) -> None:
    write_json(folder / "conditions.json", records[0]["conditions"])
    atomic_write(folder / "conditions.md", records[0]["markdown"])


def summary(cfg: Config, records: list[dict], folder: Path):
    data = records[0]["conditions"]
    return records[0]["markdown"], {
        "gamma_without": data["recursion (without)"]["gamma"]["text"],
        "toy_max_stable_lr": data["toy"]["max_stable_lr"],
        "toy_closed_form": data["toy"]["closed_form"], "figures": []}


STUDY = Study(name="derive_conditions", config=Config, size=lambda cfg: 1, task=task,
              table=lambda cfg, records: [
                  {"section": section, "name": name, "text": both["text"]}
                  for section, items in records[0]["conditions"].items() if section != "toy"
                  for name, both in items.items()],
              summary=summary, files=files)

if __name__ == "__main__":
    main(STUDY, description=__doc__.splitlines()[0])
