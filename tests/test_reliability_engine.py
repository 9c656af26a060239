"""Claim: the linear engine refuses what it cannot do before doing any of it, and what
it returns cannot be changed behind its back (issue 19, items 4-8):

- a request sized by its arguments (steps, paths, clones, dimension, batches, a Gram
  matrix) is estimated before anything is allocated and refused above a memory budget
  with a ``ValueError`` naming the argument, the estimate in GiB and the budget;
- a boolean option takes ``bool`` or ``numpy.bool_`` only: ``"no"`` is not ``False``;
- every array an ensemble exposes is a private copy that no ``setflags`` can make
  writable again;
- ``s`` is computed from the centred ``H_i - H``: identical ``H_i`` give ``s = 0`` to
  round-off of ``a``, and ``prescribed(a, s)`` returns ``s`` to 1e-12 relative for
  ``s / a`` down to 1e-8;
- errors name the argument, with the right type; a collapsed cloning run says so.

Each class has the fuzzing strategy that found it (hypothesis, few examples)."""

import copy
import inspect
import pickle
import tracemalloc
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import Sampling, cloning, higher, moments, montecarlo, stability
from sim._streams import path_states
from sim.nets import MLP, curvature, to_ensemble

FEW = settings(max_examples=12, deadline=None)

SMALL_PEAK = 64 * 2**20
"""A refused request allocates at most this much (tracemalloc peak; the requests are
thousands of GiB, and the largest legitimate allocation on the way is an ensemble's
private copy of a few MiB)."""

ENS = sim.wishart(5, 3, 2, seed=0)
FAC = sim.wishart(5, 3, 2, seed=0, factors=True)
NET = MLP((3, 6, 2), "tanh", "mean")
THETA = NET.init(0, scale=1.5)
X_NET = np.random.default_rng(0).standard_normal((5, 3))


# --- strategies, in layers ---------------------------------------------------------------

def not_bools(allow_none: bool = True):
    """Values a truthiness test would read as a boolean, but that are not one."""
    base = st.one_of(st.sampled_from(["no", "yes", "", "False", "True"]),
                     st.integers(-2, 2), st.floats(-1.0, 1.0),
                     st.lists(st.booleans(), max_size=2),
                     st.sampled_from([np.int64(1), np.float64(0.0), np.array([True])]))
    return st.one_of(base, st.none()) if allow_none else base


huge = st.integers(10**12, 10**15)
"""A size (steps, paths, clones, samples) far beyond any machine's memory."""


def _exposed(ens):
    """Every array attribute an ensemble hands out, by name."""
    out = {"H": ens.H, "Sigma": ens.Sigma, "dense": ens.dense, "centered": ens.centered,
           "unit.H": ens.unit.H}
    if ens.Hs is not None:
        out["Hs"] = ens.Hs
        out["unit.Hs"] = ens.unit.Hs
    else:
        out.update(G=ens.G, columns=ens.columns, stacked=ens.stacked, **{"unit.G": ens.unit.G})
    return out


def _constructors():
    """Every way to get an ensemble, with the arrays that come with it."""
    G = np.random.default_rng(3).standard_normal((4, 3, 2))
    Hs = np.einsum("idr,ier->ide", G, G)
    gram = G.transpose(1, 0, 2).reshape(3, 8).T @ G.transpose(1, 0, 2).reshape(3, 8)
    red_fac, U_fac = sim.from_factors(G).reduced()
    red_dense, U_dense = sim.from_hessians(Hs).reduced()
    by_gram, C = sim.Ensemble.from_gram(gram, 4, coordinates=True)
    out = {
        "from_hessians": (sim.from_hessians(Hs), {}),
        "from_factors": (sim.from_factors(G), {}),
        "from_factors rank one": (sim.from_factors(G[:, :, 0]), {}),
        "Ensemble(Hs)": (sim.Ensemble(Hs=Hs), {}),
        "wishart": (sim.wishart(4, 3, 2, seed=1), {}),
        "wishart factors": (sim.wishart(4, 3, 2, seed=1, factors=True), {}),
        "rank_one": (sim.rank_one(4, 3, seed=1), {}),
        "commuting": (sim.commuting(np.ones((3, 2)) + np.arange(6).reshape(3, 2)), {}),
        "prescribed": (sim.prescribed(1.0, 0.3, 3, 5), {}),
        "toy": (sim.toy()[1], {}),
        "reduced factors": (red_fac, {"U": U_fac}),
        "reduced dense": (red_dense, {"U": U_dense}),
        "from_gram": (by_gram, {"C": C}),
        "scaled": (sim.from_hessians(Hs * 1e30), {}),
    }
    out["pickled"] = (pickle.loads(pickle.dumps(out["from_factors"][0])), {})
    out["deepcopy"] = (copy.deepcopy(out["from_hessians"][0]), {})
    return out


CONSTRUCTORS = _constructors()


def _base_chain(arr):
    chain = [arr]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    return chain


@given(v=not_bools(), k=huge)
@FEW
def test_strategies_produce_what_they_claim(v, k):
    """not_bools never yields a bool or numpy.bool_, huge stays above 1e12, and _exposed
    covers Hs or G, H, Sigma and the unit ensemble of every constructor."""
    assert not isinstance(v, (bool, np.bool_))
    assert k >= 10**12
    for name, (ens, extra) in CONSTRUCTORS.items():
        names = set(_exposed(ens)) | set(extra)
        assert {"H", "Sigma", "unit.H"} <= names and ({"Hs", "G"} & names), name


# --- item 4: sizes before allocation ------------------------------------------------------

def _refused(call, *names):
    """``call()`` raises ValueError naming each of ``names`` and "GiB", and allocates at
    most SMALL_PEAK bytes on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "GiB" in message and "budget" in message, message
    for name in names:
        assert name in message, (name, message)
    assert peak < SMALL_PEAK, (peak, message)
    return message


WIDE = MLP((3, 1000, 1000, 10), "tanh", "mean")
WIDE_THETA = WIDE.init(0)
MANY_X = np.zeros((60000, 3))


SIZED_CALLS = {
    "simulate steps": (lambda k: sim.simulate(ENS, 0.3, 2, k, 8, 0), ("steps", "paths")),
    "simulate paths": (lambda k: sim.simulate(ENS, 0.3, 2, 10, k, 0), ("paths",)),
    "simulate factors reshuffle": (
        lambda k: sim.simulate(FAC, 0.3, Sampling(2, "reshuffle"), 10, k, 0), ("paths",)),
    "lyapunov_exponent": (lambda k: sim.lyapunov_exponent(ENS, 0.3, 2, 10, k), ("paths",)),
    "second_moments": (lambda k: sim.second_moments(ENS, 0.3, 2, k), ("steps",)),
    "second_moments matrices": (
        lambda k: sim.second_moments(ENS, 0.3, 2, k // 1000, return_matrices=True), ("steps",)),
    "log_second_moments": (lambda k: moments.log_second_moments(ENS, 0.3, 2, k), ("steps",)),
    "moment_lyapunov population": (
        lambda k: cloning.moment_lyapunov(ENS, 0.3, 2, 2.0, steps=10, population=k),
        ("population",)),
    "moment_lyapunov steps": (
        lambda k: cloning.moment_lyapunov(ENS, 0.3, 2, 2.0, steps=k, population=8), ("steps",)),
    "clone_args": (lambda k: cloning.clone_args(ENS, 0.3, Sampling(2), 2.0, k, 0),
                   ("population",)),
    "path_states": (lambda k: path_states(0, k), ("paths",)),
    "wishart": (lambda k: sim.wishart(k, 1000, 3), ("n, d, r",)),
    "wishart dense": (lambda k: sim.wishart(k // 10**8, 10**5, 1), ("n, d",)),
    "rank_one": (lambda k: sim.rank_one(k, 1000), ("n, d",)),
    "prescribed": (lambda k: sim.prescribed(1.0, 0.1, k // 10**9, 1000), ("n, d",)),
    "batch_law": (lambda k: higher.batch_law(60 + k % 7, Sampling(30)), ("n, sampling",)),
    "moment_threshold": (lambda k: higher.moment_threshold(np.ones(64), Sampling(32), 2.0),
                         ("n, sampling",)),
    "almost_sure_threshold 1-D": (
        lambda k: higher.almost_sure_threshold(np.ones(64), Sampling(20, "with")),
        ("n, sampling",)),
}


@pytest.mark.parametrize("what", list(SIZED_CALLS))
@given(k=huge)
@settings(max_examples=3, deadline=None)
def test_huge_sizes_are_refused_before_allocating(what, k):
    """A request of thousands of GiB (any size from the huge strategy) is refused with a
    ValueError naming its argument, the estimate in GiB and the budget, having allocated
    almost nothing."""
    call, names = SIZED_CALLS[what]
    _refused(lambda: call(k), *names)


def test_large_arrays_of_the_class_are_refused():
    """Derived arrays of a factor ensemble of huge d (H, Sigma, dense: d x d or n d^2),
    rho(T) and the thresholds on it (Lanczos keeps 24 d x d matrices), and commuting of a
    long spectrum are refused before they are formed, naming what was asked."""
    big = sim.rank_one(3, 5 * 10**5)
    for attr in ("H", "Sigma", "dense", "centered"):
        _refused(lambda attr=attr: getattr(big, attr), attr)
    _refused(lambda: sim.thresholds(big, 1), "ens")
    _refused(lambda: sim.spectral_radius(big, 0.1, 1), "ens")
    _refused(lambda: sim.report(big, 0.1, 1), "ens")
    _refused(lambda: sim.commuting(np.ones((2, 10**5))), "eigenvalues")


def test_networks_are_refused_before_allocating():
    """to_ensemble of 60000 samples (reduced: a (n K)^2 NTK Gram matrix; unreduced on a
    wide net: n K p Jacobians) and explicit curvature on it are refused before any
    Jacobian is formed."""
    _refused(lambda: to_ensemble(NET, THETA, MANY_X, reduce=True), "X")
    _refused(lambda: to_ensemble(WIDE, WIDE_THETA, MANY_X, reduce=False), "X")
    _refused(lambda: curvature(WIDE, WIDE_THETA, MANY_X, None, method="explicit"), "X")


def test_memory_budget_can_be_overridden():
    """A small memory_budget refuses a request the default allows (and the default is
    the stated fraction of physical memory); a bad budget is an error naming it."""
    from sim._validate import MEMORY_FRACTION, memory_budget, physical_memory

    assert memory_budget() == int(MEMORY_FRACTION * physical_memory())
    gram = FAC.stacked.T @ FAC.stacked
    assert sim.Ensemble.from_gram(gram, FAC.n).d == 3
    _refused(lambda: sim.Ensemble.from_gram(gram, FAC.n, memory_budget=1000), "gram")
    _refused(lambda: FAC.reduced(memory_budget=1000), "ens")
    _refused(lambda: sim.simulate(ENS, 0.3, 2, 10, 8, 0, memory_budget=1000), "paths")
    _refused(lambda: montecarlo.exit_steps(ENS, 0.3, 2, np.ones((4, 3)), 4, memory_budget=100),
             "paths")
    _refused(lambda: sim.thresholds(ENS, 2, memory_budget=100), "ens")
    _refused(lambda: to_ensemble(NET, THETA, X_NET, memory_budget=100), "X")
    _refused(lambda: curvature(NET, THETA, X_NET, None, memory_budget=100), "X")
    _refused(lambda: higher.fourth_moment_operator(ENS, 0.1, 2, memory_budget=10), "n")
    _refused(lambda: sim.wishart(4, 3, 2, memory_budget=10), "n, d, r")
    assert sim.simulate(ENS, 0.3, 2, 10, 8, 0, memory_budget=10**8).t[-1] == 10
    with pytest.raises(ValueError, match="^memory_budget"):
        sim.second_moments(ENS, 0.3, 2, 3, memory_budget=-1)
    with pytest.raises(TypeError, match="^memory_budget"):
        sim.second_moments(ENS, 0.3, 2, 3, memory_budget="1GB")


BUDGETED = [sim.simulate, sim.lyapunov_exponent, montecarlo.almost_sure_threshold,
            montecarlo.exit_steps, montecarlo.kernel_args, moments.second_moments,
            moments.log_second_moments, cloning.moment_lyapunov, cloning.clone_args,
            path_states, stability.spectral_radius,
            stability.thresholds, stability.report, higher.batch_law,
            higher.moment_function_1d, higher.moment_threshold, higher.almost_sure_threshold,
            higher.fourth_moment_operator, sim.wishart, sim.rank_one, sim.commuting,
            sim.prescribed, sim.Ensemble.from_gram, sim.Ensemble.reduced, curvature,
            to_ensemble]


@pytest.mark.parametrize("func", BUDGETED, ids=lambda f: f.__qualname__)
def test_budget_is_documented(func):
    """Every function that allocates by an argument-given size takes memory_budget and its
    docstring states the default (half of physical memory) or refers to one that does."""
    assert "memory_budget" in inspect.signature(func).parameters
    doc = " ".join(inspect.getdoc(func).split())
    assert "memory_budget" in doc
    assert "half of physical memory" in doc, func


# --- item 5: options taken by truthiness --------------------------------------------------

BOOL_OPTIONS = {
    "parallel": lambda v: sim.simulate(ENS, 0.3, 2, 5, 4, 0, parallel=v),
    "return_matrices": lambda v: sim.second_moments(ENS, 0.3, 2, 3, return_matrices=v),
    "log": lambda v: sim.second_moments(ENS, 0.3, 2, 3, log=v),
    "bias_check": lambda v: cloning.moment_lyapunov(ENS, 0.3, 2, 2.0, steps=4,
                                                    population=8, bias_check=v),
    "reduce": lambda v: to_ensemble(NET, THETA, X_NET, reduce=v),
    "factors": lambda v: sim.wishart(3, 2, 1, factors=v),
    "basis": lambda v: FAC.reduced(basis=v),
    "coordinates": lambda v: sim.Ensemble.from_gram(np.eye(4), 2, coordinates=v),
}


@pytest.mark.parametrize("name", list(BOOL_OPTIONS))
@given(value=not_bools(allow_none=False))
@settings(max_examples=8, deadline=None)
def test_boolean_options_refuse_other_values(name, value):
    """A boolean keyword given anything but bool or numpy.bool_ ('no', 0, 1.0, [True],
    numpy integers) raises TypeError naming it."""
    with pytest.raises(TypeError, match=f"^{name} must be a bool"):
        BOOL_OPTIONS[name](value)


@pytest.mark.parametrize("name", [n for n in BOOL_OPTIONS if n != "reduce"])
def test_boolean_options_refuse_none(name):
    """None is not False (only to_ensemble's reduce has None, meaning automatic)."""
    with pytest.raises(TypeError, match=f"^{name}"):
        BOOL_OPTIONS[name](None)


def test_numpy_bools_are_bools():
    """numpy.bool_ is accepted and means what it says."""
    out = sim.second_moments(ENS, 0.3, 2, 3, return_matrices=np.bool_(True), log=np.False_)
    assert isinstance(out, tuple) and out[1].shape == (4, 3, 3)
    assert sim.wishart(3, 2, 1, factors=np.True_).has_factors
    assert to_ensemble(NET, THETA, X_NET, reduce=np.bool_(False)).d == NET.n_params


# --- item 6: immutability -----------------------------------------------------------------

ATTACKS = ("setflags", "base chain", "assign", "copyto")


@given(which=st.sampled_from(sorted(CONSTRUCTORS)), attack=st.sampled_from(ATTACKS))
@settings(max_examples=40, deadline=None)
def test_exposed_arrays_cannot_be_written(which, attack):
    """No array an ensemble exposes (Hs or G, H, Sigma, dense, centered, columns,
    stacked, the unit ensemble's, a reduction's basis U, from_gram's coordinates C),
    nor any array in its base chain, can be made writable or written."""
    ens, extra = CONSTRUCTORS[which]
    before = {k: v.copy() for k, v in {**_exposed(ens), **extra}.items()}
    for name, arr in {**_exposed(ens), **extra}.items():
        if attack == "setflags":
            with pytest.raises(ValueError):
                arr.setflags(write=True)
        elif attack == "base chain":
            for a in _base_chain(arr):
                with pytest.raises(ValueError):
                    a.setflags(write=True)
                assert not isinstance(a.base, (bytearray, memoryview)) or a.base.readonly
        elif attack == "assign":
            with pytest.raises(ValueError):
                arr[...] = 1.0
        else:
            with pytest.raises(ValueError):
                np.copyto(arr, 0.0)
        assert not arr.flags.writeable, name
    for name, arr in {**_exposed(ens), **extra}.items():
        np.testing.assert_array_equal(arr, before[name], err_msg=name)


@pytest.mark.parametrize("make,dense", [(sim.from_factors, False), (sim.from_hessians, True),
                                        (lambda x: sim.Ensemble(G=x), False),
                                        (lambda x: sim.Ensemble(Hs=x), True)])
def test_callers_array_is_not_shared(make, dense):
    """The ensemble copies the caller's array: it stays writable, and changing it changes
    neither the ensemble's arrays nor a cached a or s."""
    G = np.random.default_rng(5).standard_normal((4, 3, 2))
    arr = np.einsum("idr,ier->ide", G, G) if dense else G
    ens = make(arr)
    stored = ens.Hs if ens.Hs is not None else ens.G
    a, s, kept = ens.a, ens.s, stored.copy()
    assert arr.flags.writeable
    assert not np.shares_memory(arr, stored)
    arr[...] = 7.0
    np.testing.assert_array_equal(stored, kept)
    assert (ens.a, ens.s) == (a, s)


def test_copies_are_equal_ensembles():
    """Pickling and deep copies rebuild through the constructor: same arrays, same a, s."""
    for ens in (ENS, FAC):
        for twin in (pickle.loads(pickle.dumps(ens)), copy.deepcopy(ens), copy.copy(ens)):
            np.testing.assert_array_equal(twin.dense, ens.dense)
            assert (twin.a, twin.s, twin.name) == (ens.a, ens.s, ens.name)


# --- item 7: s near uniformity ------------------------------------------------------------

EPS = np.finfo(float).eps
ZERO_S_ATOL = 1e-14
"""Identical H_i: s is the round-off of the centred H_i - H, a few eps times a (the
uncentred mean(H_i^2) - H^2 left sqrt(eps) a ~ 1e-8 a)."""


@given(n=st.integers(2, 8), d=st.integers(1, 5), r=st.integers(1, 3),
       exponent=st.integers(-60, 60), seed=st.integers(0, 2**16),
       twist=st.sampled_from(["none", "signs", "rotations"]))
@FEW
def test_identical_hessians_have_zero_s(n, d, r, exponent, seed, twist):
    """n copies of one H_1 = G_1 G_1^T (any scale 10^-60..10^60; the factors possibly with
    flipped column signs or rotated, G_1 Q_i, which leaves H_i unchanged) have
    s <= 1e-14 a, dense and as factors."""
    rng = np.random.default_rng(seed)
    G1 = rng.standard_normal((d, r)) * 10.0**exponent
    Gs = np.repeat(G1[None], n, axis=0)
    if twist == "signs":
        Gs = Gs * rng.choice([-1.0, 1.0], size=(n, 1, r))
    elif twist == "rotations":
        Gs = np.stack([G1 @ np.linalg.qr(rng.standard_normal((r, r)))[0] for _ in range(n)])
    fac = sim.from_factors(Gs)
    dense = sim.from_hessians(np.repeat(fac.dense[:1], n, axis=0))
    for ens in (fac, dense):
        assert ens.s <= ZERO_S_ATOL * ens.a, (ens, ens.s / ens.a)
        lam = np.linalg.eigvalsh(ens.Sigma)
        assert lam[0] >= -ZERO_S_ATOL**2 * ens.a**2


@given(log_ratio=st.floats(-8.0, 0.0), a=st.floats(1e-3, 1e3), n=st.integers(3, 12),
       d=st.integers(1, 4), seed=st.integers(0, 2**16))
@FEW
def test_prescribed_returns_s(log_ratio, a, n, d, seed):
    """prescribed(a, s) has sharpness a and non-uniformity s to 1e-12 relative for s/a
    from 1e-8 to the bound sqrt(n - 1) (its top direction's curvatures are tuned on the
    float grid; the residual is about 1e-14)."""
    s = min(a * 10.0**log_ratio, a * np.sqrt(n - 1))
    ens = sim.prescribed(a, s, d, n, seed=seed)
    assert abs(ens.s / s - 1) <= 1e-12
    assert abs(ens.a / a - 1) <= 1e-12


def test_prescribed_with_two_samples():
    """n = 2: s = |h_1 - h_2| / 2 is a multiple of half the float grid near a, so it holds
    to a few eps a (documented), not relative to s."""
    for s in (1e-8, 1e-12, 0.5):
        ens = sim.prescribed(1.0, s, 2, 2, seed=0)
        assert abs(ens.s - s) <= 4 * EPS


def test_prescribed_issue_example():
    """The issue's case prescribed(1, 1e-6) gave s = 9.99956e-7; now s = 1e-6 to 1e-12."""
    for d, n in ((1, 5), (3, 8), (5, 20)):
        assert sim.prescribed(1.0, 1e-6, d, n).s == pytest.approx(1e-6, rel=1e-12)


def _exact_sigma_top(Gs) -> float:
    """lambda_max of Sigma of the float factors, Sigma formed in exact rationals."""
    n, d, r = Gs.shape
    F = [[[Fraction(x) for x in row] for row in g] for g in Gs]
    Hs = [[[sum(g[j][k] * g[m][k] for k in range(r)) for m in range(d)] for j in range(d)]
          for g in F]
    H = [[sum(h[j][m] for h in Hs) / n for m in range(d)] for j in range(d)]
    C = [[[h[j][m] - H[j][m] for m in range(d)] for j in range(d)] for h in Hs]
    S = np.array([[float(sum(sum(c[j][k] * c[k][m] for k in range(d)) for c in C) / n)
                   for m in range(d)] for j in range(d)])
    top = np.abs(S).max()
    return float(np.linalg.eigvalsh(S / top)[-1] * top) if top > 0 else 0.0


@given(n=st.integers(2, 4), d=st.integers(1, 3), r=st.integers(1, 2),
       log_spread=st.floats(-14.0, -1.0), seed=st.integers(0, 2**16))
@settings(max_examples=8, deadline=None)
def test_near_uniform_factors_have_exact_s(n, d, r, log_spread, seed):
    """Factors G_1 + spread E_i (spread 1e-14..0.1): s equals sqrt(lambda_max) of Sigma of
    the float factors formed in exact rationals to 1e-12 relative (centred factors: no
    term of size a^2 is subtracted)."""
    rng = np.random.default_rng(seed)
    Gs = rng.standard_normal((1, d, r)) + 10.0**log_spread * rng.standard_normal((n, d, r))
    ens = sim.from_factors(Gs)
    want = np.sqrt(_exact_sigma_top(Gs))
    assert ens.s == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("method,kind", [("explicit", "gauss_newton"),
                                         ("matrix_free", "gauss_newton"),
                                         ("matrix_free", "exact")])
def test_net_of_identical_samples_has_zero_s(method, kind):
    """A network on n copies of one input (at its own outputs: zero loss) has
    s <= 1e-14 a from curvature (centred Sigma products) and from to_ensemble, full and
    reduced."""
    X = np.repeat(X_NET[:1], 5, axis=0)
    Y = NET.forward(THETA, X)
    cv = curvature(NET, THETA, X, Y, kind=kind, method=method)
    assert cv.s <= ZERO_S_ATOL * cv.a
    for reduce in (True, False):
        ens = to_ensemble(NET, THETA, X, reduce=reduce)
        assert ens.s <= ZERO_S_ATOL * ens.a


def test_matrix_free_switches_to_the_centred_product():
    """Five nearly identical samples (inputs 1e-7 apart, s ~ 1e-7 a): the uncentred
    matrix-free product would lose (a/s)^2 eps ~ 1e-2 of s; it cancels by more than
    CANCELLATION_MAX, so Lanczos reruns centred and s agrees with the explicit (centred)
    one to 1e-6 relative (both are accurate to about eps a / s ~ 1e-9)."""
    rng = np.random.default_rng(4)
    X = np.repeat(X_NET[:1], 5, axis=0) + 1e-7 * rng.standard_normal((5, 3))
    exp = curvature(NET, THETA, X, None, method="explicit")
    free = curvature(NET, THETA, X, None, method="matrix_free")
    assert 1e-9 < exp.s / exp.a < 1e-5
    assert free.s == pytest.approx(exp.s, rel=1e-6)


def test_curvature_methods_agree_on_s():
    """Explicit and matrix-free centred Sigma products give the same s (1e-10), that of
    to_ensemble (whose Sigma is centred factors)."""
    X = np.random.default_rng(1).standard_normal((7, 3))
    a = curvature(NET, THETA, X, None, method="explicit")
    b = curvature(NET, THETA, X, None, method="matrix_free")
    ens = to_ensemble(NET, THETA, X, reduce=False)
    assert b.s == pytest.approx(a.s, rel=1e-10) and ens.s == pytest.approx(a.s, rel=1e-10)


# --- item 8: messages and exception types -------------------------------------------------

GRAM = FAC.stacked.T @ FAC.stacked

MESSAGES = [
    ("curvature net=None", lambda: curvature(None, THETA, X_NET, None), TypeError, "^net"),
    ("to_ensemble net=None", lambda: to_ensemble(None, THETA, X_NET), TypeError, "^net"),
    ("from_gram -I", lambda: sim.Ensemble.from_gram(-np.eye(4), 2), ValueError,
     "^gram must be positive semi-definite"),
    ("from_gram indefinite", lambda: sim.Ensemble.from_gram(GRAM - 0.1 * np.abs(GRAM).max()
                                                           * np.eye(10), 5),
     ValueError, "^gram must be positive semi-definite"),
    ("from_gram asymmetric", lambda: sim.Ensemble.from_gram(GRAM + np.triu(GRAM, 1), 5),
     ValueError, "^gram must be symmetric.*PSD_RTOL"),
    ("from_gram zero", lambda: sim.Ensemble.from_gram(np.zeros((4, 4)), 2), ValueError,
     "^gram is zero"),
    ("from_gram rtol nan", lambda: sim.Ensemble.from_gram(GRAM, 5, rtol=np.nan), ValueError,
     "^rtol"),
    ("reduced rtol nan", lambda: FAC.reduced(rtol=float("nan")), ValueError, "^rtol"),
    ("reduced rtol 1", lambda: ENS.reduced(rtol=1.0), ValueError, "^rtol"),
    ("reduced rtol str", lambda: FAC.reduced(rtol="small"), TypeError, "^rtol"),
    ("reduced zero", lambda: sim.from_factors(np.zeros((2, 3, 1))).reduced(), ValueError,
     "^ens is zero"),
    ("M0 indefinite", lambda: sim.second_moments(ENS, 0.1, 2, 3, M0=np.diag([1.0, -0.5, 1.0])),
     ValueError, "^M0 must be positive semi-definite"),
    ("M0 indefinite log", lambda: moments.log_second_moments(ENS, 0.1, 2, 3,
                                                            M0=np.diag([1.0, 1.0, -1e-3])),
     ValueError, "^M0 must be positive semi-definite"),
    ("M0 asymmetric", lambda: sim.second_moments(ENS, 0.1, 2, 3, M0=np.triu(np.ones((3, 3)))),
     ValueError, "^M0 must be symmetric"),
    ("q empty", lambda: cloning.moment_lyapunov(ENS, 0.3, 2, [], steps=4, population=8),
     ValueError, "^q"),
    ("q nested", lambda: cloning.moment_lyapunov(ENS, 0.3, 2, [[1.0]], steps=4, population=8),
     ValueError, "^q"),
    ("moment_threshold q=-1", lambda: higher.moment_threshold([1.0, 2.0], 1, -1), ValueError,
     "^q"),
    ("moment_threshold q=nan", lambda: higher.moment_threshold([1.0, 2.0], 1, np.nan),
     ValueError, "^q"),
    ("moment_threshold h<0", lambda: higher.moment_threshold([-1.0, 2.0], 1, 2), ValueError,
     "^h"),
    ("moment_threshold hi<0", lambda: higher.moment_threshold([1.0, 2.0], 1, 2, hi=-1),
     ValueError, "^hi"),
    ("moment_threshold hi too small", lambda: higher.moment_threshold([1.0, 2.0], 1, 2, hi=0.1),
     ValueError, "^hi: no crossing"),
    ("almost_sure zero h", lambda: higher.almost_sure_threshold([0.0, 0.0], 1), ValueError,
     "^h must have a positive entry"),
    ("almost_sure zero h with hi", lambda: higher.almost_sure_threshold([0.0, 0.0], 1, hi=1.0),
     ValueError, "^h must have a positive entry"),
    ("fourth eta nan", lambda: higher.fourth_moment_operator(ENS, np.nan, 2), ValueError,
     "^eta"),
    ("fourth eta -1", lambda: higher.fourth_moment_operator(ENS, -1.0, 2), ValueError, "^eta"),
    ("moment_function eta nan", lambda: higher.moment_function_1d([1.0], np.nan, 1, 2),
     ValueError, "^eta"),
]


@pytest.mark.parametrize("what,call,err,match", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_errors_name_the_argument(what, call, err, match):
    """Bad input raises TypeError (wrong kind) or ValueError (out of range) whose message
    starts with the argument's name (not AttributeError, ArithmeticError or a NaN)."""
    with pytest.raises(err, match=match):
        call()


@given(eigenvalues=st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3),
       seed=st.integers(0, 2**16))
@FEW
def test_M0_must_be_psd(eigenvalues, seed):
    """M0 = Q diag(lambda) Q^T from a drawn spectrum and rotation is accepted iff its
    smallest eigenvalue is >= -PSD_RTOL lambda_max (here the spectrum is kept away from
    the tolerance by 1e-6)."""
    lam = np.array(eigenvalues)
    lam = np.where(np.abs(lam) < 1e-6, 0.0, lam)
    Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))[0]
    M0 = (Q * lam) @ Q.T
    M0 = 0.5 * (M0 + M0.T)
    if lam.min() < 0:
        with pytest.raises(ValueError, match="^M0 must be positive semi-definite"):
            sim.second_moments(ENS, 0.1, 2, 2, M0=M0)
    else:
        out = sim.second_moments(ENS, 0.1, 2, 2, M0=M0)
        assert out[0] == pytest.approx(lam.sum(), abs=1e-12)


def test_moment_lyapunov_collapse_has_a_status():
    """1-D, eta h = 1 with a full batch: every clone is at exactly 0 after one step, so
    Lambda(q) = -inf exactly; the result says status 'collapsed' with se 0, ci
    (-inf, -inf) and NaN bias (not computed), for a scalar q and for each of a list."""
    flat = sim.toy()[0]  # h = (2, 2)
    est = cloning.moment_lyapunov(flat, 0.5, 2, 2.0, steps=8, population=16, replicas=2)
    assert est.status == "collapsed" and "every replica" in est.message
    assert est.value == -np.inf and est.se == 0.0 and est.ci == (-np.inf, -np.inf)
    assert np.isnan(est.bias) and np.isnan(est.bias_se)
    many = cloning.moment_lyapunov(flat, 0.5, 1, [1.0, 2.0], steps=8, population=16,
                                   replicas=2, bias_check=False)
    assert [m.status for m in many] == ["collapsed", "collapsed"]
    fine = cloning.moment_lyapunov(ENS, 0.3, 2, 2.0, steps=8, population=16, replicas=2)
    assert fine.status == "ok" and fine.message == "" and np.isfinite(fine.value)


def test_default_bracket_is_widened():
    """h = (1, 0, 0), B = 2 without replacement: batch curvatures 1/2, 1/2, 0, so
    E|1 - eta h_xi|^2 = (2/3)(1 - eta/2)^2 + 1/3 exceeds 1 exactly above eta = 4, the
    end of the default bracket 4 / max h: the search widens and finds 4."""
    assert higher.moment_threshold([1.0, 0.0, 0.0], Sampling(2), 2.0) == pytest.approx(4.0,
                                                                                       rel=1e-12)


def test_monte_carlo_almost_sure_threshold_of_zero_ensemble():
    """All H_i = 0: x_t = x_0 at every eta, so eta_as = inf with status 'exact' (was a
    ZeroDivisionError for a full batch), as thresholds() says for the same ensemble."""
    zero = sim.from_hessians(np.zeros((3, 2, 2)))
    for B in (1, 3):
        res = montecarlo.almost_sure_threshold(zero, B)
        assert res.status == "exact" and res.value == res.lo == res.hi == np.inf
    assert sim.thresholds(zero, 1).eta_exact == np.inf


@pytest.mark.parametrize("ens", [
    sim.from_hessians(np.array([[[1e-310]], [[3e-310]]])),
    sim.from_hessians(np.array([[[5e-324, 0.0], [0.0, 0.0]]] * 3)),
    sim.from_factors(np.array([[[1e-160]], [[3e-160]]])),
], ids=["dense 1e-310", "dense 5e-324", "factors 1e-160"])
def test_subnormal_thresholds_without_warnings(ens):
    """Ensembles of subnormal entries have thresholds beyond 1e308: inf, returned without
    any RuntimeWarning; report() at a huge eta still decides."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for B in (1, 2):
            th = sim.thresholds(ens, B)
            assert th.eta_gd == th.eta_exact == th.eta_theorem == np.inf
            assert sim.report(ens, 1e300, B).stable["exact"]
