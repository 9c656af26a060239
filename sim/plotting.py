"""Shared matplotlib conventions for study figures (Agg backend, PNG + PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"exact": "C0", "theorem": "C1", "box": "C2", "gd": "C7", "mc": "C3",
          "stable": "C0", "unstable": "C3", "undecided": "0.6"}


def save(fig, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.pdf`` into ``folder``; close ``fig``."""
    paths = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


__all__ = ["plt", "save", "COLORS"]
