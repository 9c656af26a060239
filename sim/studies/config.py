"""Study configurations: frozen dataclasses whose fields carry their own validation
and command-line description.

A field is declared with :func:`option`::

    @dataclass(frozen=True)
    class Config:
        eta: float = option(0.5, "learning rate", positive=True)
        B: tuple[int, ...] = option((1, 2, 4), "batch sizes", low=1, quick=(1, 4))
        scheme: str = option("without", "sampling scheme", choices=("without", "with"))
        seed: int = option(0, "study seed", low=0)

From the annotation and the metadata, :func:`validate` checks a record and
:func:`sim.studies.cli.parser` builds an ``argparse`` option that rejects a bad value
with a usage error naming the option. ``quick``, ``full`` and ``paper`` give the values
of the ``--quick``, ``--full`` and ``--paper`` presets (a study offers ``--paper`` only
where some option has a ``paper`` value: :func:`has_preset`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import MISSING, field, fields

KEY = "study"
SCALARS = (int, float, str, bool)
PRESETS = ("quick", "full", "paper")
"""Preset names: small (minutes), larger (stated wall time), the paper's own sizes."""


def option(default, help: str = "", *, low=None, high=None, positive: bool = False,
           choices: tuple | None = None, quick=MISSING, full=MISSING, paper=MISSING,
           nonempty: bool = True):
    """A validated, documented config field.

    Parameters
    ----------
    default
        Default value (tuples for sequence fields).
    help : str
        Help text of the command-line option.
    low, high : number, optional
        Inclusive bounds of the value (of every element for sequences).
    positive : bool
        Require ``> 0``.
    choices : tuple, optional
        Allowed values.
    quick, full, paper
        Values under the ``--quick``, ``--full`` and ``--paper`` presets (default:
        ``default``).
    nonempty : bool
        Sequences must hold at least one element.
    """
    meta = dict(help=help, low=low, high=high, positive=positive, choices=choices,
                quick=quick, full=full, paper=paper, nonempty=nonempty)
    return field(default=default, metadata={KEY: meta})


def spec(cls) -> list[tuple[str, type, type | None, dict, object]]:
    """``(name, base type, element type or None, metadata, default)`` of each option."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        meta = f.metadata.get(KEY)
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} must be declared with option()")
        typ = hints[f.name]
        origin = typing.get_origin(typ)
        if origin is tuple:
            elem = typing.get_args(typ)[0]
            out.append((f.name, tuple, elem, meta, f.default))
        elif typ in SCALARS:
            out.append((f.name, typ, None, meta, f.default))
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {typ}")
    return out


def check_scalar(name: str, typ: type, meta: dict, value):
    """``value`` converted to ``typ`` and checked against ``meta``; ``ValueError`` naming
    ``name`` otherwise."""
    if typ is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError(f"{name} must be an integer, got {value!r}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    elif typ is str and not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ValueError(f"{name} must be one of {tuple(meta['choices'])}, got {value!r}")
    if typ in (int, float):
        if meta.get("positive") and not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
        if meta.get("low") is not None and value < meta["low"]:
            raise ValueError(f"{name} must be >= {meta['low']}, got {value!r}")
        if meta.get("high") is not None and value > meta["high"]:
            raise ValueError(f"{name} must be <= {meta['high']}, got {value!r}")
    return value


def check_value(name: str, typ: type, elem, meta: dict, value):
    if typ is tuple:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name} must be a sequence, got {value!r}")
        value = tuple(check_scalar(name, elem, meta, v) for v in value)
        if meta.get("nonempty", True) and not value:
            raise ValueError(f"{name} must not be empty")
        return value
    return check_scalar(name, typ, meta, value)


def validate(config):
    """Check every field of a config record (raising ``ValueError`` naming the field)
    and return the record with normalised values (ints as ints, tuples as tuples)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {config!r}")
    changes = {}
    for name, typ, elem, meta, _ in spec(type(config)):
        value = getattr(config, name)
        new = check_value(name, typ, elem, meta, value)
        if new != value or type(new) is not type(value):
            changes[name] = new
    if hasattr(config, "check"):
        config.check()
    return dataclasses.replace(config, **changes) if changes else config


def has_preset(cls, name: str) -> bool:
    """Whether some option of ``cls`` has a value under preset ``name``."""
    return any(meta.get(name, MISSING) is not MISSING for *_, meta, _ in spec(cls))


def preset(cls, name: str | None, **overrides):
    """A config record: defaults, then the values of preset ``name`` (one of
    :data:`PRESETS`), then ``overrides``; validated."""
    if name is not None and name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {name!r}")
    values = {}
    for fname, _typ, _elem, meta, default in spec(cls):
        value = meta.get(name, MISSING) if name else MISSING
        values[fname] = default if value is MISSING else value
    values.update(overrides)
    return validate(cls(**values))


def to_dict(config) -> dict:
    return {f.name: getattr(config, f.name) for f in fields(config)}


def config_hash(config, length: int = 10) -> str:
    """Stable hash of a config record's values (not of its class name): the first
    ``length`` hex digits of their SHA-256 (10 name a results folder, 64 are the whole
    hash that each of its run files records)."""
    blob = json.dumps(to_dict(config), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def from_dict(cls, data: dict):
    """The record of ``cls`` from ``config.json`` data (lists become tuples)."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return validate(cls(**values))


__all__ = ["PRESETS", "has_preset", "option", "validate", "preset", "config_hash", "to_dict",
           "from_dict", "spec"]
