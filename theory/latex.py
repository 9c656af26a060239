"""LaTeX of derived results, with the project's symbol spelling."""

from __future__ import annotations

import dataclasses

import sympy as sp

_SYMBOL_NAMES = {"eta_max": r"\eta_{\max}", "H_xi": r"H_{\xi}", "Sigma": r"\Sigma"}


def latex(obj) -> str | dict:
    """LaTeX for a sympy object, a dict of them or a derived record.

    Dicts and dataclass records (``Recursion``, ``MomentumRecursion``) give a dict
    of field name to LaTeX string; fields that are not sympy objects are skipped.
    """
    if isinstance(obj, dict):
        return {k: latex(v) for k, v in obj.items() if isinstance(v, (sp.Basic, sp.MatrixBase))}
    if dataclasses.is_dataclass(obj):
        return latex({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, (sp.Basic, sp.MatrixBase)):
        names = {x: _SYMBOL_NAMES[x.name] for x in obj.free_symbols
                 if getattr(x, "name", None) in _SYMBOL_NAMES}
        return sp.latex(obj, symbol_names=names)
    raise TypeError(f"obj must be a sympy object, dict or derived record, got {type(obj)}")
