"""Finite differences (and their documented steps) and check_grads itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.numerical import (CENTRAL_STEP, FORWARD_STEP, central_difference,
                                     forward_difference, numerical_jacobian)

pytestmark = pytest.mark.library


@given(st.floats(-3.0, 3.0))
def test_default_steps_reach_their_expected_accuracy(x: float) -> None:
    exact = math.cos(x)
    assert abs(forward_difference(math.sin, x) - exact) < 1e-7
    assert abs(central_difference(math.sin, x) - exact) < 1e-9


def test_documented_steps_are_the_error_balancing_ones() -> None:
    eps = np.finfo(float).eps
    assert FORWARD_STEP == pytest.approx(math.sqrt(eps))
    assert CENTRAL_STEP == pytest.approx(eps ** (1 / 3))


def test_too_small_and_too_large_steps_are_worse_than_the_default() -> None:
    x, exact = 1.0, math.exp(1.0)
    best = abs(central_difference(math.exp, x) - exact)
    assert abs(central_difference(math.exp, x, h=1e-13) - exact) > 100 * best  # round-off
    assert abs(central_difference(math.exp, x, h=1e-2) - exact) > 100 * best  # truncation
    assert abs(forward_difference(math.exp, x, h=1e-3) - exact) > 100 * best


def test_numerical_jacobian_of_a_linear_map_is_the_matrix() -> None:
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(numerical_jacobian(lambda x: a @ x, np.ones(3)), a, atol=1e-9)
    with pytest.raises(ValueError, match="central' or 'forward"):
        numerical_jacobian(np.sin, np.ones(2), method="backward")


def test_check_grads_passes_for_correct_rules() -> None:
    ad.check_grads(lambda x, y: anp.sum(anp.tanh(x) * y), (np.ones(3), np.arange(3.0)))


def test_check_grads_passes_when_arguments_differ_in_scale() -> None:
    # One step for every entry, sized by the largest (200), threw the derivative in
    # the small weight off by 2e-4 relative; per-entry steps suit both.
    ad.check_grads(lambda w, x: anp.exp(w * x), (0.01, 200.0), order=2)
    pixels = np.array([0.0, 3.0, 255.0, 128.0])
    ad.check_grads(lambda w: anp.log1p(anp.exp(-anp.sum(w * pixels))),
                   (np.full(4, 0.002),), order=2)


def test_check_grads_takes_jax_argument_order_and_a_single_mode() -> None:
    # jax.test_util.check_grads(f, args, order, modes, atol, rtol, eps)
    from autodiff_lite.core import Primitive, bind
    off = Primitive("off_exp", np.exp, (lambda t, z, x: 1.05 * t * z,),
                    (lambda g, z, x: 1.05 * g * z,))  # 5% too large
    ad.check_grads(lambda x: bind(off, x), (0.0,), 1, ("fwd", "rev"), 0.1)  # atol 0.1
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\)"):
        ad.check_grads(lambda x: bind(off, x), (0.0,), 1, "rev")


def test_check_grads_names_the_mode_that_is_wrong() -> None:
    from autodiff_lite.core import Primitive, bind

    wrong_vjp = Primitive("bad_sin", np.sin, (lambda t, z, x: t * anp.cos(x),),
                          (lambda g, z, x: g * anp.sin(x),))  # VJP rule is wrong
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\) at order 1"):
        ad.check_grads(lambda x: bind(wrong_vjp, x), (0.3,), order=1)
    ad.check_grads(lambda x: bind(wrong_vjp, x), (0.3,), order=1, modes=("fwd",))

    wrong_jvp = Primitive("bad_exp", np.exp, (lambda t, z, x: 2.0 * t * z,),
                          (lambda g, z, x: g * z,))
    with pytest.raises(AssertionError, match=r"(?s)forward mode \(jvp\).*finite differences"):
        ad.check_grads(lambda x: bind(wrong_jvp, x), (np.ones(2),), order=1)


def test_check_grads_order_two_catches_a_wrong_second_derivative() -> None:
    from autodiff_lite.core import Primitive, bind

    # First derivative right, but written with a constant so the second is wrong.
    frozen = Primitive("frozen_square", lambda x: x * x,
                       (lambda t, z, x: t * 2.0 * ad.primal(x),),
                       (lambda g, z, x: g * 2.0 * ad.primal(x),))
    ad.check_grads(lambda x: bind(frozen, x), (1.5,), order=1)
    with pytest.raises(AssertionError, match="order 2"):  # the second derivative
        ad.check_grads(lambda x: bind(frozen, x), (1.5,), order=2)


def test_check_grads_names_the_order_of_the_derivative_that_is_wrong() -> None:
    from autodiff_lite.core import Primitive, bind

    wrong = Primitive("bad_cube", lambda x: x ** 3, (lambda t, z, x: t * x * x,),
                      (lambda g, z, x: g * x * x,))  # 3 x² expected: order 1 is wrong
    for order in (1, 2, 3):
        with pytest.raises(AssertionError, match=r"forward mode \(jvp\) at order 1"):
            ad.check_grads(lambda x: bind(wrong, x), (0.7,), order=order)


def test_check_grads_argument_errors() -> None:
    with pytest.raises(TypeError, match="tuple of arguments"):
        ad.check_grads(anp.sin, 1.0)
    with pytest.raises(ValueError, match="unknown modes"):
        ad.check_grads(anp.sin, (1.0,), modes=("sideways",))


def test_differences_take_one_number_in_float64() -> None:
    # float32's spacing at 3 is 2.4e-7: stepping in float32 gave 5.98 for d(x²)/dx
    assert central_difference(lambda x: x * x, np.float32(3.0)) == pytest.approx(6.0, rel=1e-9)
    with pytest.raises(TypeError, match="one number.*numerical_jacobian"):
        forward_difference(np.sin, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="below the spacing of floats at x = 1.0"):
        central_difference(np.exp, 1.0, h=1e-20)  # was nan: 0 / 0
