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


def test_check_grads_order_two_in_reverse_mode_alone() -> None:
    from autodiff_lite.core import Primitive, bind

    # The JVP rule is traced all the way; the VJP rule freezes x, so only reverse
    # mode's second derivative (the derivative of the pullback) is wrong.
    half = Primitive("half_frozen_square", lambda x: x * x,
                     (lambda t, z, x: t * 2.0 * x,),
                     (lambda g, z, x: g * 2.0 * ad.primal(x),))
    ad.check_grads(lambda x: bind(half, x), (1.5,), order=2, modes="fwd")
    ad.check_grads(lambda x: bind(half, x), (1.5,), order=1, modes="rev")
    with pytest.raises(AssertionError, match="order 2"):
        ad.check_grads(lambda x: bind(half, x), (1.5,), order=2, modes="rev")


@pytest.mark.parametrize("modes", ["fwd", "rev"])
def test_check_grads_default_tolerance_catches_a_relative_error_of_1e_4(modes: str) -> None:
    from autodiff_lite.core import Primitive, bind

    off = Primitive("off_by_1e-4", np.exp, (lambda t, z, x: 1.0001 * t * z,),
                    (lambda g, z, x: 1.0001 * g * z,))
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        ad.check_grads(lambda x: bind(off, x), (np.array([0.5, 1.0, 2.0]),), 1, modes)


def test_check_grads_steps_relative_to_each_entry() -> None:
    # At x = 1e8 floats are 1.5e-8 apart: an absolute step of eps ** (1/3) = 6e-6
    # is 400 spacings, and x log x (1.8e9) moves by 1.2e-4 against its round-off
    # of 2e-7: a relative error of 1e-3. A step of 6e-6 · x suits it.
    ad.check_grads(lambda x: x * anp.log(x), (1e8,), order=2)
    ad.check_grads(lambda x: anp.sum(x * anp.log(x)), (np.array([1e8, 2.0, 3e-3]),), order=2)


def test_differences_step_relative_to_x_and_forward_is_one_sided() -> None:
    assert forward_difference(math.log, 1e8) == pytest.approx(1e-8, rel=1e-6)
    assert central_difference(math.log, 1e8) == pytest.approx(1e-8, rel=1e-9)
    # x² at 1: the forward difference is off by its step, sqrt(eps); central is exact
    forward = numerical_jacobian(lambda x: x * x, np.ones(2), method="forward")
    central = numerical_jacobian(lambda x: x * x, np.ones(2), method="central")
    np.testing.assert_allclose(np.diag(forward) - 2.0, FORWARD_STEP, rtol=0.01)
    np.testing.assert_allclose(central, 2.0 * np.eye(2), atol=1e-9)


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
    with pytest.raises(ValueError, match="order must be at least 1"):
        ad.check_grads(anp.sin, (1.0,), order=0)  # would check nothing


def test_check_grads_order_two_in_forward_mode_alone() -> None:
    from autodiff_lite.core import Primitive, bind

    # The mirror of the reverse-mode case: the JVP rule freezes x, the VJP rule
    # is traced, so only forward mode's second derivative is wrong.
    half = Primitive("half_frozen_cube", lambda x: x * x * x,
                     (lambda t, z, x: t * 3.0 * ad.primal(x) ** 2,),
                     (lambda g, z, x: g * 3.0 * x * x,))
    ad.check_grads(lambda x: bind(half, x), (1.5,), order=2, modes="rev")
    ad.check_grads(lambda x: bind(half, x), (1.5,), order=1, modes="fwd")
    with pytest.raises(AssertionError, match=r"forward mode \(jvp\) at order 2"):
        ad.check_grads(lambda x: bind(half, x), (1.5,), order=2, modes="fwd")


def test_check_grads_reverse_mode_uses_a_random_cotangent() -> None:
    from autodiff_lite.core import Primitive, bind

    # A VJP rule that ignores its cotangent gives the gradient of sum(f): right
    # for a cotangent of ones, wrong for any other.
    deaf = Primitive("deaf_sin", np.sin, (lambda t, z, x: t * anp.cos(x),),
                     (lambda g, z, x: anp.cos(x),))
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\) at order 1"):
        ad.check_grads(lambda x: bind(deaf, x), (np.array([0.3, 1.1, -0.4]),), order=1,
                       modes="rev")


def test_check_grads_refuses_a_derivative_of_the_wrong_shape() -> None:
    from autodiff_lite.core import Primitive, bind

    # A scalar function whose JVP rule returns a 1-element array: NumPy would
    # broadcast the comparison and pass it; check_grads names the shapes.
    boxed = Primitive("boxed_double", lambda x: 2.0 * x, (lambda t, z, x: np.array([2.0 * t]),),
                      (lambda g, z, x: 2.0 * g,))
    with pytest.raises(AssertionError, match=r"shape \(1,\) from AD but \(\) from finite"):
        ad.check_grads(lambda x: bind(boxed, x), (1.5,), order=1, modes="fwd")


def test_differences_take_one_number_in_float64() -> None:
    # float32's spacing at 3 is 2.4e-7: stepping in float32 gave 5.98 for d(x²)/dx
    assert central_difference(lambda x: x * x, np.float32(3.0)) == pytest.approx(6.0, rel=1e-9)
    # f itself is evaluated in float64 too (exp of a float32 is a float32, 7 digits)
    assert central_difference(np.exp, np.float32(1.0)) == pytest.approx(math.e, rel=1e-9)
    with pytest.raises(TypeError, match="one number.*numerical_jacobian"):
        forward_difference(np.sin, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="below the spacing of floats at x = 1.0"):
        central_difference(np.exp, 1.0, h=1e-20)  # was nan: 0 / 0
