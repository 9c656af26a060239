"""Data sets that work offline, and the small transformations the paper's experiments
apply to them.

- :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images);
- :func:`mnist1d`: MNIST-1D, generated locally by the ``mnist1d`` package's
  ``make_dataset`` (its downloader is never called);
- :func:`load_idx`: MNIST / FashionMNIST IDX files a user points to (raw or gzip);
- :func:`first`, :func:`one_hot`, :func:`corrupt_labels`, :func:`teacher`.

Inputs are returned as float64 arrays ``(n, features)`` and labels as int64 ``(n,)``.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim._validate import check_int, check_probability, check_seed, real_array

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
"""IDX type codes (third byte of the magic number) and their element types."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs and labels of a train/test split.

    Attributes
    ----------
    X, y : ndarray (n, features) float64, (n,) int64
    X_test, y_test : ndarray or None
    name : str
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    name: str

    @property
    def n_classes(self) -> int:
        labels = self.y if self.y_test is None else np.concatenate([self.y, self.y_test])
        return int(labels.max()) + 1


def digits(test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled 8x8 digits, pixels scaled to ``[0, 1]`` (``/16``); the last
    ``test_fraction`` of the images (in their stored order) is the test set."""
    from sklearn.datasets import load_digits

    frac = check_probability(test_fraction, "test_fraction")
    bunch = load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    split = len(y) - int(round(frac * len(y)))
    return Dataset(X[:split], y[:split], X[split:], y[split:], "digits (8x8, sklearn)")


def mnist1d(n_train: int = 4000, seed: int = 42) -> Dataset:
    """MNIST-1D generated locally: ``mnist1d.data.make_dataset`` with ``num_samples``
    chosen so that the 80/20 split has ``n_train`` training samples, and ``seed``.

    Notes
    -----
    ``make_dataset`` seeds NumPy's and Python's global generators; their states are
    restored afterwards, so calling this has no side effect on other code.
    """
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    n_train = check_int(n_train, "n_train", 10)
    seed = check_seed(seed)
    args = get_dataset_args()
    args.num_samples = int(np.ceil(n_train / args.train_split / 10) * 10)
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    X, y = np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.int64)
    return Dataset(X[:n_train], y[:n_train], np.asarray(data["x_test"], dtype=np.float64),
                   np.asarray(data["y_test"], dtype=np.int64), f"MNIST-1D (seed {seed})")


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST, FashionMNIST), raw or gzip-compressed.

    Returns
    -------
    ndarray
        Shape from the header (images ``(n, rows, cols)``, labels ``(n,)``), dtype of
        the file's type code.

    Raises
    ------
    ValueError
        For a bad magic number, an unknown type code or a size that does not match
        the header.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path.name}: not an IDX file (magic number must start with 0 0)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{path.name}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path.name}: truncated header")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{path.name}: {len(raw) - header} data bytes, header says "
                         f"{count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def idx_dataset(images: str | os.PathLike, labels: str | os.PathLike,
                name: str = "IDX") -> Dataset:
    """Images and labels from a pair of IDX files, pixels scaled by 1/255 and flattened
    (the paper's preprocessing); no test split."""
    X = load_idx(images)
    y = load_idx(labels).astype(np.int64)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"images has {X.shape[0]} items, labels {y.shape[0]}")
    return Dataset(X.reshape(len(X), -1).astype(np.float64) / 255.0, y, None, None, name)


def first(X, y, n: int):
    """The first ``n`` samples (the paper trains on the first 1000 images)."""
    X = real_array(X, "X")
    y = np.asarray(y)
    n = check_int(n, "n", 1, len(X))
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} samples, y has {len(y)}")
    return X[:n], y[:n]


def one_hot(y, K: int | None = None) -> np.ndarray:
    """Targets ``(n, K)`` with a 1 in the label's column (float64)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise TypeError("y must be a 1-D array of integer labels")
    if y.size and y.min() < 0:
        raise ValueError("labels must be non-negative")
    K = int(y.max()) + 1 if K is None else check_int(K, "K")
    if y.size and y.max() >= K:
        raise ValueError(f"label {int(y.max())} does not fit K = {K}")
    out = np.zeros((len(y), K))
    out[np.arange(len(y)), y] = 1.0
    return out


def corrupt_labels(y, fraction: float, seed: int, K: int | None = None) -> np.ndarray:
    """A copy of ``y`` in which ``round(fraction n)`` labels, chosen uniformly without
    replacement, are replaced by a different label drawn uniformly from the other
    ``K - 1`` classes."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise TypeError("y must be a 1-D array of integer labels")
    fraction = check_probability(fraction, "fraction")
    K = int(y.max()) + 1 if K is None else check_int(K, "K", 2)
    rng = np.random.default_rng(check_seed(seed))
    out = y.astype(np.int64).copy()
    pick = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    shift = rng.integers(1, K, size=pick.size)
    out[pick] = (out[pick] + shift) % K
    return out


def teacher(net, theta, X) -> np.ndarray:
    """Targets ``Y = f(X; theta)`` that make ``theta`` an exact zero-loss global minimum
    of ``net`` on ``X``: every identity of ``docs/theory.md``, section 7, then holds to
    round-off."""
    return net.forward(theta, X)


__all__ = ["Dataset", "digits", "mnist1d", "load_idx", "idx_dataset", "first", "one_hot",
           "corrupt_labels", "teacher", "IDX_TYPES"]
