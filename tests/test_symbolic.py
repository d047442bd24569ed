"""Tests of autodiff_lite.symbolic: derivatives, sizes counted by hand, expression swell.

Derivatives are checked against reverse mode (ad.grad) and central differences,
and against closed forms from the seeds; sizes against counts done by hand.
"""

from __future__ import annotations

import copy
import math
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import symbolic as S
from autodiff_lite.numerical import central_difference

pytestmark = pytest.mark.library

x = S.var("x")
y = S.var("y")


def logistic(l, n):
    """l_n of seed 004's logistic map l_{k+1} = 4 l_k (1 - l_k), l_1 = l."""
    for _ in range(n - 1):
        l = 4 * l * (1 - l)
    return l


def seed000(x, ns):
    """Seed 000's flat formula, with `ns` the namespace of exp and sin."""
    return ns.exp(ns.exp(x) + ns.exp(x) ** 2) + ns.sin(ns.exp(x) + ns.exp(x) ** 2)


# ------------------------------------------------------------------ random expressions

# A tree spec is a nested tuple; `build` turns it into a symbolic expression or
# into a traced autodiff_lite computation, using the same names (exp, sin, ...)
# from either module. Domains are kept safe: log and / only see 1 + a**2 > 0.
leaf = st.one_of(st.just(("x",)), st.floats(-2.0, 2.0).map(lambda c: ("c", c)))
unary = ["sin", "cos", "tanh", "exp_sin", "log1sq", "neg", "pow2", "pow3"]
binary = ["add", "sub", "mul", "div1sq"]
specs = st.recursive(
    leaf,
    lambda kids: st.one_of(st.tuples(st.sampled_from(unary), kids),
                           st.tuples(st.sampled_from(binary), kids, kids)),
    max_leaves=12)


def build(spec, ns, xv):
    op = spec[0]
    if op == "x":
        return xv
    if op == "c":
        return spec[1]
    a = build(spec[1], ns, xv)
    if op == "sin":
        return ns.sin(a)
    if op == "cos":
        return ns.cos(a)
    if op == "tanh":
        return ns.tanh(a)
    if op == "exp_sin":
        return ns.exp(ns.sin(a))
    if op == "log1sq":
        return ns.log(1 + a ** 2)
    if op == "neg":
        return -a
    if op == "pow2":
        return a ** 2
    if op == "pow3":
        return a ** 3
    b = build(spec[2], ns, xv)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    return a / (1 + b ** 2)


@settings(max_examples=150, deadline=None)
@given(specs, st.floats(-1.5, 1.5))
def test_diff_agrees_with_reverse_mode(spec, x0):
    expr = S.diff(build(spec, S, x) + 0 * x, x)  # + 0*x: constants are expressions too
    expected = ad.grad(lambda t: build(spec, anp, t) + 0.0 * t)(x0)
    assert S.evaluate(expr, x=x0) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(specs, st.floats(-1.5, 1.5))
def test_evaluate_agrees_with_numpy(spec, x0):
    expr = build(spec, S, x) + 0 * x
    assert S.evaluate(expr, x=x0) == pytest.approx(build(spec, np, x0), rel=1e-12,
                                                  abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(-2.0, 2.0))
def test_partial_derivatives_of_two_variables(x0, y0):
    f = S.log(x) * y + x / (1 + y ** 2) - S.tanh(x * y)
    fx, fy = S.diff(f, x), S.diff(f, "y")
    num_x = central_difference(lambda t: S.evaluate(f, x=t, y=y0), x0)
    num_y = central_difference(lambda t: S.evaluate(f, x=x0, y=t), y0)
    assert S.evaluate(fx, x=x0, y=y0) == pytest.approx(num_x, rel=1e-6, abs=1e-6)
    assert S.evaluate(fy, x=x0, y=y0) == pytest.approx(num_y, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("fn, rule", [
    (S.exp, lambda v: math.exp(v)), (S.log, lambda v: 1 / v), (S.sin, math.cos),
    (S.cos, lambda v: -math.sin(v)), (S.tanh, lambda v: 1 - math.tanh(v) ** 2)])
def test_each_function_rule(fn, rule):
    assert S.evaluate(S.diff(fn(x), x), x=0.7) == pytest.approx(rule(0.7), rel=1e-14)


def test_quotient_and_negative_powers():
    assert S.evaluate(S.diff(1 / x, x), x=2.0) == pytest.approx(-0.25)
    assert S.evaluate(S.diff(x ** -2, x), x=2.0) == pytest.approx(-2 / 8)


# ------------------------------------------------------------------ the seeds

def test_seed000_flat_formula_derivative():
    df = S.diff(seed000(x, S), x)
    a = math.exp(0.5)
    c = a + a * a
    closed = (math.exp(c) + math.cos(c)) * (a + 2 * a * a)
    assert S.evaluate(df, x=0.5) == pytest.approx(closed, rel=1e-13)
    assert S.evaluate(df, x=0.5) == pytest.approx(ad.grad(lambda t: seed000(t, anp))(0.5))


@pytest.mark.parametrize("x0", [0.1, 0.3, 0.77])
def test_logistic_map_matches_the_slides_closed_forms(x0):
    # Haotian Liu's table: l_3 = 16x(1-x)(1-2x)^2, l_3' = 16(1 - 10x + 24x^2 - 16x^3),
    # l_4' = 64(1 - 42x + 504x^2 - 2640x^3 + 7040x^4 - 9984x^5 + 7168x^6 - 2048x^7)
    l3 = 16 * x0 * (1 - x0) * (1 - 2 * x0) ** 2
    assert S.evaluate(logistic(x, 3), x=x0) == pytest.approx(l3, rel=1e-12)
    d3 = 16 * (1 - 10 * x0 + 24 * x0 ** 2 - 16 * x0 ** 3)
    assert S.evaluate(S.diff(logistic(x, 3), x), x=x0) == pytest.approx(d3, rel=1e-12)
    c = [1, -42, 504, -2640, 7040, -9984, 7168, -2048]
    d4 = 64 * sum(ck * x0 ** k for k, ck in enumerate(c))
    assert S.evaluate(S.diff(logistic(x, 4), x), x=x0) == pytest.approx(d4, rel=1e-9,
                                                                        abs=1e-9)


def test_logistic_derivative_n2_reads_like_the_slides():
    assert str(S.diff(logistic(x, 2), x)) == "4 * (1 - x) - 4 * x"


# ------------------------------------------------------------------ sizes, by hand

def test_sizes_counted_by_hand():
    assert (S.tree_size(x), S.dag_size(x)) == (1, 1)
    # x * (1 - x): mul, x, sub, 1, x -> 5 nodes; distinct: mul, x, sub, 1 -> 4
    e = x * (1 - x)
    assert (S.tree_size(e), S.dag_size(e)) == (5, 4)
    # l_2 = (4 * x) * (1 - x): mul, mul, 4, x, sub, 1, x -> 7; x shared -> 6
    assert (S.tree_size(logistic(x, 2)), S.dag_size(logistic(x, 2))) == (7, 6)
    # seed 000: s = exp(x) + exp(x)**2 is add, exp, x, pow, exp, x -> 6 nodes;
    # f = add(exp(s), sin(s)) -> 1 + (1 + 6) + (1 + 6) = 15;
    # distinct: x, exp x, pow, s, exp s, sin s, f -> 7
    f = seed000(x, S)
    assert (S.tree_size(f), S.dag_size(f)) == (15, 7)


def test_logistic_tree_size_recurrence():
    # T(l_{n+1}) = mul(mul(4, l_n), sub(1, l_n)) = 5 + 2 T(l_n), T(l_1) = 1
    size = 1
    for n in range(1, 12):
        assert S.tree_size(logistic(x, n)) == size
        # distinct: x, the constants 4 and 1, then 4*l, 1-l and their product per step
        assert S.dag_size(logistic(x, n)) == (1 if n == 1 else 3 + 3 * (n - 1))
        size = 5 + 2 * size


def test_expression_swell_against_the_tape():
    derivative_sizes, tape_sizes = [], []
    for n in range(2, 11):
        derivative_sizes.append(S.tree_size(S.diff(logistic(x, n), x)))
        tape_sizes.append(len(ad.trace(lambda t, n=n: logistic(t, n), 0.3).nodes))
    # the tape: the input plus three operations per step of the map
    assert tape_sizes == [1 + 3 * (n - 1) for n in range(2, 11)]
    # the derivative written out at least doubles with every step
    assert all(b >= 2 * a for a, b in zip(derivative_sizes, derivative_sizes[1:]))
    assert derivative_sizes[-1] > 500 * tape_sizes[-1]


def test_sizes_are_fast_on_huge_trees():
    big = S.diff(logistic(x, 40), x)  # written out, about 10^13 nodes
    assert S.tree_size(big) > 10 ** 12
    assert S.dag_size(big) < 2000
    assert S.evaluate(big, x=0.3) == pytest.approx(
        ad.grad(lambda t: logistic(t, 40))(0.3), rel=1e-6)


# ------------------------------------------------------------------ simplification and text

def test_light_simplification():
    assert S.diff(S.const(3.0), x) is S.const(0.0)
    assert S.diff(x, x) is S.const(1.0) and S.diff(y, x) is S.const(0.0)
    assert str(0 + x * 1) == "x" and str(x * 0) == "0" and str(x ** 1) == "x"
    assert str(x ** 0) == "1" and str(2 * S.const(3.0)) == "6"
    assert str(x - 0) == "x" and str(0 - x) == "-x" and str(-(-x)) == "x"
    assert str(x / 1) == "x" and str(S.exp(S.const(0.0))) == "1"
    assert str(x + -x) == "x - x"  # light: no cancellation of equal terms


def test_folding_in_every_operation():
    assert str(S.const(2.0) + 3) == "5" and str(x + 0) == "x" and str(0 / x) == "0"
    assert str(x - (-y)) == "x + y" and S.evaluate(x - (-y), x=2.0, y=3.0) == 5.0
    assert x ** 2.0 is x ** 2  # a float exponent that is an integer is one
    # a power's exponent is not a constant: x**(-1) * y is not -y
    assert str(x ** -1 * y) == "x**(-1) * y"
    assert S.evaluate(x ** -1 * y, x=4.0, y=2.0) == 0.5
    assert str(y * x ** -1) == "y * x**(-1)"
    zero = S.const(-0.0)  # one zero, never -0.0
    assert str(zero) == "0" and math.copysign(1.0, zero.value) == 1.0


def test_text_groups_only_where_python_would_not():
    assert str((x + y) * x) == "(x + y) * x" and str((x ** 2) ** 3) == "(x**2)**3"
    assert S.evaluate((x ** 2) ** 3, x=2.0) == 64.0  # not x**(2**3) = 256
    # + and * are associative: the right-hand sum needs no parentheses
    assert str(x + (y + 1)) == "x + y + 1" and str(x * (y * x)) == "x * y * x"


def test_no_sharing_in_what_is_counted():
    e = S.exp(x)
    assert S.tree_size(e * e) == 5 and S.dag_size(e * e) == 3


@pytest.mark.parametrize("expr, text", [
    (x * (y + 1), "x * (y + 1)"), (x - (y - 1), "x - (y - 1)"), (x - y - 1, "x - y - 1"),
    (x / (y * x), "x / (y * x)"), ((x + 1) ** 2, "(x + 1)**2"), (-(x + y), "-(x + y)"),
    (S.sin(x) ** 2, "sin(x)**2"), (x ** -1, "x**(-1)"), ((-x) ** 2, "(-x)**2"),
    (2.5 * x, "2.5 * x"), (x * (y / 2), "x * (y / 2)"),
    (S.const(1 / 3) * x, "0.3333333333333333 * x"), (S.const(123456789.0) + x, "123456789.0 + x"),
])
def test_str_is_readable_python(expr, text):
    assert str(expr) == text
    env = {"x": 1.3, "y": -0.4, "sin": math.sin}
    assert eval(text, env) == S.evaluate(expr, x=1.3, y=-0.4)  # the same expression, exactly


def test_a_constant_folded_past_the_floats_is_python_too() -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        huge = S.const(1e308) * 10.0  # folds to inf, as NumPy's arithmetic gives
        cases = [huge * x, -huge * x, (huge - huge) + x]
    env = {"x": 1.3}
    for expr, want in zip(cases, (math.inf, -math.inf, math.nan)):
        value = eval(str(expr), env)  # "inf * x" named a variable that is not there
        assert value == want or (math.isnan(want) and math.isnan(value))


def test_evaluate_on_arrays_and_errors():
    xs = np.linspace(0.1, 0.9, 5)
    assert np.allclose(S.evaluate(S.diff(logistic(x, 3), x), x=xs),
                       16 * (1 - 10 * xs + 24 * xs ** 2 - 16 * xs ** 3))
    with pytest.raises(KeyError, match="evaluate\\(expr, y=...\\)"):
        S.evaluate(x + y, x=1.0)
    # one value per point, as ad.grad of an elementwise function gives, even where
    # the derivative leaves the variable out
    np.testing.assert_array_equal(S.evaluate(S.diff(3 * x, x), x=xs), np.full(5, 3.0))
    grid = S.evaluate(x * 2, x=xs[:, None], y=xs)
    assert grid.shape == (5, 5) and np.array_equal(grid[:, 0], 2 * xs)
    assert type(S.evaluate(S.diff(3 * x, x), x=0.5)) is float
    spread = S.evaluate(S.const(3.0), x=np.zeros(3))
    spread[0] = 1.0  # one value per point, an array of its own, not a read-only view
    np.testing.assert_array_equal(spread, [1.0, 3.0, 3.0])
    with pytest.raises(ValueError, match=r"x \(5,\), y \(3,\)"):
        S.evaluate(x * 2, x=xs, y=xs[:3])  # y unused, yet not one set of points


def test_clear_errors():
    with pytest.raises(TypeError, match="integer powers"):
        x ** 0.5
    with pytest.raises(TypeError, match="variable"):
        S.diff(x, x + 1)
    with pytest.raises(ValueError, match="identifier"):
        S.var("2x")
    with pytest.raises(TypeError, match="numbers, var"):
        x + "y"
    with pytest.raises(TypeError, match="truth value"):
        bool(x)
    with pytest.raises(TypeError, match="numbers, var"):
        x + True  # a bool is not a number here
    with pytest.raises(TypeError, match="integer powers"):
        x ** True
    with pytest.raises(ValueError, match="no derivative rule for 'erf'"):
        S.diff(S.Expr("erf", (x,)), x)  # a node built by hand, with no rule
    # numbers pass straight through the functions
    assert S.exp(0.0) == 1.0 and S.sin(0.0) == 0.0 and not isinstance(S.log(1.0), S.Expr)
    with pytest.raises(ZeroDivisionError):
        x / 0
    with pytest.raises(ZeroDivisionError, match="constant 0"):
        S.const(0) ** -1
    for keyword in ("lambda", "class"):  # identifiers evaluate(e, name=...) cannot take
        with pytest.raises(ValueError, match="keyword"):
            S.var(keyword)


def test_a_variable_may_be_called_expr():
    assert S.evaluate(S.var("expr") * 2, expr=3.0) == 6.0


def test_floats_follow_numpy_at_the_edges():
    # as the rule table does: inf with NumPy's warning, not a Python error
    with np.errstate(divide="ignore", over="ignore"):
        assert S.evaluate(1 / x, x=0.0) == S.evaluate(x ** -1, x=0.0) == math.inf
        assert S.evaluate(S.diff(S.log(x), x), x=0.0) == math.inf
        assert S.evaluate(x ** 2, x=1e200) == math.inf
        assert S.evaluate(S.const(10.0) ** 400) == math.inf
    with pytest.warns(RuntimeWarning):
        S.evaluate(1 / x, x=0.0)


def test_deep_expressions_differentiate_without_recursion():
    # ad.grad takes a chain thousands of steps deep; so does diff
    chain = x
    for _ in range(3000):
        chain = S.tanh(chain) * 0.5 + x
    derivative = S.diff(chain, x)
    expected = ad.derivative(lambda t: _chain(t, 3000))(0.3)
    assert S.evaluate(derivative, x=0.3) == pytest.approx(expected, rel=1e-12)


def _chain(t, n):
    z = t
    for _ in range(n):
        z = anp.tanh(z) * 0.5 + t
    return z


def test_expressions_copy_and_pickle_to_the_same_node():
    e = S.exp(x) * S.sin(y) / x
    assert copy.deepcopy(e) is e
    assert pickle.loads(pickle.dumps(e)) is e


def test_the_text_of_a_deep_expression_needs_memory_in_proportion():
    e = x
    for _ in range(4000):
        e = S.tanh(e)
    tracemalloc.start()
    try:
        text = str(e)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert text == "tanh(" * 4000 + "x" + ")" * 4000
    assert peak < 100 * len(text)  # every prefix kept: about 2000 times the text
