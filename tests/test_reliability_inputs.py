"""Every boolean, integer, probability and scheme argument of the public functions of
``sim.sampling``, ``sim.data``, ``sim.nets`` (training, MLP, polish), ``sim.nonlinear_toy``,
``sim.testing`` and ``theory`` is checked by kind: a value of the wrong kind is a
``TypeError``, a value of the right kind out of range a ``ValueError``, and either names
the argument; NumPy scalars of the right kind are accepted. Bad files, bad labels and
divergent runs come back as named errors or data, never as a raw error from deep inside
or a warning.

The values come from the argument-kind strategies of :mod:`sim.testing`
(:func:`~sim.testing.not_integers` and friends), which are tested here too.
"""

from __future__ import annotations

import gzip
import numbers
import warnings

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
import theory
from sim import data
from sim import higher as sim_higher
from sim._validate import check_bool, check_int, check_probability
from sim.nets import MLP, TrainConfig, polish, train, train_many
from sim.nonlinear_toy import (
    batch_curvatures,
    lyapunov_at_one,
    mean_square_multiplier,
    simulate_toy,
)
from sim.sampling import Sampling, as_sampling
from sim.testing import (
    batch_sizes,
    ensembles,
    not_booleans,
    not_integers,
    not_probabilities,
    numpy_booleans,
    numpy_integers,
    numpy_probabilities,
    rotations,
    samplings,
    spectra,
    wrong_kinds,
)
from theory import higher as th_higher
from theory._validate import check_count
from theory.numeric import batch_factor_value, max_stable_lr

FEW = settings(max_examples=6, deadline=None)

NET = MLP((3, 2, 1))
THETA = NET.init(0)
X = np.random.default_rng(1).standard_normal((6, 3))
Y = NET.forward(THETA, X) + 0.1
LABELS = np.array([0, 1, 2, 1, 0, 2])
HS_1D = [[[1]], [[2]]]


def _reject(call, value, name: str, err) -> None:
    """``call(value)`` raises ``err`` naming ``name``, and warns nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(err) as info:
            call(value)
    assert name in str(info.value), f"{name!r} not named in {info.value!r}"


def _accept(call, value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(value)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------- the strategies


@FEW
@given(v=not_integers())
def test_not_integers_are_refused_by_both_integer_checks(v):
    """Every value of not_integers is a TypeError for sim's check_int and theory's
    check_count."""
    for check in (check_int, check_count):
        with pytest.raises(TypeError, match="^k must be an integer"):
            check(v, "k")


@FEW
@given(v=not_booleans())
def test_not_booleans_are_refused(v):
    """Every value of not_booleans is a TypeError for check_bool."""
    with pytest.raises(TypeError, match="^flag must be a bool"):
        check_bool(v, "flag")


@FEW
@given(v=not_probabilities())
def test_not_probabilities_are_refused(v):
    """Every value of not_probabilities is refused: TypeError for a non-number, ValueError
    for a number outside [0, 1]."""
    with pytest.raises(ValueError if _is_real(v) else TypeError, match="^p must"):
        check_probability(v, "p")


@FEW
@given(k=st.integers(0, 300).flatmap(numpy_integers), b=numpy_booleans(),
       p=numpy_probabilities())
def test_numpy_scalars_are_the_right_kind(k, b, p):
    """numpy_integers, numpy_booleans and numpy_probabilities draw NumPy scalars that the
    checks accept unchanged in value."""
    assert isinstance(k, np.integer) and check_int(k, "k", 0) == int(k)
    assert isinstance(b, np.bool_) and check_bool(b, "b") is bool(b)
    assert isinstance(p, np.floating) and check_probability(p, "p") == float(p)


# --------------------------------------------------------------- argument tables
# (name the error must contain, call with the value, a valid Python value or None when a
# valid call is too costly, which of the drawn values are valid there after all)


def NEVER(v):
    return False


def NONE_OK(v):
    """``None`` means "not given" (a default, or a separate "is required" error)."""
    return v is None


def ARRAY_OK(v):
    """The argument is array_like: a list or tuple of numbers is a valid argument."""
    return isinstance(v, (list, tuple)) and all(_is_real(e) for e in v)


INTEGER_ARGS = [
    ("B", lambda v: Sampling(v), 2, NEVER),
    ("B", lambda v: Sampling(v, "reshuffle"), 2, NEVER),
    ("B", lambda v: Sampling(v, "mixture", p=0.5), 1, NONE_OK),
    ("n", lambda v: Sampling(2).check(v), 4, NEVER),
    ("n", lambda v: Sampling(2).gamma(v), 4, NEVER),
    ("n", lambda v: sim.batch_factor(v, 2), 4, NEVER),
    ("sampling", as_sampling, 2, NEVER),
    ("n", lambda v: sim_higher.batch_law(v, 1), 3, NEVER),
    ("n", lambda v: th_higher.batch_law(v, 1), 3, NEVER),
    ("B", lambda v: th_higher.batch_law(3, v), 2, NEVER),
    ("B", lambda v: th_higher.moment_function_1d([1, 2], "without", v), 1, NEVER),
    ("d", theory.theorem_condition, 2, NEVER),
    ("B_value", lambda v: theory.second_moment_operator(HS_1D, 0.1, v), 1, NEVER),
    ("n", lambda v: max_stable_lr(1.0, 1.0, v, 1), 4, ARRAY_OK),
    ("B", lambda v: max_stable_lr(1.0, 1.0, 4, v), 2, ARRAY_OK),
    ("n", lambda v: batch_factor_value(v, 1), 4, ARRAY_OK),
    ("B", lambda v: batch_factor_value(4, v, "with"), 2, ARRAY_OK),
    ("n", lambda v: data.first(X, LABELS, v), 3, NEVER),
    ("K", lambda v: data.one_hot(LABELS, v), 4, NONE_OK),
    ("K", lambda v: data.corrupt_labels(LABELS, 0.5, 0, v), 4, NONE_OK),
    ("seed", lambda v: data.corrupt_labels(LABELS, 0.5, v), 3, NEVER),
    ("n_train", lambda v: data.mnist1d(v), None, NEVER),
    ("seed", lambda v: data.mnist1d(100, v), None, NEVER),
    ("widths[1]", lambda v: MLP((3, v, 1)), 2, NEVER),
    ("seed", NET.init, 0, NEVER),
    ("steps", lambda v: TrainConfig(steps=v), 10, NEVER),
    ("record_every", lambda v: TrainConfig(steps=10, record_every=v), 5, NONE_OK),
    ("warmup", lambda v: TrainConfig(steps=10, warmup=v), 2, NEVER),
    ("save_every", lambda v: TrainConfig(steps=10, save_every=v), 5, NONE_OK),
    ("steps", lambda v: train(NET, THETA, X, Y, 0.1, 2, v), 4, NEVER),
    ("seed", lambda v: train(NET, THETA, X, Y, 0.1, 2, 4, v), 1, NEVER),
    ("seed", lambda v: train(NET, THETA, X, Y, 0.1, 2, 4, v, method="blas"), 1, NEVER),
    # train_many takes one seed per model (a list of one here: [1] itself is valid)
    ("seed", lambda v: train_many(NET, THETA[None], X, Y, 0.1, 2, 4, [v]), 1, NEVER),
    ("max_iter", lambda v: polish(NET, THETA, X, Y, max_iter=v), 2, NEVER),
    ("gram_budget", lambda v: polish(NET, THETA, X, Y, gram_budget=v), 2**20, NEVER),
    ("runs", lambda v: simulate_toy(0.1, v, 3, 0), 2, NEVER),
    ("steps", lambda v: simulate_toy(0.1, 2, v, 0), 3, NEVER),
    ("seed", lambda v: simulate_toy(0.1, 2, 3, v), 0, NEVER),
    ("B", lambda v: simulate_toy(0.1, 2, 3, 0, B=v), 2, NEVER),
    ("keep", lambda v: simulate_toy(0.1, 2, 3, 0, keep=v), 1, NEVER),
    ("B", batch_curvatures, 2, NEVER),
    ("B", lambda v: lyapunov_at_one(0.5, v), 1, NEVER),
    ("B", lambda v: mean_square_multiplier(0.5, v), 2, NEVER),
    ("n", batch_sizes, 4, NEVER),
]

BOOLEAN_ARGS = [
    ("drop_last", lambda v: Sampling(2, "reshuffle", drop_last=v)),
    ("parallel", lambda v: train_many(NET, THETA[None], X, Y, 0.1, 2, 4, parallel=v)),
    ("batch", lambda v: theory.conditions_1d(batch=v)),
    ("batch", lambda v: theory.momentum_recursion(batch=v)),
    ("replace", lambda v: simulate_toy(0.1, 2, 3, 0, replace=v)),
    ("replace", lambda v: batch_curvatures(2, v)),
    ("replace", lambda v: lyapunov_at_one(0.5, 2, v)),
    ("replace", lambda v: mean_square_multiplier(0.5, 2, v)),
]

PROBABILITY_ARGS = [
    ("p", lambda v: Sampling(scheme="mixture", p=v), True),
    ("p", lambda v: sim_higher.batch_law(3, Sampling(scheme="mixture", p=v)), True),
    ("p", lambda v: th_higher.batch_law(3, scheme="mixture", p=v), True),
    ("p_value", lambda v: theory.second_moment_operator(HS_1D, 0.1, scheme="mixture",
                                                         p_value=v), True),
    ("fraction", lambda v: data.corrupt_labels(LABELS, v, 0), False),
    ("test_fraction", data.digits, False),
]

SCHEME_ARGS = [
    lambda v: Sampling(2, v),
    theory.weight_moments,
    theory.batch_factor,
    theory.second_moment_recursion,
    theory.conditions_1d,
    theory.momentum_recursion,
    lambda v: theory.second_moment_operator(HS_1D, 0.1, 1, v),
    lambda v: th_higher.batch_law(3, 1, v),
    lambda v: th_higher.moment_function_1d([1, 2], v, 1),
    lambda v: th_higher.moment_threshold([1, 2], 2, v, 1),
    lambda v: batch_factor_value(4, 2, v),
    lambda v: max_stable_lr(1.0, 1.0, 4, 2, v),
]


def _ids(table):
    return [f"{row[0]}-{i}" for i, row in enumerate(table)]


@pytest.mark.parametrize("name,call,good,valid", INTEGER_ARGS, ids=_ids(INTEGER_ARGS))
@FEW
@given(data_=st.data())
def test_integer_arguments_refuse_other_kinds(name, call, good, valid, data_):
    """An integer argument given a string, None, complex, a list, a bool or a fraction
    raises TypeError (ValueError for a float read as a count), naming the argument."""
    v = data_.draw(not_integers().filter(lambda v: not valid(v)))
    _reject(call, v, name, (TypeError, ValueError) if _is_real(v) else TypeError)


@pytest.mark.parametrize("name,call,good,valid",
                         [row for row in INTEGER_ARGS if row[2] is not None],
                         ids=_ids([row for row in INTEGER_ARGS if row[2] is not None]))
@FEW
@given(data_=st.data())
def test_integer_arguments_accept_numpy_integers(name, call, good, valid, data_):
    """NumPy integers of every width are integers: accepted, with the same result."""
    v = data_.draw(numpy_integers(good))
    _accept(call, v)


@pytest.mark.parametrize("name,call", BOOLEAN_ARGS, ids=_ids(BOOLEAN_ARGS))
@FEW
@given(v=not_booleans())
def test_boolean_arguments_refuse_truthy_values(name, call, v):
    """A boolean argument given 'no', 0, 1, None, nan or a list raises TypeError naming
    it (instead of being read by truthiness)."""
    _reject(call, v, name, TypeError)


@pytest.mark.parametrize("name,call", BOOLEAN_ARGS, ids=_ids(BOOLEAN_ARGS))
@FEW
@given(v=numpy_booleans())
def test_boolean_arguments_accept_numpy_bools(name, call, v):
    """numpy.bool_ is a bool: accepted, with the result of the Python bool."""
    got, want = _accept(call, v), _accept(call, bool(v))
    if isinstance(got, Sampling):
        assert got == want and type(got.drop_last) is bool


@pytest.mark.parametrize("name,call,none_ok", PROBABILITY_ARGS, ids=_ids(PROBABILITY_ARGS))
@FEW
@given(data_=st.data())
def test_probability_arguments_refuse_other_values(name, call, none_ok, data_):
    """A probability outside [0, 1] (or nan) is a ValueError, a non-number a TypeError,
    each naming the argument."""
    strategy = (not_probabilities().filter(lambda v: v is not None) if none_ok
                else not_probabilities())
    v = data_.draw(strategy)
    _reject(call, v, name, ValueError if _is_real(v) else TypeError)


@pytest.mark.parametrize("name,call,none_ok", PROBABILITY_ARGS, ids=_ids(PROBABILITY_ARGS))
@FEW
@given(p=numpy_probabilities())
def test_probability_arguments_accept_numpy_floats(name, call, none_ok, p):
    """float32 and float64 probabilities in [0, 1] are accepted."""
    _accept(call, p)


@pytest.mark.parametrize("call", SCHEME_ARGS, ids=[str(i) for i in range(len(SCHEME_ARGS))])
@FEW
@given(v=wrong_kinds().filter(lambda v: v is not None and not isinstance(v, str))
       | st.sampled_from([["without"], {"with"}, np.array(["with"]), 1, True]))
def test_scheme_of_wrong_kind_is_a_type_error(call, v):
    """An unhashable or non-string scheme is a TypeError naming scheme (not 'unhashable
    type' from a cache)."""
    _reject(call, v, "scheme", TypeError)


@FEW
@given(data_=st.data(), v=not_integers(), b=not_booleans())
def test_strategy_arguments_are_checked(data_, v, b):
    """The strategies of sim.testing refuse a bad size or flag, naming it."""
    err = (TypeError, ValueError) if _is_real(v) else TypeError
    for strategy, name in ((rotations(v), "d"), (spectra(v), "d"), (ensembles(d=v), "d"),
                           (samplings(v), "n")):
        _reject(data_.draw, strategy, name, err)
    _reject(lambda _: batch_sizes(v), None, "n", err)
    _reject(data_.draw, spectra(2, allow_zero=b), "allow_zero", TypeError)
    _reject(data_.draw, samplings(4, schemes=[["without"]]), "schemes", TypeError)


# --------------------------------------------------------------- probabilities


@FEW
@given(p=numpy_probabilities() | st.floats(0, 1), n=st.integers(1, 5).flatmap(
    lambda k: numpy_integers(k) | st.just(k)))
def test_mixture_laws_are_probability_laws(p, n):
    """theory's and sim's mixture laws (n and p as Python or NumPy numbers) have
    non-negative probabilities summing to 1, and agree."""
    law = th_higher.batch_law(n, scheme="mixture", p=p)
    probs = np.array([float(q) for q, _ in law])
    sim_probs, _ = sim_higher.batch_law(n, Sampling(scheme="mixture", p=p))
    assert np.all(probs >= 0) and probs.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(probs, sim_probs, rtol=1e-6, atol=1e-12)


def test_symbolic_probability_is_kept():
    """A sympy symbol is a valid mixture probability (the law stays symbolic)."""
    p = sp.Symbol("p", nonnegative=True)
    law = th_higher.batch_law(2, scheme="mixture", p=p)
    assert sp.simplify(sum(q for q, _ in law) - 1) == 0


# --------------------------------------------------------------- IDX files


def _idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file of ``arr`` (uint8)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(np.uint8).tobytes()


IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
RAW = _idx_bytes(IMAGES)
GZ = gzip.compress(RAW, mtime=0)
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_idx_round_trip(tmp_path):
    """Raw and gzip IDX files read back to the array written."""
    for name, blob in (("a.idx", RAW), ("a.idx.gz", GZ)):
        (tmp_path / name).write_bytes(blob)
        np.testing.assert_array_equal(data.load_idx(tmp_path / name), IMAGES)
        np.testing.assert_array_equal(data.load_idx(str(tmp_path / name)), IMAGES)


@pytest.mark.parametrize("value", [None, 3, 1.5, b"a.idx", ["a.idx"]])
def test_idx_path_of_wrong_kind(value):
    """A path that is no str or path-like is a TypeError naming path."""
    _reject(data.load_idx, value, "path", TypeError)


def test_idx_dataset_names_its_arguments(tmp_path):
    """idx_dataset's errors name images or labels."""
    (tmp_path / "x.idx").write_bytes(RAW)
    _reject(lambda v: data.idx_dataset(v, tmp_path / "x.idx"), None, "images", TypeError)
    _reject(lambda v: data.idx_dataset(tmp_path / "x.idx", v), None, "labels", TypeError)
    _reject(lambda v: data.idx_dataset(tmp_path / "x.idx", v), tmp_path / "x.idx", "labels",
            ValueError)


@FUZZ
@given(cut=st.integers(0, 10**6), gz=st.booleans())
def test_truncated_idx_is_a_value_error(tmp_path, cut, gz):
    """A raw or gzip IDX file cut short anywhere is a ValueError naming path (no
    EOFError from gzip)."""
    blob = GZ if gz else RAW
    f = tmp_path / "cut.idx"
    f.write_bytes(blob[:cut % len(blob)])
    _reject(data.load_idx, f, "path", ValueError)


@FUZZ
@given(at=st.integers(0, len(GZ) - 1), xor=st.integers(1, 255))
def test_corrupt_gzip_idx(tmp_path, at, xor):
    """A gzip IDX file with one byte changed reads back unchanged (a header field that
    does not matter) or is a ValueError naming path (no zlib.error, BadGzipFile or
    EOFError)."""
    blob = bytearray(GZ)
    blob[at] ^= xor
    f = tmp_path / "bad.idx.gz"
    f.write_bytes(bytes(blob))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            got = data.load_idx(f)
        except ValueError as exc:
            assert "path" in str(exc)
        else:
            np.testing.assert_array_equal(got, IMAGES)


# --------------------------------------------------------------- labels


@FEW
@given(K=st.integers(2, 6), n=st.integers(1, 20), seed=st.integers(0, 2**16),
       fraction=st.floats(0, 1))
def test_corrupt_labels_stay_in_classes(K, n, seed, fraction):
    """corrupt_labels of labels in [0, K) returns labels in [0, K), each changed one
    different from before, round(fraction n) of them."""
    y = np.random.default_rng(seed).integers(0, K, n)
    out = data.corrupt_labels(y, fraction, seed, K)
    assert out.min() >= 0 and out.max() < K
    assert np.sum(out != y) == round(fraction * n)


@FEW
@given(K=st.integers(2, 6), extra=st.integers(0, 5))
def test_corrupt_labels_refuse_labels_outside_classes(K, extra):
    """A label >= K or < 0 is a ValueError, not an output label outside [0, K)."""
    with pytest.raises(ValueError, match="does not fit K"):
        data.corrupt_labels(np.array([0, K + extra]), 0.5, 0, K)
    with pytest.raises(ValueError, match="^y must hold non-negative"):
        data.corrupt_labels(np.array([0, -1 - extra]), 0.5, 0, K)
    with pytest.raises(ValueError, match="^y must hold non-negative"):
        data.one_hot(np.array([0, -1 - extra]))


def test_single_class_and_empty_labels():
    """One class leaves no other label to draw (a ValueError naming K); an empty y has no
    K to infer; with K given it is a (0, K) one-hot."""
    with pytest.raises(ValueError, match="give K"):
        data.corrupt_labels(np.zeros(4, dtype=int), 0.5, 0)
    with pytest.raises(ValueError, match="^K must be >= 2"):
        data.corrupt_labels(np.zeros(4, dtype=int), 0.5, 0, K=1)
    with pytest.raises(ValueError, match="^K must be given"):
        data.one_hot([])
    assert data.one_hot([], 3).shape == (0, 3)
    with pytest.raises(TypeError, match="^y must be a 1-D array of integer labels"):
        data.one_hot([0.0, 1.0])
    with pytest.raises(TypeError, match="^y must be"):
        data.corrupt_labels([True, False], 0.5, 0)


def test_accuracy_checks_labels():
    """accuracy with the wrong number of labels, one-hot targets of the wrong shape or
    non-integer labels raises, naming labels (not a broadcast error)."""
    assert 0.0 <= NET.accuracy(THETA, X, np.zeros(6, dtype=int)) <= 1.0
    assert NET.accuracy(THETA, X, np.ones((6, 1))) == 1.0
    with pytest.raises(ValueError, match="^labels must hold 6"):
        NET.accuracy(THETA, X, [0, 1])
    with pytest.raises(ValueError, match=r"^labels \(one-hot\)"):
        NET.accuracy(THETA, X, np.ones((5, 1)))
    with pytest.raises(TypeError, match="^labels"):
        NET.accuracy(THETA, X, np.zeros(6))


# --------------------------------------------------------------- training


@pytest.mark.parametrize("net", [None, "MLP", object()])
def test_train_net_of_wrong_kind(net):
    """train and train_many with something that is no MLP raise TypeError naming net."""
    _reject(lambda v: train(v, THETA, X, Y, 0.1, 2, 4), net, "net", TypeError)
    _reject(lambda v: train_many(v, THETA[None], X, Y, 0.1, 2, 4), net, "net", TypeError)


def test_train_many_thetas0():
    """Complex thetas0 is a TypeError (no ComplexWarning dropping the imaginary part);
    zero models or a wrong width a ValueError; all name thetas0."""
    run = lambda v: train_many(NET, v, X, Y, 0.1, 2, 4)  # noqa: E731
    _reject(run, THETA[None] + 1j, "thetas0", TypeError)
    _reject(run, THETA[None].astype(complex), "thetas0", TypeError)
    _reject(run, np.zeros((0, NET.n_params)), "thetas0", ValueError)
    _reject(run, np.zeros((1, NET.n_params + 1)), "thetas0", ValueError)
    _reject(run, THETA, "thetas0", ValueError)


@FEW
@given(log_eta=st.floats(20, 300), method=st.sampled_from(["blas", "kernel"]),
       activation=st.sampled_from(["relu", "tanh"]), B=st.sampled_from([1, 3, 6]))
def test_divergence_is_data_without_warnings(log_eta, method, activation, B):
    """Training at eta = 10^20..10^300 returns a diverged result (diverged=True, stopped
    early), the same with both methods, and emits no overflow warning."""
    net = MLP((3, 4, 1), activation)
    theta = net.init(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train(net, theta, X, Y, 10.0**log_eta, B, 20, method=method, record_every=1)
        other = train(net, theta, X, Y, 10.0**log_eta, B, 20, record_every=1,
                      method="kernel" if method == "blas" else "blas")
    assert res.diverged and not res.converged and res.steps_run < 20
    assert (other.diverged, other.steps_run) == (res.diverged, res.steps_run)


def test_polish_of_a_diverged_point_is_data():
    """polish at a huge (finite) or complex theta: a 'diverged' status without warnings,
    and a TypeError naming theta without a ComplexWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert polish(NET, THETA * 1e200, X, Y).status == "diverged"
    _reject(lambda v: polish(NET, v, X, Y), THETA + 1j, "theta", TypeError)


def test_toy_eta_of_wrong_kind():
    """The toy's exact curves take real learning rates, named when not."""
    for value in (True, "0.5", None, 0.5j):
        _reject(lambda v: lyapunov_at_one(v), value, "eta", TypeError)
    _reject(lambda v: mean_square_multiplier(v), np.nan, "eta", ValueError)


def test_linearization_names_its_arguments():
    """A linearization's jvp and vjp name v and U when given the wrong shape or kind."""
    lin = NET.linearize(THETA, X)
    _reject(lin.jvp, np.ones(NET.n_params + 1), "v", ValueError)
    _reject(lin.vjp, np.ones((5, 1)), "U", ValueError)
    _reject(lin.vjp, np.ones((6, 1)) * 1j, "U", TypeError)
    np.testing.assert_allclose(lin.vjp(np.ones((6, 1))), NET.vjp(THETA, X, np.ones((6, 1))))
