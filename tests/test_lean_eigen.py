"""Claim: the three-vector Lanczos solver (``sim._lanczos``) finds the top eigenvalue of
a symmetric operator to the requested tolerance without reorthogonalization, its
checkpoint resumes a killed run to the same numbers, and packed symmetric storage
keeps the Frobenius product. Tolerances: 1e-10 relative for eigenvalues asked to 1e-12
(the residual bound ``||r||^2 / gap`` is far smaller for separated tops)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim._lanczos import lean_top_eigenvalue, pack, packed_size, unpack


def operator(dim: int, seed: int, gap: float = 0.2):
    """A symmetric matrix from a drawn spectrum (top separated by ``gap``) and a random
    rotation."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    w = np.sort(rng.uniform(-1.0, 1.0, dim))
    w[-1] = 1.0 + gap
    return (Q * w) @ Q.T, w[-1], Q[:, -1]


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(2, 300), seed=st.integers(0, 2**31), gap=st.floats(0.05, 2.0))
def test_top_eigenvalue_and_vector(dim, seed, gap):
    A, top, u = operator(dim, seed, gap)
    res = lean_top_eigenvalue(lambda v: A @ v, dim, tol=1e-12, vector=True)
    assert res.converged
    assert res.value == pytest.approx(top, rel=1e-10)
    assert abs(abs(res.vector @ u) - 1.0) < 1e-8
    assert np.linalg.norm(A @ res.vector - res.value * res.vector) < 1e-6
    assert res.products == 2 * res.iterations - 1


def test_value_only_converges_before_the_dimension():
    """Without ``vector`` (one pass, no start vector kept) the value converges in far
    fewer steps than the dimension: the loss of orthogonality does not stall it."""
    A, top, _ = operator(300, 1)
    res = lean_top_eigenvalue(lambda v: A @ v, 300, tol=1e-12)
    assert res.vector is None and res.value == pytest.approx(top, rel=1e-10)
    assert res.iterations < 300  # converged long before the dimension


def test_checkpoint_resumes_to_the_same_numbers(tmp_path):
    """Killed after 12 products, resumed from its checkpoint (saved every 5 steps): the
    same value, residual and step count as an uninterrupted run, bit for bit, and the
    file is gone at the end."""
    A, _, _ = operator(200, 2)
    path = tmp_path / "state.npz"
    calls = [0]

    def dying(v):
        calls[0] += 1
        if calls[0] == 12:
            raise KeyboardInterrupt
        return A @ v

    with pytest.raises(KeyboardInterrupt):
        lean_top_eigenvalue(dying, 200, tol=1e-12, checkpoint=path, tag="A", every=5)
    assert path.is_file()
    resumed = lean_top_eigenvalue(lambda v: A @ v, 200, tol=1e-12, checkpoint=path, tag="A",
                                  every=5)
    whole = lean_top_eigenvalue(lambda v: A @ v, 200, tol=1e-12)
    assert (resumed.value, resumed.residual, resumed.iterations) == (
        whole.value, whole.residual, whole.iterations)
    assert resumed.products == whole.products - 10
    assert not path.exists()


def test_checkpoint_of_another_operator_is_refused(tmp_path):
    A, _, _ = operator(50, 3)
    path = tmp_path / "state.npz"
    calls = [0]

    def dying(v):
        calls[0] += 1
        if calls[0] == 7:
            raise KeyboardInterrupt
        return A @ v

    with pytest.raises(KeyboardInterrupt):
        lean_top_eigenvalue(dying, 50, tol=1e-12, checkpoint=path, tag="A", every=5)
    with pytest.raises(ValueError, match="checkpoint: .* another operator"):
        lean_top_eigenvalue(lambda v: A @ v, 50, tol=1e-12, checkpoint=path, tag="B")


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_packed_storage_keeps_the_frobenius_product(d, seed):
    rng = np.random.default_rng(seed)
    M, N = rng.standard_normal((2, d, d))
    M, N = M + M.T, N + N.T
    assert pack(M).shape == (packed_size(d),)
    assert pack(M) @ pack(N) == pytest.approx(np.sum(M * N), rel=1e-12, abs=1e-12)
    assert np.array_equal(unpack(pack(M), d), M) or np.allclose(unpack(pack(M), d), M,
                                                                 rtol=1e-15, atol=1e-15)
