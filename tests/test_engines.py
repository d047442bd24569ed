"""Forward and reverse engines: tapes, idempotent backward, deep graphs, constants."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.rules import sum_to

pytestmark = pytest.mark.library


def seed004(x1, x2):
    return anp.log(x1) + x1 * x2 - anp.sin(x2)


def test_tape_is_a_wengert_list_inputs_first_in_execution_order() -> None:
    tape = ad.trace(seed004, 2.0, 5.0)
    assert [(n.op, n.parents) for n in tape.nodes] == [
        ("input", ()), ("input", ()), ("log", (0,)), ("multiply", (0, 1)),
        ("add", (2, 3)), ("sin", (1,)), ("subtract", (4, 5))]
    assert tape.inputs == [0, 1] and tape.output == 6
    assert [n.index for n in tape.nodes] == list(range(7))


def test_backward_is_idempotent_and_equals_grad() -> None:
    tape = ad.trace(seed004, 2.0, 5.0)
    first = tape.backward()
    second = tape.backward()
    assert first == second
    assert first[:2] == list(ad.grad(seed004, argnums=(0, 1))(2.0, 5.0))
    assert first[-1] == 1.0


def test_backward_with_a_seed_scales_every_adjoint() -> None:
    tape = ad.trace(seed004, 2.0, 5.0)
    assert tape.backward(3.0) == pytest.approx([3.0 * a for a in tape.backward()], rel=1e-15)


def test_vjp_function_can_be_called_again_without_accumulating() -> None:
    out, pullback = ad.vjp(lambda x: anp.sin(x) * x, np.array([0.5, 1.5]))
    u = np.array([1.0, -2.0])
    np.testing.assert_array_equal(pullback(u)[0], pullback(u)[0])


def test_gradients_are_arrays_of_their_own() -> None:
    # add hands one cotangent to both arguments; identity passes the seed on:
    # changing one gradient in place must change no other, nor the seed
    gx, gy = ad.grad(lambda x, y: anp.sum(x + y), argnums=(0, 1))(np.ones(2), np.ones(2))
    gx *= 0.5
    np.testing.assert_array_equal(gy, [1.0, 1.0])
    seed = np.ones(2)
    a, b = ad.vjp(lambda x, y: x - y, np.ones(2), np.ones(2))[1](seed)
    a *= 3.0
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    np.testing.assert_array_equal(b, [-1.0, -1.0])
    (c,) = ad.vjp(lambda x: anp.reshape(x, (2,)), np.ones((1, 2)))[1](seed)
    assert not np.may_share_memory(c, seed)
    # a tape's own sweep too: subtract passes the seed on to x as it is
    tape = ad.trace(lambda x, y: x - y, np.ones(2), np.ones(2))
    d, _ = tape.input_adjoints(seed)
    d *= 3.0
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_constants_are_never_nodes() -> None:
    c = np.array([1.0, 2.0, 3.0])
    tape = ad.trace(lambda x: anp.sum(x * c + 4.0), np.ones(3))
    assert [n.op for n in tape.nodes] == ["input", "multiply", "add", "sum"]
    assert all(p in range(len(tape)) for n in tape.nodes for p in n.parents)
    assert tape.nodes[1].parents == (0,)  # c is not a parent


def test_a_traced_condition_of_where_is_not_a_parent() -> None:
    # The condition is data, never differentiated: even a traced one (a float
    # array used as a mask) gives no edge of the graph, only the two branches do.
    tape = ad.trace(lambda x: anp.where(x, x * x, 3.0 * x), np.array([1.0, 0.0, -2.0]))
    assert [n.op for n in tape.nodes][-1] == "where"
    assert tape.nodes[-1].parents == (1, 2)


def test_broadcasting_or_summing_to_the_same_shape_is_no_operation() -> None:
    # The rules call broadcast_to and sum_to on cotangents that already have the
    # right shape: that must record nothing and keep a float a float.
    x = np.ones((2, 3))
    for op in (anp.broadcast_to, sum_to):
        tape = ad.trace(lambda v: op(v, (2, 3)), x)  # noqa: B023
        assert [n.op for n in tape.nodes] == ["input"]
        assert op(x, (2, 3)) is x
        assert type(op(2.0, ())) is float


def test_function_that_ignores_its_input_has_zero_gradient() -> None:
    assert ad.grad(lambda x: 3.0)(1.0) == 0.0
    g = ad.grad(lambda x, y: anp.sum(y * y), argnums=0)(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_unused_branch_and_data_dependent_control_flow() -> None:
    def f(x):
        return x * x if x > 0 else -x
    assert ad.grad(f)(2.0) == 4.0
    assert ad.grad(f)(-1.0) == -1.0
    assert ad.derivative(f)(-1.0) == -1.0


def test_sign_is_a_constant_so_it_records_no_node() -> None:
    tape = ad.trace(lambda x: x * anp.sign(x), -2.0)
    assert [n.op for n in tape.nodes] == ["input", "multiply"]
    # in forward mode it is a plain value too: its tangent is zeros of its shape
    x = np.array([-2.0, 0.5, 3.0])
    _, t = ad.jvp(anp.sign, (x,), (np.ones(3),))
    assert type(t) is np.ndarray and t.shape == (3,) and not t.any()
    assert anp.sign(ad.Dual(-2.0, 1.0)) == -1.0  # a float, not a dual number
    assert type(anp.sign(ad.Dual(-2.0, 1.0))) is float


def test_broadcast_gradient_is_summed_back_to_the_input_shape() -> None:
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 10.0, 100.0, 1000.0])
    gx, gy = ad.grad(lambda x, y: anp.sum(x * y), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, np.full((3, 1), y.sum()))
    np.testing.assert_array_equal(gy, np.full(4, x.sum()))


def test_float_in_float_out_and_int_inputs_are_promoted() -> None:
    assert type(ad.grad(anp.sin)(1.0)) is float
    assert type(ad.grad(anp.sin)(1)) is float
    assert type(ad.derivative(anp.exp)(0.0)) is float
    assert ad.grad(lambda x: anp.sum(x * x))([1, 2]).dtype == np.float64
    # a NumPy scalar constant makes a NumPy scalar derivative: still a float out
    for d in (ad.grad, ad.derivative):
        assert type(d(lambda x: x * np.float64(2.0))(1.0)) is float


def test_keyword_arguments_reach_the_function_in_every_transformation() -> None:
    def f(x, scale=1.0):
        return scale * x * x
    assert ad.grad(f)(3.0, scale=2.0) == 12.0
    assert ad.value_and_grad(f)(3.0, scale=2.0) == (18.0, 12.0)
    assert ad.jacfwd(f)(3.0, scale=2.0) == 12.0
    assert ad.jacrev(f)(3.0, scale=2.0) == 12.0


def test_negative_argnums_count_from_the_last_argument() -> None:
    def f(x, y, z):
        return x * 1.0 + y * 2.0 + z * 3.0
    assert ad.grad(f, argnums=-1)(1.0, 1.0, 1.0) == 3.0
    assert ad.grad(f, argnums=(-3, -2))(1.0, 1.0, 1.0) == (1.0, 2.0)
    assert ad.jacfwd(f, argnums=-2)(1.0, 1.0, 1.0) == 2.0


def test_numpy_on_the_left_of_a_comparison_compares_the_values() -> None:
    x, thr = np.array([0.5, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    for f in (lambda x: anp.sum(anp.where(thr < x, x, 0.0)),
              lambda x: anp.sum(anp.where(np.float64(1.0) < x, x, 0.0)),
              lambda x: anp.sum(anp.where(np.greater(x, thr), x, 0.0))):
        assert ad.grad(f)(x).tolist() == [0.0, 1.0, 1.0]
        assert ad.jacfwd(f)(x).tolist() == [0.0, 1.0, 1.0]


def test_numpy_questions_about_a_traced_value_answer_for_its_value() -> None:
    # integers, booleans and shapes carry no derivative: no rule is needed
    x = np.array([1.0, 3.0, 2.0])
    assert ad.grad(lambda x: anp.sum(x) * np.ndim(x) / np.size(x))(x).tolist() == [1 / 3] * 3
    for pick in (np.argmax, anp.argmax):
        assert ad.grad(lambda x: x[pick(x)])(x).tolist() == [0.0, 1.0, 0.0]
    assert ad.grad(lambda x: x[anp.argmin(x)] * 2.0)(x).tolist() == [2.0, 0.0, 0.0]
    assert ad.grad(lambda x: anp.sum(anp.where(np.isnan(x), 0.0, x)))(x).tolist() == [1.0] * 3


def test_a_traced_value_formats_as_its_number() -> None:
    seen = []

    def f(x):  # type: ignore[no-untyped-def]
        loss = anp.sum(x * x)
        seen.append(f"loss = {loss:.4f}")
        return loss
    ad.grad(f)(np.array([0.5, 1.0]))
    ad.derivative(lambda t: f(anp.stack([t, 1.0])))(0.5)
    assert seen == ["loss = 1.2500", "loss = 1.2500"]


def test_a_zero_dimensional_array_in_gives_a_zero_dimensional_array_out() -> None:
    # as in JAX (a float in still gives a float out): the result can be written into
    x = np.array(2.0)
    f = lambda x: anp.sin(x) * x  # noqa: E731
    for result in (ad.grad(f)(x), ad.jacfwd(f)(x), ad.jacrev(f)(x), ad.hessian(f)(x),
                   ad.vjp(f, x)[1](1.0)[0], ad.derivative(f)(x)):
        assert isinstance(result, np.ndarray) and result.shape == ()
    assert ad.grad(f)(x) == math.sin(2.0) + 2.0 * math.cos(2.0)


@pytest.mark.slow
def test_a_chain_of_a_million_operations_differentiates() -> None:
    n, a = 10**6, 1.0000001

    def chain(x):
        for _ in range(n):
            x = x * a
        return x

    assert math.isclose(ad.grad(chain)(1.0), a ** n, rel_tol=1e-9)


def test_dual_numbers_by_hand() -> None:
    x = ad.Dual(2.0, 1.0)
    y = x * x + 3.0 * x
    assert (y.primal, y.tangent) == (10.0, 7.0)
    eps = ad.Dual(0.0, 1.0)
    assert (eps * eps).tangent == 0.0  # ε² = 0
    z = anp.sin(ad.Dual(1.0, 1.0))
    assert (z.primal, z.tangent) == (math.sin(1.0), math.cos(1.0))
    with pytest.raises(ValueError, match="shape"):
        ad.Dual(np.ones(2), 1.0)


def test_jvp_gives_a_column_and_jacobians_agree() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 3))

    def f(x):
        return anp.tanh(w @ x) * anp.sum(x)

    x = rng.standard_normal(3)
    jf, jr = ad.jacfwd(f)(x), ad.jacrev(f)(x)
    assert jf.shape == jr.shape == (2, 3)
    np.testing.assert_allclose(jf, jr, rtol=1e-12)
    np.testing.assert_allclose(jf, ad.numerical.numerical_jacobian(f, x), atol=1e-8)
    e1 = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(ad.jvp(f, (x,), (e1,))[1], jf[:, 1], rtol=1e-12)
    u = np.array([1.0, -1.0])
    np.testing.assert_allclose(ad.vjp(f, x)[1](u)[0], u @ jf, rtol=1e-12)


def test_jacobian_shape_is_output_shape_then_input_shape() -> None:
    x = np.ones((2, 2))
    assert ad.jacrev(lambda x: x * 2.0)(x).shape == (2, 2, 2, 2)
    assert ad.jacfwd(lambda x: anp.sum(x, axis=0))(x).shape == (2, 2, 2)
    assert ad.jacrev(lambda x: x * x)(3.0) == 6.0


def test_powers_zero_and_one_have_finite_slopes_at_zero() -> None:
    def poly(x):  # 1 + 2x + 3x², written with x**0 and x**1 as a learner might
        return sum(c * x ** k for k, c in enumerate([1.0, 2.0, 3.0]))
    assert ad.grad(poly)(0.0) == 2.0
    assert ad.derivative(poly)(0.0) == 2.0
    assert ad.grad(ad.grad(poly))(0.0) == 6.0
    assert ad.grad(ad.grad(lambda x: x ** 1.0))(0.0) == 0.0
    exponents = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        ad.grad(lambda x: anp.sum(x ** exponents))(np.zeros(3)), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(
        ad.jacfwd(lambda x: x ** exponents)(np.zeros(3)), np.diag([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("y", [0.0, 1e-9, 0.7])
def test_mixed_second_derivative_of_a_power_is_its_closed_form_at_a_zero_exponent(y) -> None:
    # d²(x**y)/dx dy = x**(y-1)·(1 + y·log x), whichever order; at y = 0 too
    x = 2.0
    exact = x ** (y - 1.0) * (1.0 + y * np.log(x))
    assert ad.grad(ad.grad(lambda x, y: x ** y, 0), 1)(x, y) == pytest.approx(exact, rel=1e-12)
    assert ad.grad(ad.grad(lambda x, y: x ** y, 1), 0)(x, y) == pytest.approx(exact, rel=1e-12)
    def power(v):
        return v[0] ** v[1]
    for hess in (ad.hessian(power), ad.jacfwd(ad.jacfwd(power)), ad.jacfwd(ad.jacrev(power))):
        h = hess(np.array([x, y]))
        np.testing.assert_allclose([h[0, 1], h[1, 0]], [exact, exact], rtol=1e-12)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_max_and_min_match_numpy_and_split_ties_evenly(axis, keepdims) -> None:
    x = np.array([[3.0, 1.0, 3.0], [0.5, 2.0, -1.0]])  # the overall max 3 is tied
    for ours, theirs in ((anp.max, np.max), (anp.min, np.min), (anp.amax, np.amax)):
        np.testing.assert_array_equal(ours(x, axis, keepdims),
                                      theirs(x, axis=axis, keepdims=keepdims))
        jac = ad.jacrev(lambda x: ours(x, axis, keepdims))(x)
        np.testing.assert_allclose(ad.jacfwd(lambda x: ours(x, axis, keepdims))(x), jac)
        # each output's slope is spread evenly over the entries that tie for it
        total = jac.reshape(-1, *x.shape).sum(axis=0)
        arg = theirs(x, axis=axis, keepdims=True) == x
        np.testing.assert_allclose(total, arg / arg.sum(axis=axis, keepdims=True))
    assert ad.grad(lambda x: x.max())(x).tolist() == [[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]
    assert ad.grad(lambda x: x.min())(x).tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    np.testing.assert_array_equal(ad.hessian(lambda v: anp.max(v * v))(np.array([1.0, -2.0])),
                                  [[0.0, 0.0], [0.0, 2.0]])


def test_max_and_min_of_infinities_are_numpys() -> None:
    # -inf masks entries out of a maximum; inf - inf and -inf * 0 must not leak nan
    inf = np.inf
    for x in ([1.0, inf], [-inf, 0.0], [inf, 0.0], [-inf, -inf], [[0.0, -inf], [inf, 2.0]]):
        x = np.array(x)
        for ours, theirs in ((anp.max, np.max), (anp.min, np.min)):
            for axis in (None, -1):
                with np.errstate(all="raise"):
                    np.testing.assert_array_equal(ours(x, axis), theirs(x, axis=axis))
    mask = np.array([True, False, True])
    value, slope = ad.value_and_grad(
        lambda v: anp.max(anp.where(mask, v, -inf)))(np.array([1.0, 5.0, 3.0]))
    assert value == 3.0
    np.testing.assert_array_equal(slope, [0.0, 0.0, 1.0])


def test_maximum_and_minimum_of_floats_are_numpys_as_floats() -> None:
    nan = float("nan")
    pairs = [(-0.0, 0.0), (0.0, -0.0), (nan, 1.0), (1.0, nan), (1.0, 1.0), (2.0, 1.0),
             (1.0, 2.0), (-3.0, -4.0)]
    for ours, theirs in ((anp.maximum, np.maximum), (anp.minimum, np.minimum)):
        for x, y in pairs:
            z = ours(x, y)
            assert type(z) is float
            assert str(z) == str(float(theirs(x, y)))  # the same, signed zeros and nan
    value, slope = ad.value_and_grad(lambda x: anp.maximum(x, 0.0) * 2.0)(1.5)
    assert (type(value), type(slope), value, slope) == (float, float, 3.0, 2.0)


def test_traced_values_have_copy_flatten_and_ravel() -> None:
    x, w = np.arange(6.0).reshape(2, 3), np.arange(6.0)
    for flat in (lambda v: v.flatten(), lambda v: v.ravel()):
        np.testing.assert_array_equal(ad.grad(lambda v: anp.sum(flat(v) * w))(x),
                                      w.reshape(2, 3))
    np.testing.assert_array_equal(ad.grad(lambda v: anp.sum(v.copy() * x))(x), x)
    np.testing.assert_array_equal(ad.jacfwd(lambda v: v.ravel())(x), np.eye(6).reshape(6, 2, 3))


@pytest.mark.parametrize("f, x, expected", [
    (lambda x: x * 2.0, np.zeros(0), (0, 0)),          # empty in, empty out
    (lambda x: x[:0], np.ones(3), (0, 3)),             # empty out
    (lambda x: anp.sum(x), np.zeros(0), (0,)),         # scalar out, empty in
])
def test_jacobians_of_empty_arrays_are_empty(f: Callable, x: np.ndarray,
                                             expected: tuple[int, ...]) -> None:
    for jac in (ad.jacfwd, ad.jacrev):
        assert jac(f)(x).shape == expected
    assert ad.numerical.numerical_jacobian(f, x).shape == expected
    assert ad.hessian(lambda x: anp.sum(x ** 2))(np.zeros(0)).shape == (0, 0)
