"""Argument checks shared by the public functions of :mod:`sim`.

Every check names the offending argument and raises ``TypeError`` for a value of
the wrong kind (bool, str, complex, None where a number is needed) and
``ValueError`` for a value of the right kind outside its range. This module imports
nothing from :mod:`sim`.
"""

from __future__ import annotations

import numbers

import numpy as np


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(value, name: str, low: int = 1, high: int | None = None) -> int:
    """An integer (not bool, not a float that happens to be whole) in ``[low, high]``."""
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return int(value)


def check_seed(seed, name: str = "seed") -> int:
    """A non-negative integer seed (what ``numpy.random.SeedSequence`` accepts)."""
    return check_int(seed, name, 0)


def check_real(value, name: str) -> float:
    """A finite real number: not bool, str, complex or None."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(value, name: str) -> float:
    """A finite real number ``> 0``."""
    v = check_real(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def check_probability(value, name: str = "p") -> float:
    """A real number in ``[0, 1]``."""
    v = check_real(value, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_choice(value, name: str, allowed: tuple) -> str:
    """A string among ``allowed`` (a list or other unhashable value is a ``TypeError``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {allowed} (a string), got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def real_array(x, name: str, ndim: int | None = None) -> np.ndarray:
    """``x`` as a float64 array: numeric entries only (no str, object or complex),
    ``ndim`` dimensions, non-empty, finite."""
    if isinstance(x, np.ndarray):
        raw = x
    else:
        try:
            raw = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a real array, got {type(x).__name__}") from exc
    if raw.dtype.kind not in "biuf":
        what = "complex" if raw.dtype.kind == "c" else f"dtype {raw.dtype}"
        raise TypeError(f"{name} must be a real array, got {what} entries")
    arr = np.asarray(raw, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(where)} is not finite")
    return arr


def check_shape(x, name: str, shape: tuple) -> np.ndarray:
    """A finite real array of exactly ``shape`` (a model's ``theta``, ``v``, ``Y``)."""
    arr = real_array(x, name, len(shape))
    if arr.shape != tuple(shape):
        want = f"({shape[0]},)" if len(shape) == 1 else str(tuple(shape))
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def check_square(M, name: str, d: int) -> np.ndarray:
    """A finite real ``(d, d)`` array."""
    arr = real_array(M, name)
    if arr.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}), got {arr.shape}")
    return arr


def check_bool(value, name: str) -> bool:
    """A boolean: ``bool`` or ``numpy.bool_`` only (``'no'``, ``0``, ``None`` are refused,
    since a truthy string would silently mean True)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


#: Fraction of physical memory one allocation may take unless ``memory_budget`` says
#: otherwise.
MEMORY_FRACTION = 0.5


def physical_memory() -> int:
    """Bytes of physical memory (``os.sysconf``; 8 GiB where it cannot be read)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def memory_budget(budget=None) -> int:
    """The byte budget for one large allocation: ``budget`` when given (a positive
    number of bytes), else :data:`MEMORY_FRACTION` of physical memory."""
    if budget is None:
        return int(MEMORY_FRACTION * physical_memory())
    return int(check_positive(budget, "memory_budget"))


def check_memory(nbytes: float, name: str, budget=None, what: str = "") -> None:
    """Refuse, before allocating, a request estimated at ``nbytes`` bytes that exceeds
    the budget: a ``ValueError`` that names the argument responsible, the estimate and
    the budget."""
    limit = memory_budget(budget)
    if nbytes > limit:
        thing = f" for {what}" if what else ""
        raise ValueError(
            f"{name}: the estimated memory{thing} is {nbytes / 2**30:.3g} GiB, over the "
            f"budget of {limit / 2**30:.3g} GiB (pass memory_budget=<bytes> to change it)")
