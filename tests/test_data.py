"""Claim: the offline data sets load as documented, the IDX reader reads what an IDX
writer writes (raw and gzip) and rejects malformed files, and the label helpers do
exactly what they say."""

import gzip
import random
import struct

import numpy as np
import pytest

from sim import data
from sim.nets import MLP


def _write_idx(path, array, code, compress=False):
    dtypes = {0x08: ">u1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    raw = header + np.asarray(array, dtype=dtypes[code]).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("code,values", [(0x08, np.arange(24).reshape(2, 3, 4) % 256),
                                         (0x0C, np.array([-5, 7, 1 << 20])),
                                         (0x0D, np.array([[0.5, -1.25], [3.0, 2.0]])),
                                         (0x0E, np.array([np.pi, -np.e]))])
def test_idx_round_trip(tmp_path, compress, code, values):
    """load_idx returns the written array, shape and values, raw or gzip."""
    path = tmp_path / "x.idx"
    _write_idx(path, values, code, compress)
    got = load = data.load_idx(path)
    assert got.shape == values.shape
    np.testing.assert_array_equal(load, values)


def test_idx_dataset_scales_and_flattens(tmp_path):
    """idx_dataset: images (n, 28, 28) uint8 -> (n, 784) in [0, 1], labels int64."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    _write_idx(tmp_path / "img.gz", images, 0x08, compress=True)
    _write_idx(tmp_path / "lab", labels, 0x08)
    ds = data.idx_dataset(tmp_path / "img.gz", tmp_path / "lab")
    assert ds.X.shape == (5, 784) and ds.X.max() <= 1.0
    np.testing.assert_allclose(ds.X[2], images[2].ravel() / 255.0)
    np.testing.assert_array_equal(ds.y, labels)


def test_idx_rejects_malformed(tmp_path):
    """Bad magic, unknown type code, truncated data and a missing file are ValueErrors."""
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.load_idx(bad)
    bad.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="unknown IDX type"):
        data.load_idx(bad)
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03\x05")
    with pytest.raises(ValueError, match="data bytes"):
        data.load_idx(bad)
    with pytest.raises(ValueError, match="is not a file"):
        data.load_idx(tmp_path / "missing")


def test_digits():
    """sklearn's digits: 1797 images of 64 pixels in [0, 1], 10 classes, split in order."""
    ds = data.digits()
    assert ds.X.shape[1] == 64 and len(ds.X) + len(ds.X_test) == 1797
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0 and ds.n_classes == 10


def test_digits_at_28x28():
    """``size=28``: the same images and labels, resampled bilinearly to MNIST's 784
    inputs; pixels stay in [0, 1], each image keeps its mean brightness (to round-off:
    this resampling's weights sum to one over each coarse pixel), and block-averaging
    back onto the 8x8 grid correlates with the original at > 0.95 (measured 0.978; the
    interpolation smooths edges)."""
    ds8, ds = data.digits(), data.digits(size=28)
    assert ds.X.shape == (len(ds8.X), 784) and ds.X_test.shape == (len(ds8.X_test), 784)
    assert np.array_equal(ds.y, ds8.y) and np.array_equal(ds.y_test, ds8.y_test)
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0 and "28x28" in ds.name
    assert np.max(np.abs(ds.X.mean(axis=1) - ds8.X.mean(axis=1))) < 1e-12
    fine = np.kron(ds.X.reshape(-1, 28, 28), np.ones((1, 2, 2)))  # 56 = 8 x 7
    coarse = fine.reshape(-1, 8, 7, 8, 7).mean(axis=(2, 4)).reshape(-1, 64)
    assert np.corrcoef(coarse.ravel(), ds8.X.ravel())[0, 1] > 0.95
    assert np.array_equal(data.digits(size=8).X, ds8.X)
    for bad in (1, 0, 2.5, True):
        with pytest.raises((TypeError, ValueError), match="size"):
            data.digits(size=bad)


def test_mnist1d_is_local_and_reproducible():
    """MNIST-1D is generated (40 features, 10 classes), the same for the same seed, and
    leaves NumPy's and Python's global generators as they were."""
    np.random.seed(123)  # noqa: NPY002 (checking that the global state is restored)
    random.seed(9)
    before = np.random.random(), random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(9)
    a = data.mnist1d(200, seed=3)
    after = np.random.random(), random.random()  # noqa: NPY002
    assert before == after
    b = data.mnist1d(200, seed=3)
    assert a.X.shape == (200, 40) and a.n_classes == 10
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, data.mnist1d(200, seed=4).X)


def test_label_helpers():
    """first takes the first n; one_hot puts a 1 in the label's column; corrupt_labels
    changes exactly round(fraction n) labels, each to a different class."""
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 3
    Xf, yf = data.first(X, y, 4)
    np.testing.assert_array_equal(Xf, X[:4])
    np.testing.assert_array_equal(yf, y[:4])
    Y = data.one_hot(y, 5)
    assert Y.shape == (10, 5) and np.all(Y.sum(1) == 1) and np.all(Y.argmax(1) == y)
    labels = np.random.default_rng(0).integers(0, 10, 1000)
    bad = data.corrupt_labels(labels, 0.2, seed=1, K=10)
    assert np.sum(bad != labels) == 200 and bad.min() >= 0 and bad.max() < 10
    np.testing.assert_array_equal(bad, data.corrupt_labels(labels, 0.2, seed=1, K=10))
    with pytest.raises(ValueError, match="^fraction"):
        data.corrupt_labels(labels, 1.5, seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        data.one_hot(np.array([0, 7]), 5)
    with pytest.raises(ValueError, match="^n must be in"):
        data.first(X, y, 11)


def test_teacher_targets_are_a_zero_loss_minimum():
    """teacher(net, theta, X) makes theta an exact zero-loss minimum (zero gradient)."""
    net = MLP((4, 6, 3), "tanh")
    theta = net.init(0)
    X = np.random.default_rng(0).standard_normal((7, 4))
    Y = data.teacher(net, theta, X)
    assert net.loss(theta, X, Y) == 0.0 and not np.any(net.gradient(theta, X, Y))
