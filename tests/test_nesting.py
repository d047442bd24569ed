"""Higher derivatives and nested transformations, with no perturbation confusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp

pytestmark = pytest.mark.library

xs = st.floats(-2.0, 2.0)


@given(xs)
def test_second_and_third_derivatives_of_sin(x: float) -> None:
    assert math.isclose(ad.grad(ad.grad(anp.sin))(x), -math.sin(x), abs_tol=1e-12)
    assert math.isclose(ad.derivative(ad.grad(anp.sin))(x), -math.sin(x), abs_tol=1e-12)
    assert math.isclose(ad.grad(ad.derivative(anp.sin))(x), -math.sin(x), abs_tol=1e-12)
    assert math.isclose(ad.grad(ad.grad(ad.grad(anp.sin)))(x), -math.cos(x), abs_tol=1e-12)


def test_fifth_derivative_of_exp_by_mixed_modes() -> None:
    d = ad.grad(ad.derivative(ad.grad(ad.derivative(ad.grad(anp.exp)))))
    assert math.isclose(d(0.7), math.exp(0.7), rel_tol=1e-12)


@pytest.mark.parametrize("outer", [ad.derivative, ad.grad])
@pytest.mark.parametrize("inner", [ad.derivative, ad.grad])
def test_no_perturbation_confusion(outer, inner) -> None:
    # d/dx [ x * d/dy (x + y) ] = d/dx [x] = 1; confusing the two perturbations gives 2.
    assert outer(lambda x: x * inner(lambda y: x + y)(1.0))(1.0) == 1.0


def test_inner_derivative_closing_over_outer_variable() -> None:
    # d/dx d/dy (x * y^2) at y = 3 is 2y = 6, independent of x.
    assert ad.grad(lambda x: ad.grad(lambda y: x * y * y)(3.0))(5.0) == 6.0


def textbook_derivative(f):  # type: ignore[no-untyped-def]
    """Forward mode as lesson 2 writes it, with a Dual built by hand."""
    return lambda y: f(ad.Dual(y, 1.0)).tangent


@pytest.mark.parametrize("outer", [ad.derivative, ad.grad, ad.jacfwd, ad.jacrev])
def test_a_hand_built_dual_inside_a_transformation_is_an_inner_derivative(outer) -> None:
    # g(x) = x * d/dy (x y) = x², so g'(3) = 6: the hand-built Dual is nested
    # inside the running transformation, not its outermost perturbation
    g = lambda x: x * textbook_derivative(lambda y: x * y)(1.0)  # noqa: E731
    assert outer(g)(3.0) == 6.0
    assert ad.derivative(lambda x: (ad.Dual(x, 1.0) * x).tangent)(3.0) == 1.0
    # two duals built by hand in one running function share their perturbation
    h = lambda x: (ad.Dual(x, 1.0) * ad.Dual(2.0, 0.0)).tangent * x  # noqa: E731
    assert outer(h)(3.0) == 2.0


def test_hand_built_duals_outside_any_transformation_share_one_perturbation() -> None:
    a = ad.Dual(3.0, 1.0)
    ad.grad(lambda x: x * x)(1.0)  # a transformation ran in between
    product = a * ad.Dual(2.0, 0.0)
    assert (product.primal, product.tangent) == (6.0, 2.0)


def test_an_inner_function_of_outer_variables_only_has_derivative_zero() -> None:
    # the inner tape's output is a value of the outer transformation: a constant
    # for the inner one, whose adjoints are then 0 (this used to be a TypeError)
    assert ad.grad(ad.grad(lambda x, y: x * x, 1), 0)(1.0, 2.0) == 0.0
    assert ad.grad(lambda x: ad.grad(lambda y: x * x)(1.0))(2.0) == 0.0
    assert ad.jvp(lambda x: ad.grad(lambda y: x * x)(2.0), (1.0,), (1.0,)) == (0.0, 0.0)
    assert ad.grad(lambda x: ad.vjp(lambda y: x * x, 2.0)[1](1.0)[0])(1.0) == 0.0
    jac = ad.jacfwd(ad.grad(lambda x, y: anp.sum(x ** 2), 1), 0)(np.ones(2), np.ones(2))
    np.testing.assert_array_equal(jac, np.zeros((2, 2)))


def test_hessian_of_a_quadratic_form_and_hvp() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 4))
    x, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(x):
        return 0.5 * x @ (a @ x) + anp.sum(anp.sin(x))

    expected = 0.5 * (a + a.T) - np.diag(np.sin(x))
    np.testing.assert_allclose(ad.hessian(f)(x), expected, atol=1e-12)
    np.testing.assert_allclose(ad.hvp(f, x, v), expected @ v, atol=1e-12)


def test_reverse_over_forward_and_forward_over_reverse_agree() -> None:
    def f(x):
        return anp.sum(anp.tanh(x) * x[::-1])

    x, v = np.array([0.3, -0.2, 0.9]), np.array([1.0, 2.0, -1.0])
    over_reverse = ad.jvp(ad.grad(f), (x,), (v,))[1]
    over_forward = ad.grad(lambda x: ad.jvp(f, (x,), (v,))[1])(x)
    np.testing.assert_allclose(over_reverse, over_forward, rtol=1e-12)


def test_gradient_of_a_vjp_of_a_product_is_exact_at_zeros() -> None:
    x = np.array([2.0, 0.0, 0.0, 5.0])
    h = ad.hessian(anp.prod)(x)
    expected = np.zeros((4, 4))
    expected[1, 2] = expected[2, 1] = 10.0  # only d²/dx1 dx2 survives two zeros
    np.testing.assert_array_equal(h, expected)
