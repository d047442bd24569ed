"""Wrong use gets an error that says what to do instead; domain edges follow NumPy."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import lagrangian

pytestmark = pytest.mark.library


def test_grad_of_a_non_scalar_output_suggests_jacrev_or_vjp() -> None:
    with pytest.raises(TypeError, match=r"scalar output.*shape \(3,\).*jacrev.*vjp"):
        ad.grad(lambda x: x * 2.0)(np.ones(3))


def test_float_of_a_traced_value_suggests_primal() -> None:
    with pytest.raises(TypeError, match=r"float\(\).*autodiff_lite.primal"):
        ad.grad(lambda x: float(x) * 2.0)(1.0)


def test_writing_a_traced_value_into_a_numpy_array_says_what_to_do_instead() -> None:
    def f(x: ad.Box) -> ad.Box:
        a = np.zeros(2)
        a[0] = x * 2.0  # NumPy's own error: "setting an array element with a sequence"
        return anp.sum(a)

    with pytest.raises(ValueError) as err:
        ad.grad(f)(1.0)
    assert re.search(r"a\[i\] = x.*anp\.stack", str(err.value.__cause__))
    assert ad.grad(lambda x: anp.sum(anp.stack([x * 2.0, 0.0])))(1.0) == 2.0


def test_primal_reads_the_number_without_differentiating() -> None:
    assert ad.grad(lambda x: ad.primal(x) * x)(3.0) == 3.0


def test_in_place_assignment_into_a_traced_array() -> None:
    def f(x):
        x[0] = 0.0
        return anp.sum(x)
    with pytest.raises(TypeError, match="in-place assignment.*anp.where"):
        ad.grad(f)(np.ones(3))


def test_numpy_function_on_a_traced_value_points_to_anp() -> None:
    with pytest.raises(TypeError, match=r"numpy.sin.*anp.sin"):
        ad.grad(lambda x: np.sin(x))(1.0)
    with pytest.raises(TypeError, match=r"no differentiation rule"):
        ad.grad(lambda x: np.linalg.det(x))(np.eye(2))
    with pytest.raises(TypeError, match="drop its derivative"):
        ad.grad(lambda x: np.asarray(x).sum())(np.ones(2))


def test_numpy_operands_on_the_left_still_differentiate() -> None:
    c = np.array([1.0, 2.0])
    assert ad.grad(lambda x: anp.sum(c * x + c - x))(np.ones(2)).tolist() == [0.0, 1.0]
    assert ad.grad(lambda x: np.float64(3.0) * x)(1.0) == 3.0


def test_unsupported_anp_name_lists_what_exists() -> None:
    with pytest.raises(AttributeError, match=r"no derivative rule.*Available: .*tanh"):
        anp.arctan2  # noqa: B018


@pytest.mark.parametrize("argnums, error, message", [
    (2, ValueError, "argnums=2 but the function was called with 2"),
    (-3, ValueError, "counts positional arguments"),
    ("x", TypeError, "argnums must be an int or a tuple of ints"),
    ((), TypeError, "argnums must be"),
    (1.0, TypeError, "argnums must be an int or a tuple of ints, got 1.0"),
    (True, TypeError, "argnums must be"),
    ((0, 0), ValueError, r"argnums=\(0, 0\) names an argument twice"),
    ((1, -1), ValueError, "names an argument twice"),
])
@pytest.mark.parametrize("transform", [ad.grad, ad.value_and_grad, ad.jacfwd, ad.jacrev])
def test_bad_argnums(transform, argnums, error, message) -> None:
    with pytest.raises(error, match=message):
        transform(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


def test_jacobians_and_hessians_take_keywords_and_argnums() -> None:
    def f(x, y, scale=1.0):
        return scale * anp.sum(x * x * y)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jac(f, argnums=1)(x, y, scale=2.0), 2.0 * x * x)
    np.testing.assert_allclose(ad.hessian(f)(x, y, scale=2.0), np.diag(4.0 * y))
    np.testing.assert_allclose(ad.hessian(f, argnums=1)(x, y), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="hessian: argnums must be one int"):
        ad.hessian(f, argnums=(0, 1))


def test_argnums_as_in_jax() -> None:
    def f(x, y):
        return x * anp.sin(y)
    x, y = np.array([1.0, 2.0]), np.array([0.5, 1.5])
    assert ad.grad(lambda a, b: a * b, argnums=np.int64(1))(2.0, 3.0) == 2.0  # one, unwrapped
    for jac in (ad.jacfwd, ad.jacrev):
        jx, jy = jac(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(jx, jac(f, argnums=0)(x, y))
        np.testing.assert_allclose(jy, jac(f, argnums=1)(x, y))
        np.testing.assert_allclose(jy, np.diag(x * np.cos(y)))


def test_shape_mismatches() -> None:
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\) but primal 0"):
        ad.jvp(anp.sin, (np.ones(3),), (np.ones(2),))
    _, pullback = ad.vjp(anp.sin, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\).*\(3,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="broadcast"):
        ad.grad(lambda x: anp.sum(x + np.ones(2)))(np.ones(3))
    with pytest.raises(ValueError, match=r"cannot reshape.*\(2, 3\)"):
        ad.grad(lambda x: anp.sum(anp.reshape(x, (4,))))(np.ones((2, 3)))
    with pytest.raises(TypeError, match="derivative is for a scalar x.*jacfwd"):
        ad.derivative(anp.sin)(np.ones(2))
    with pytest.raises(TypeError, match="must be tuples"):
        ad.jvp(anp.sin, 1.0, 1.0)
    with pytest.raises(ValueError, match="matmul: scalars"):
        anp.matmul(2.0, np.ones(2))


def test_stacking_arrays_of_different_shapes_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"stack: all arrays must have the same shape, "
                                         r"got \[\(2,\), \(3,\)\]"):
        ad.grad(lambda x: anp.sum(anp.stack([x, np.ones(3)])))(np.ones(2))


def test_a_seed_of_the_wrong_shape_is_refused_by_the_tape() -> None:
    # A (2,) output swept back from a (3,) or scalar seed would broadcast it into
    # adjoints of the wrong shape or value; the tape says what the output's shape is.
    tape = ad.trace(lambda x: x * 2.0, np.ones(2))
    for seed in (np.ones(3), 1.0, [1.0, 1.0, 1.0]):
        for sweep in (tape.backward, tape.input_adjoints):
            with pytest.raises(ValueError, match=r"seed \(output cotangent\) has shape .* "
                                                 r"but the output has shape \(2,\)"):
                sweep(seed)
    # numbers written out are an array seed
    assert tape.input_adjoints([1.0, -3.0])[0].tolist() == [2.0, -6.0]
    assert tape.backward((1.0, -3.0))[0].tolist() == [2.0, -6.0]


def test_jvp_with_fewer_tangents_than_primals_is_refused() -> None:
    # zip would silently drop the primal without a tangent
    with pytest.raises(ValueError, match="jvp: 2 primals but 1 tangents"):
        ad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_a_bool_output_is_not_a_number_to_differentiate() -> None:
    # bool is an int in Python; a comparison returned by mistake is refused, not
    # differentiated as a constant (gradient 0)
    for out in (True, np.bool_(False)):
        with pytest.raises(TypeError, match="returned a (bool|bool_); it must return a number"):
            ad.grad(lambda x: out)(1.0)  # noqa: B023


def test_inputs_that_are_not_numbers() -> None:
    with pytest.raises(TypeError, match="str; autodiff_lite differentiates"):
        ad.grad(lambda x: x)("1.0")
    with pytest.raises(TypeError, match="bool"):
        ad.grad(lambda x: x)(True)
    with pytest.raises(TypeError, match="array of bools.*not in argnums"):
        ad.grad(lambda x: anp.sum(x))(np.array([True, False]))
    mask = np.array([True, False])  # as a constant it is fine
    assert ad.grad(lambda x, m: anp.sum(anp.where(m, x, 0.0)))(np.ones(2), mask).tolist() == [
        1.0, 0.0]


def test_domain_edges_follow_numpy() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert math.isnan(ad.grad(lambda x: anp.log(x) * 0.0 + x)(1.0) * anp.log(-1.0))
        assert anp.log(0.0) == -math.inf
        assert ad.grad(anp.sqrt)(0.0) == math.inf  # infinite slope at 0
        assert ad.grad(lambda x: 1.0 / x)(0.0) == -math.inf
        assert math.isnan(anp.power(-8.0, 1.0 / 3.0))  # NumPy: nan, not a complex
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)
    assert ad.grad(anp.abs)(0.0) == 0.0  # the kink gets the average of its slopes
    assert ad.grad(lambda x: anp.maximum(x, 1.0))(1.0) == 0.5


@pytest.mark.parametrize("ours, numpys, args", [
    (anp.exp, np.exp, (1000.0,)),                 # math.exp raises OverflowError
    (anp.log, np.log, (0.0,)),                    # math.log raises ValueError
    (anp.sqrt, np.sqrt, (-1.0,)),
    (anp.true_divide, np.true_divide, (1.0, 0.0)),  # Python raises ZeroDivisionError
    (anp.power, np.power, (0.0, -1.0)),
    (anp.power, np.power, (10.0, 400.0)),         # Python raises OverflowError
])
def test_a_float_at_a_domain_edge_gets_numpys_value_as_a_python_float(
        ours, numpys, args: tuple[float, ...]) -> None:
    # The `math` fast path falls back to NumPy where Python raises; the value is
    # NumPy's (inf, -inf or nan) and, as everywhere else, float in gives float out.
    with np.errstate(all="ignore"):
        out, expected = ours(*args), numpys(*args)
    assert type(out) is float
    assert str(out) == str(float(expected))


@pytest.mark.parametrize("output, message", [
    (None, r"returned None; .*forget to `return`"),
    ((1.0, 2.0), r"returned a tuple; .*one value, not several.*has_aux"),
    ("loss", "returned a str; it must return a number or an array"),
])
@pytest.mark.parametrize("transform", [
    ad.grad, ad.value_and_grad, ad.derivative, ad.jacfwd, ad.jacrev,
    lambda f: lambda x: ad.vjp(f, x)])
def test_an_output_that_is_not_a_number_is_named(transform, output, message) -> None:
    with pytest.raises(TypeError, match=message):
        transform(lambda x: output)(2.0)


def test_adding_a_traced_value_into_a_numpy_array_in_place_says_write_h_equals() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        h = np.zeros(2)
        h += x * 2.0
        return anp.sum(h)
    with pytest.raises(TypeError, match=r"in place \(h \+= x, or out=\).*h = h \+ x"):
        ad.grad(f)(np.ones(2))


def test_a_list_of_traced_values_where_an_array_belongs_points_to_stack() -> None:
    with pytest.raises(TypeError, match=r"anp.stack\(\[\.\.\.\]\)"):
        ad.grad(lambda x: anp.sum([x[0], x[1]]))(np.ones(2))


@pytest.mark.parametrize("output, what", [
    (lambda x: (x * x, 1.0), "tuple"), (lambda x: [anp.sin(x)], "list"),
    (lambda x: None, "NoneType")])
def test_backward_on_a_tape_without_one_output_says_so(output, what) -> None:
    # a tape may record a function of several outputs (cost.flops reads it), but its
    # backward sweep needs one: it used to return zero adjoints
    tape = ad.trace(output, 2.0)
    with pytest.raises(TypeError, match=f"backward: the traced function returned {what}, not"):
        tape.backward()
    with pytest.raises(TypeError, match=f"system: the traced function returned {what}, not"):
        lagrangian.adjoints(output, 2.0)
    assert ad.trace(lambda x: 3.0, 2.0).backward() == [0.0]  # a constant output: zeros


def test_a_tuple_of_parameters_of_different_shapes_is_explained() -> None:
    with pytest.raises(TypeError, match=r"argument 0 is a tuple of differently shaped.*"
                                        r"separate arguments.*argnums=\(0, 1\)"):
        ad.grad(lambda p: anp.sum(p[0]) + anp.sum(p[1]))((np.ones((2, 2)), np.ones(3)))


def test_a_traced_value_kept_after_its_grad_returned_is_refused() -> None:
    kept = []

    def f(x):
        kept.append(x)  # a learner's debugging list
        return 2.0 * x
    assert ad.grad(f)(1.0) == 2.0
    for g in (lambda y: y * kept[0], lambda y: kept[0] * 2.0, lambda y: anp.sin(kept[0]) + y,
              lambda y: kept[0]):  # returned alone: not a constant with gradient 0
        with pytest.raises(TypeError, match="used after the grad, jvp, vjp or trace call"):
            ad.grad(g)(2.0)
    # a value of an enclosing transformation that is still running is fine
    assert ad.grad(lambda w: ad.grad(lambda y: y * w)(2.0) * w)(3.0) == 6.0


@pytest.mark.parametrize("transform", [
    lambda f: ad.grad(f)(1.0), lambda f: ad.jvp(f, (1.0,), (1.0,)), lambda f: ad.trace(f, 1.0),
    lambda f: ad.vjp(f, 1.0)])
def test_a_traced_value_kept_from_a_call_that_raised_is_refused(transform) -> None:
    kept = []

    def f(x):
        kept.append(x)
        raise ArithmeticError("the learner's function fails")
    with pytest.raises(ArithmeticError):
        transform(f)
    with pytest.raises(TypeError, match="used after the grad, jvp, vjp or trace call"):
        ad.grad(lambda y: y * kept[0])(2.0)


def test_a_dual_number_kept_after_its_jvp_returned_is_refused() -> None:
    cache = {}

    def f(x):
        if "c" not in cache:
            cache["c"] = anp.sin(x)  # a learner's memo: right only for the first x
        return cache["c"] * x
    assert ad.derivative(f)(1.0) == pytest.approx(np.sin(1.0) + np.cos(1.0))
    uses = (lambda: ad.derivative(f)(2.0),                         # mixed with a new dual
            lambda: ad.derivative(lambda y: cache["c"] * 2.0)(3.0),  # returned alone
            lambda: ad.grad(lambda y: y * cache["c"])(3.0),          # inside reverse mode
            lambda: ad.jvp(lambda y: anp.tanh(cache["c"]) + y, (1.0,), (1.0,)))
    for use in uses:
        with pytest.raises(TypeError, match="used after the grad, jvp, vjp or trace call"):
            use()
    # a dual number written by hand belongs to no call, and an outer jvp still running is fine
    assert (ad.Dual(2.0, 1.0) * 3.0).tangent == 3.0
    assert ad.derivative(lambda w: ad.derivative(lambda y: y * w)(2.0) * w)(3.0) == 6.0


@pytest.mark.parametrize("wrong_vjp, shape_", [
    (lambda g, z, x: 2.0 * anp.transpose(g), "(3, 2)"),  # as many numbers, wrong places
    (lambda g, z, x: anp.sum(g), "()"),                    # forgot to broadcast back
])
def test_a_vjp_rule_of_the_wrong_shape_is_named(wrong_vjp, shape_) -> None:
    double = ad.Primitive("double", lambda x: 2.0 * x, (lambda t, z, x: 2.0 * t,), (wrong_vjp,))
    weights = np.arange(6.0).reshape(2, 3)

    def f(w):
        return anp.sum(ad.core.bind(double, w) * weights)
    message = (rf"VJP rule of double returned a cotangent of shape {re.escape(shape_)} "
               r"for its argument 0, of shape \(2, 3\)")
    for run in (lambda: ad.grad(f)(np.ones((2, 3))),
                lambda: ad.lagrangian.adjoints(f, np.ones((2, 3)))):
        with pytest.raises(ValueError, match=message):
            run()
    # undoing broadcasting itself refuses shapes that do not broadcast
    with pytest.raises(ValueError, match=r"\(2, 3\) does not broadcast to \(3, 2\)"):
        ad.numpy.sum_to(np.ones((3, 2)), (2, 3))
