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
import math
import os
import zlib
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


def digits(test_fraction: float = 0.25, size: int = 8) -> Dataset:
    """scikit-learn's bundled 8x8 digits, pixels scaled to ``[0, 1]`` (``/16``); the last
    ``test_fraction`` of the images (in their stored order) is the test set.

    ``size`` other than 8 resamples each image to ``size x size`` by bilinear
    interpolation (``scipy.ndimage.zoom``, order 1, pixel values stay in ``[0, 1]``):
    ``size=28`` gives MNIST's input size, 784, offline (the paper's 784-500-500-500-10
    net on real, if coarse, images of digits). The resampling is linear: the images
    still span at most the 64 dimensions of the 8x8 pixels (61 for the first 1000), and
    ``||x||^2`` grows about tenfold.
    """
    from sklearn.datasets import load_digits

    frac = check_probability(test_fraction, "test_fraction")
    size = check_int(size, "size", 2)
    bunch = load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    name = "digits (8x8, sklearn)"
    if size != 8:
        from scipy.ndimage import zoom

        X = zoom(X.reshape(-1, 8, 8), (1, size / 8, size / 8), order=1, grid_mode=True,
                 mode="nearest").reshape(len(X), -1)
        X = np.clip(X, 0.0, 1.0)
        name = f"digits (8x8, sklearn, bilinear to {size}x{size})"
    split = len(y) - int(round(frac * len(y)))
    return Dataset(X[:split], y[:split], X[split:], y[split:], name)


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
    TypeError
        For a ``path`` that is not a string or path-like.
    ValueError
        For a missing file, a corrupt or truncated gzip stream, a bad magic number, an
        unknown type code or a size that does not match the header.
    """
    return _load_idx(path, "path")


def _load_idx(path, name: str) -> np.ndarray:
    """:func:`load_idx`, its errors naming the argument ``name``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    where = f"{name} {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{where} is not a file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise ValueError(f"{where}: truncated gzip stream ({exc})") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{where}: corrupt gzip stream ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{where}: not an IDX file (magic number must start with 0 0)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{where}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{where}: truncated header")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    count = math.prod(shape)  # exact (np.prod could wrap around for a corrupt header)
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{where}: {len(raw) - header} data bytes, header says "
                         f"{count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def idx_dataset(images: str | os.PathLike, labels: str | os.PathLike,
                name: str = "IDX") -> Dataset:
    """Images and labels from a pair of IDX files, pixels scaled by 1/255 and flattened
    (the paper's preprocessing); no test split."""
    X = _load_idx(images, "images")
    y = _load_idx(labels, "labels")
    if X.ndim < 1:
        raise ValueError("images must hold a list of images, got an IDX scalar")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must hold integer labels (n,), got {y.dtype} of shape "
                         f"{y.shape}")
    y = y.astype(np.int64)
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


def _labels(y, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D int64 array of non-negative labels (an empty sequence is allowed)."""
    raw = np.asarray(y)
    if raw.size == 0 and raw.ndim == 1:
        return np.zeros(0, dtype=np.int64)
    if raw.ndim != 1 or raw.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D array of integer labels, got "
                        f"{raw.dtype} entries of shape {raw.shape}")
    if raw.min() < 0:
        raise ValueError(f"{name} must hold non-negative labels, got {int(raw.min())}")
    return raw.astype(np.int64)


def _classes(y: np.ndarray, K, low: int) -> int:
    """``K`` checked against the labels (``>= low`` and above every label), or, when
    ``None``, inferred as ``max(y) + 1``."""
    if K is None:
        if not y.size:
            raise ValueError("K must be given for an empty y (no label to infer it from)")
        K = int(y.max()) + 1
        if K < low:
            raise ValueError(f"y holds too few classes to infer K (max(y) + 1 = {K} < {low}): "
                             f"give K")
        return K
    K = check_int(K, "K", low)
    if y.size and y.max() >= K:
        raise ValueError(f"label {int(y.max())} does not fit K = {K}")
    return K


def one_hot(y, K: int | None = None) -> np.ndarray:
    """Targets ``(n, K)`` with a 1 in the label's column (float64); ``K`` defaults to
    ``max(y) + 1`` and must be given for an empty ``y``."""
    y = _labels(y)
    K = _classes(y, K, 1)
    out = np.zeros((len(y), K))
    out[np.arange(len(y)), y] = 1.0
    return out


def corrupt_labels(y, fraction: float, seed: int, K: int | None = None) -> np.ndarray:
    """A copy of ``y`` in which ``round(fraction n)`` labels, chosen uniformly without
    replacement, are replaced by a different label drawn uniformly from the other
    ``K - 1`` classes.

    ``K >= 2`` classes, ``max(y) + 1`` by default; every label must lie in
    ``[0, K)``, so every output label does too.
    """
    y = _labels(y)
    fraction = check_probability(fraction, "fraction")
    K = _classes(y, K, 2)
    rng = np.random.default_rng(check_seed(seed))
    out = y.copy()
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
