"""Shared matplotlib conventions for study figures (Agg backend, PNG + PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sim.studies.store import atomic_save  # noqa: E402

COLORS = {"exact": "C0", "theorem": "C1", "box": "C2", "gd": "C7", "mc": "C3",
          "stable": "C0", "unstable": "C3", "undecided": "0.6"}


def save(fig, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.pdf`` into ``folder``, each complete or
    absent (temporary file and rename); close ``fig``."""
    paths = []
    for ext, kw in (("png", {"dpi": 150}), ("pdf", {"metadata": {"CreationDate": None}})):
        path = Path(folder) / f"{stem}.{ext}"
        atomic_save(path, lambda tmp, ext=ext, kw=kw: fig.savefig(tmp, format=ext,
                                                                 bbox_inches="tight", **kw))
        paths.append(path)
    plt.close(fig)
    return paths


__all__ = ["plt", "save", "COLORS"]
