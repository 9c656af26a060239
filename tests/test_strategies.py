"""Claim: the hypothesis strategies produce what they say (PSD with exact spectra,
ranks, commuting, ratio bands) and reach the edge cases."""

import numpy as np
from hypothesis import find, given
from hypothesis import strategies as st

from strategies import (
    batch_pairs,
    commuting_ensembles,
    ensembles,
    factor_ensembles,
    lr_ratios,
    one_d_ensembles,
    psd_matrices,
    rotations,
    samplings,
    spectra,
    uniform_ensembles,
)


@given(st.integers(1, 6).flatmap(lambda d: psd_matrices(d)))
def test_psd_matrices_have_the_drawn_spectrum(pair):
    """Q diag(lam) Q^T is symmetric PSD with eigenvalues exactly lam (1e-10 relative)."""
    A, lam = pair
    np.testing.assert_allclose(A, A.T, atol=0)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(A))[::-1], lam,
                               atol=1e-10 * max(1.0, lam.max()))
    assert lam.min() >= 0


@given(st.integers(1, 6).flatmap(rotations))
def test_rotations_are_orthogonal(Q):
    """Q^T Q = I to 1e-12."""
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[0]), atol=1e-12)


@given(ensembles())
def test_ensembles_are_valid(ens):
    """Drawn ensembles are PSD, within the size bounds, with H != 0."""
    assert ens.d in range(1, 7) and ens.n in range(2, 17)
    assert np.linalg.eigvalsh(ens.Hs).min() >= -1e-9 * max(1.0, ens.a)
    assert ens.a > 0


@given(commuting_ensembles())
def test_commuting_ensembles_commute(ens):
    """All drawn H_i commute."""
    scale = max(1.0, np.abs(ens.Hs).max()) ** 2
    for i in range(ens.n):
        np.testing.assert_allclose(ens.Hs[i] @ ens.Hs[0], ens.Hs[0] @ ens.Hs[i],
                                   atol=1e-10 * scale)


@given(factor_ensembles(r=st.integers(1, 3)))
def test_factor_ensembles_have_rank_r(ens):
    """Each H_i = G_i G_i^T has rank min(r, d)."""
    for h in ens.dense:
        assert np.linalg.matrix_rank(h, tol=1e-9 * max(1.0, np.abs(h).max())) == min(ens.r, ens.d)


@given(uniform_ensembles())
def test_uniform_ensembles_have_zero_non_uniformity(ens):
    """Identical samples: Sigma = 0, so s = 0."""
    assert ens.s <= 1e-6 * max(1.0, ens.a)


@given(one_d_ensembles())
def test_one_d(ens):
    """1-D ensembles have d = 1 and a > 0."""
    assert ens.d == 1 and ens.a > 0


@given(batch_pairs())
def test_batch_pairs_in_range(pair):
    """1 <= B <= n."""
    n, B = pair
    assert B in range(1, n + 1)


@given(lr_ratios())
def test_lr_ratios_avoid_the_knife_edge(ratio):
    """Ratios stay out of [0.9, 1.1]."""
    assert not 0.9 < ratio < 1.1 and 0.05 <= ratio <= 3.0


def test_edge_cases_are_reached():
    """Search reaches rank-deficient H, B = 1, B = n, zero non-uniformity, a zero
    eigenvalue, and ratios on both sides of the gap."""
    ens = find(ensembles(), lambda e: np.linalg.eigvalsh(e.H)[0] < 1e-12 * e.a)
    assert np.linalg.matrix_rank(ens.H) < ens.d
    assert find(batch_pairs(), lambda p: p[1] == 1)[1] == 1
    n, B = find(batch_pairs(), lambda p: p[1] == p[0] and p[0] > 2)
    assert B == n
    s0 = find(ensembles(n=st.just(2)), lambda e: e.s < 1e-9)
    assert s0.s < 1e-9
    assert find(spectra(3), lambda lam: lam.min() == 0.0).min() == 0.0
    assert find(lr_ratios(), lambda r: r < 0.9) < 0.9
    assert find(lr_ratios(), lambda r: r > 1.1) > 1.1


def test_import_sim_does_not_need_hypothesis():
    """`import sim` (and running it) works where hypothesis is not installed: a fresh
    interpreter that blocks hypothesis imports sim and simulates, while importing
    sim.testing there fails with a message naming the test extra."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hypothesis' or name.startswith('hypothesis.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sim\n"
        "sim.simulate(sim.wishart(4, 2, 1), 0.1, 2, 3, 4, 0)\n"
        "assert 'hypothesis' not in sys.modules\n"
        "try:\n"
        "    import sim.testing\n"
        "except ImportError as exc:\n"
        "    assert '.[test]' in str(exc), exc\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


@given(st.data(), st.integers(2, 9))
def test_samplings_are_valid(data, n):
    """samplings(n) draws valid Sampling records for n samples, every requested scheme."""
    from sim import Sampling
    from sim.sampling import SCHEMES

    smp = data.draw(samplings(n, SCHEMES))
    assert isinstance(smp, Sampling) and smp.check(n) is smp
    if smp.markov:
        assert 0.0 <= smp.gamma(n) <= 1.0
