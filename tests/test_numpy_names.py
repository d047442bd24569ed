"""The NumPy-named functions of `autodiff_lite.numpy` that are compositions, not
rows of the rule table: each must give NumPy's value, plain and traced, and a
derivative that finite differences confirm (test_rules.py covers the rows)."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp

pytestmark = pytest.mark.library

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 4))
B = rng.uniform(0.5, 2.0, (3, 4))
C = rng.standard_normal((2, 3, 4))
COLUMN = rng.standard_normal((3, 1))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


# (name, ours, NumPy's or a closed form, arguments)
CASES: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple]] = [
    ("square", anp.square, np.square, (A,)),
    ("mean axis=1", lambda x: anp.mean(x, axis=1), lambda x: np.mean(x, axis=1), (A,)),
    ("mean axis=(0, 2) keepdims", lambda x: anp.mean(x, axis=(0, 2), keepdims=True),
     lambda x: np.mean(x, axis=(0, 2), keepdims=True), (C,)),
    ("softmax axis=0", lambda x: anp.softmax(x, axis=0), lambda x: _softmax(x, 0), (A,)),
    ("softmax axis=-1", anp.softmax, lambda x: _softmax(x, -1), (C,)),
    ("amax axis=0", lambda x: anp.amax(x, axis=0), lambda x: np.amax(x, axis=0), (A,)),
    ("amin axis=1", lambda x: anp.amin(x, axis=1), lambda x: np.amin(x, axis=1), (A,)),
    ("expand_dims axis=-1", lambda x: anp.expand_dims(x, -1),
     lambda x: np.expand_dims(x, -1), (A,)),
    ("expand_dims axis=1", lambda x: anp.expand_dims(x, 1),
     lambda x: np.expand_dims(x, 1), (A,)),
    ("squeeze", anp.squeeze, np.squeeze, (COLUMN,)),
    ("squeeze axis=-1", lambda x: anp.squeeze(x, -1), lambda x: np.squeeze(x, -1), (COLUMN,)),
    ("swapaxes 0 2", lambda x: anp.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), (C,)),
    ("swapaxes -1 0", lambda x: anp.swapaxes(x, -1, 0), lambda x: np.swapaxes(x, -1, 0), (C,)),
    ("add", anp.add, np.add, (A, COLUMN)),
    ("subtract", anp.subtract, np.subtract, (A, COLUMN)),
    ("multiply", anp.multiply, np.multiply, (A, COLUMN)),
    ("true_divide", anp.true_divide, np.true_divide, (A, B)),
    ("divide", anp.divide, np.divide, (COLUMN, B)),
    ("negative", anp.negative, np.negative, (A,)),
]


@pytest.mark.parametrize("name, ours, theirs, args", CASES, ids=[c[0] for c in CASES])
def test_values_are_numpys_plain_and_traced(name: str, ours: Any, theirs: Any,
                                            args: tuple) -> None:
    expected = theirs(*args)
    np.testing.assert_allclose(ours(*args), expected, rtol=1e-14, atol=0)
    traced, _ = ad.jvp(ours, args, tuple(np.ones_like(a) for a in args))
    assert np.shape(traced) == np.shape(expected)
    np.testing.assert_allclose(traced, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("name, ours, theirs, args", CASES, ids=[c[0] for c in CASES])
def test_derivatives_agree_with_finite_differences(name: str, ours: Any, theirs: Any,
                                                   args: tuple) -> None:
    ad.check_grads(ours, args, order=2)


def test_zeros_like_and_ones_like_are_constants_of_the_right_shape() -> None:
    for ours, value in ((anp.zeros_like, 0.0), (anp.ones_like, 1.0)):
        assert np.array_equal(ours(C), np.full(C.shape, value))
        out, tangent = ad.jvp(lambda x: ours(x) * 2.0 + x, (A,), (np.ones_like(A),))
        np.testing.assert_array_equal(out, 2.0 * value + A)
        np.testing.assert_array_equal(tangent, np.ones_like(A))  # only the `+ x` term


def test_minimum_and_maximum_follow_the_argument_that_wins() -> None:
    # y wins in some entries, x in others: each argument's slope is 1 where it wins
    x = np.array([1.0, 5.0, -2.0, 0.5])
    y = np.array([3.0, 2.0, -4.0, 7.0])
    for ours, x_wins in ((anp.minimum, x < y), (anp.maximum, x > y)):
        for jac in (ad.jacfwd, ad.jacrev):
            jx, jy = jac(ours, argnums=(0, 1))(x, y)
            np.testing.assert_array_equal(jx, np.diag(x_wins * 1.0))
            np.testing.assert_array_equal(jy, np.diag(~x_wins * 1.0))
    assert ad.grad(lambda y: anp.minimum(3.0, y))(1.0) == 1.0
    assert ad.derivative(lambda y: anp.minimum(3.0, y))(1.0) == 1.0


def test_the_exponent_of_a_zero_base_has_slope_zero() -> None:
    # d/dy x**y = x**y log x, which is 0 at x = 0 (y > 0), not 0 * -inf = nan
    base = np.array([0.0, 2.0, 0.0])
    expected = base ** 2.5 * np.log(np.where(base == 0.0, 1.0, base))
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jac(lambda y: base ** y)(2.5), expected, rtol=1e-14)
    assert ad.grad(lambda x, y: x ** y, argnums=1)(0.0, 2.0) == 0.0


def test_logsumexp_and_sigmoid_at_their_infinite_edges() -> None:
    with np.errstate(all="raise"):
        assert anp.logsumexp(np.full(3, -np.inf)) == -np.inf
        assert anp.sigmoid(-1000.0) == 0.0 and anp.sigmoid(1000.0) == 1.0
        np.testing.assert_array_equal(anp.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
        assert ad.grad(anp.sigmoid)(-1000.0) == 0.0


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1])
def test_axis_zero_of_a_0d_input_is_the_whole_of_it(name: str, axis: int) -> None:
    # NumPy's sum, prod, max and min take axis 0 or -1 of a 0-d array; so do ours,
    # all of them, in both modes (the VJP rules used to index the empty shape)
    reduce = getattr(anp, name)
    for x in (2.0, np.array(2.0)):
        assert reduce(x, axis=axis) == reduce(x)
        assert ad.grad(lambda x: reduce(x, axis=axis))(x) == 1.0
        assert ad.jvp(lambda x: reduce(x, axis=axis), (x,), (np.ones_like(x),))[1] == 1.0


def test_an_axis_out_of_range_is_numpys_axis_error() -> None:
    for call in (lambda: anp.sum(A, axis=2), lambda: anp.mean(A, axis=-3),
                 lambda: anp.max(A, axis=(0, 2)), lambda: anp.squeeze(2.0, axis=0)):
        with pytest.raises(np.exceptions.AxisError):
            call()


def test_squeeze_removes_only_axes_of_length_one() -> None:
    assert anp.squeeze(COLUMN, axis=-1).shape == np.squeeze(COLUMN, axis=-1).shape
    with pytest.raises(ValueError, match="length other than 1"):
        anp.squeeze(A, axis=0)


def test_shapes_and_axes_may_be_numpy_integers_or_sequences() -> None:
    x = np.ones((2, 2))
    for newshape in (np.prod(x.shape), np.int64(4), [np.int64(2), 2], np.array([4, 1])):
        np.testing.assert_array_equal(
            ad.grad(lambda x: anp.sum(anp.reshape(x, newshape) ** 2))(x), 2.0 * x)
    assert ad.grad(lambda x: anp.sum(x.reshape(np.int64(4))))(x).shape == (2, 2)
    for axis in (0, -1, (0, 2), (-1, 0)):
        assert anp.expand_dims(A, axis).shape == np.expand_dims(A, axis).shape
    np.testing.assert_array_equal(ad.grad(lambda v: anp.sum(anp.expand_dims(v, (0, 2))))(
        np.ones(2)), [1.0, 1.0])
    with pytest.raises(np.exceptions.AxisError):
        anp.expand_dims(A, 3)
    with pytest.raises(ValueError, match="only one dimension"):
        anp.reshape(A, (-1, -1))


@pytest.mark.parametrize("from_shape, newshape", [
    ((0, 3), (0, -1)),   # a -1 beside a 0: any length fits, NumPy refuses
    ((2, 3), (4, -1)),   # 6 entries do not fill rows of 4
    ((0, 3), (-1, 0)),
])
def test_a_reshape_that_numpy_refuses_is_a_value_error(from_shape, newshape) -> None:
    x = np.zeros(from_shape)
    with pytest.raises(ValueError):
        np.reshape(x, newshape)
    with pytest.raises(ValueError, match=re.escape(f"into shape {newshape}")):
        anp.reshape(x, newshape)
    assert anp.reshape(x, (-1,) + from_shape[1:]).shape == from_shape  # the -1 that fits


def test_the_mean_of_nothing_is_nan_as_numpys() -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(anp.mean(np.zeros(0)))
        assert ad.grad(anp.mean)(np.ones(0)).shape == (0,)
    with pytest.warns(RuntimeWarning):
        anp.mean(np.zeros(0))
