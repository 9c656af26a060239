"""How a batch is drawn: the :class:`Sampling` record and the batch factor ``gamma``.

One record describes the sampling of every function in :mod:`sim` (exact moments,
thresholds, Monte Carlo, network training); a plain integer ``B`` is shorthand for
``Sampling(B)``, the paper's scheme. See ``docs/theory.md``, section 2.

=============  ==========================================================  ==============
scheme         a batch                                                     ``gamma(n)``
=============  ==========================================================  ==============
``without``    ``B`` distinct indices, uniform, fresh at every step          ``(n-B)/(B(n-1))``
``with``       ``B`` iid uniform indices                                     ``1/B``
``reshuffle``  consecutive blocks of a fresh random permutation per epoch    (none)
``mixture``    one uniform index with probability ``p``, else all ``n``      ``p``
=============  ==========================================================  ==============

Random reshuffling is not Markov step by step (a batch depends on the earlier ones
in its epoch), so it has no per-step second-moment recursion: the exact engine
rejects it and the Monte Carlo simulator runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim._validate import check_bool, check_choice, check_int, check_probability

SCHEMES = ("without", "with", "reshuffle", "mixture")
"""Every sampling scheme, in the order of their kernel codes."""

MARKOV_SCHEMES = ("without", "with", "mixture")
"""Schemes whose batches are independent across steps: they have a second-moment
recursion (and a ``gamma``)."""

SCHEME_CODES = {name: code for code, name in enumerate(SCHEMES)}
"""Integer code of each scheme inside the numba and CUDA kernels."""


@dataclass(frozen=True)
class Sampling:
    """How each step's batch is drawn, validated on construction.

    Parameters
    ----------
    B : int, optional
        Batch size ``>= 1`` (checked against ``n`` where ``n`` is known). The mixture
        draws one sample (``B = 1``); ``None`` is accepted there.
    scheme : {"without", "with", "reshuffle", "mixture"}
    p : float, optional
        Probability of a single-sample step, ``[0, 1]``; only for ``"mixture"``,
        where it is required.
    drop_last : bool
        Random reshuffling only (``bool`` or ``numpy.bool_``, stored as ``bool``).
        ``True`` (default): an epoch is ``n // B`` full batches and the last
        ``n mod B`` samples of the permutation are skipped.
        ``False``: the short final batch of each epoch is kept, as PyTorch's
        ``DataLoader(shuffle=True)`` does by default (the loader of the paper's
        authors; note that their loader's first epoch is the unshuffled order of the
        data set, which no scheme here reproduces: every epoch is a fresh
        permutation).

    Examples
    --------
    >>> Sampling(4).gamma(10)
    0.16666666666666666
    >>> Sampling(scheme="mixture", p=0.25).gamma(10)
    0.25
    """

    B: int | None = None
    scheme: str = "without"
    p: float | None = None
    drop_last: bool = True

    def __post_init__(self):
        scheme = check_choice(self.scheme, "scheme", SCHEMES)
        if scheme == "mixture":
            if self.p is None:
                raise ValueError("p is required for scheme='mixture'")
            object.__setattr__(self, "p", check_probability(self.p, "p"))
            B = 1 if self.B is None else check_int(self.B, "B", 1, 1)
        else:
            if self.p is not None:
                raise ValueError(f"p is only used by scheme='mixture', got p={self.p!r} "
                                 f"with scheme={scheme!r}")
            if self.B is None:
                raise TypeError(f"B is required for scheme={scheme!r}")
            B = check_int(self.B, "B")
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "drop_last", check_bool(self.drop_last, "drop_last"))
        if not self.drop_last and scheme != "reshuffle":
            raise ValueError("drop_last=False only applies to scheme='reshuffle'")

    @property
    def markov(self) -> bool:
        """Whether batches are independent across steps (a per-step recursion exists)."""
        return self.scheme in MARKOV_SCHEMES

    def check(self, n: int) -> Sampling:
        """This record, after checking it against ``n`` samples (``B <= n``)."""
        n = check_int(n, "n")
        check_int(self.B, "B", 1, n)
        return self

    def gamma(self, n: int) -> float:
        """Batch factor ``gamma = Var(batch mean) / population variance`` for ``n``
        samples (``docs/theory.md``, section 2).

        Raises
        ------
        ValueError
            For ``"reshuffle"`` (no per-step recursion) or ``B > n``.
        """
        self.check(n)
        if not self.markov:
            raise ValueError("scheme='reshuffle' has no per-step second-moment recursion "
                             "and no batch factor gamma; simulate it with sim.simulate")
        if self.scheme == "mixture":
            return float(self.p)
        if self.scheme == "with":
            return 1.0 / self.B
        n = int(n)
        return 0.0 if self.B == n else (n - self.B) / (self.B * (n - 1))

    def label(self) -> str:
        """Short readable description (``"B=4, without"``)."""
        if self.scheme == "mixture":
            return f"mixture p={self.p:g}"
        extra = "" if self.drop_last else ", keep last"
        return f"B={self.B}, {self.scheme}{extra}"


def as_sampling(sampling, name: str = "sampling") -> Sampling:
    """A :class:`Sampling`, or a plain integer ``B`` read as ``Sampling(B)``."""
    if isinstance(sampling, Sampling):
        return sampling
    if isinstance(sampling, (bool, np.bool_)) or not isinstance(sampling, (int, np.integer)):
        raise TypeError(f"{name} must be a sim.Sampling or an integer batch size B, "
                        f"got {sampling!r}")
    return Sampling(int(sampling))


def batch_factor(n: int, sampling) -> float:
    """``gamma`` of ``sampling`` (a :class:`Sampling` or an integer ``B``) for ``n``
    samples: ``Sampling.gamma``."""
    return as_sampling(sampling).gamma(n)


__all__ = ["Sampling", "as_sampling", "batch_factor", "SCHEMES", "MARKOV_SCHEMES",
           "SCHEME_CODES"]
