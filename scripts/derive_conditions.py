"""Derive the stability conditions of linearized SGD and write a report.

Everything printed is computed by :mod:`theory` from definitions: the batch factor
of each sampling scheme, the second-moment recursion (matrix and Kronecker form),
the 1-D conditions and threshold, the paper's sufficient condition and the 1-D
heavy-ball recursion. Output: ``results/derive_conditions/`` with
``conditions.json`` and ``conditions.md`` (plus ``config.json``, ``meta.json``).

    python scripts/derive_conditions.py [--out results] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import theory  # noqa: E402
from sim.results import write_results  # noqa: E402
from theory.numeric import max_stable_lr  # noqa: E402

# The toy minimum x = 1 (docs/theory.md, section 5).
TOY = {"a": 2.0, "s": 1.8, "n": 2, "B": 1}


@dataclass(frozen=True)
class Config:
    out: str = "results"
    theorem_d: int = 2
    quiet: bool = False


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
    closed = TOY["a"] * 2 / (TOY["a"] ** 2 + TOY["s"] ** 2)  # 2a/(a^2 + s^2), gamma = 1
    data["toy"] = {"input": TOY, "max_stable_lr": toy, "closed_form": closed}
    lines += ["## Toy minimum x = 1 (docs/theory.md, section 5)", "",
              f"- `max_stable_lr(a=2, s=1.8, n=2, B=1)` = {toy:.6f} (closed form "
              f"2a/(a^2 + s^2) = {closed:.6f})", ""]
    return data, "\n".join(lines)


def main(config: Config) -> Path:
    derived = derive(config.theorem_d)
    data, md = report(derived)
    if not config.quiet:
        for section, items in data.items():
            print(f"== {section}")
            if section == "toy":
                print(f"   max_stable_lr = {items['max_stable_lr']:.6f}")
                continue
            for name, both in items.items():
                print(f"   {name}: {both['text']}")
                print(f"   {' ' * len(name)}  LaTeX: {both['latex']}")

    def fill(tmp: Path) -> None:
        (tmp / "conditions.json").write_text(json.dumps(data, indent=2))
        (tmp / "conditions.md").write_text(md)
        (tmp / "summary.md").write_text(md)

    folder = write_results(Path(config.out) / "derive_conditions", vars(config), fill)
    if not config.quiet:
        print(f"wrote {folder}")
    return folder


def parse_args(argv=None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results", help="results root (default: results)")
    ap.add_argument("--theorem-d", type=int, default=2,
                    help="dimension of the symbolic theorem condition (default 2)")
    ap.add_argument("--quiet", action="store_true", help="print nothing")
    ns = ap.parse_args(argv)
    return Config(out=ns.out, theorem_d=ns.theorem_d, quiet=ns.quiet)


if __name__ == "__main__":
    main(parse_args())
