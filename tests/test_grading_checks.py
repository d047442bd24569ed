"""Unit tests of the grading checks: right answers pass, wrong ones fail clearly."""

from __future__ import annotations

import math
import operator
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grading import checks, compare
from grading.checks import cheap
from grading.feedback import HIDDEN_MARK

pytestmark = pytest.mark.grading


# A minimal correct forward-mode implementation, as a student would write it.
class Dual:
    def __init__(self, primal: float, tangent: float = 0.0) -> None:
        self.primal, self.tangent = primal, tangent

    @staticmethod
    def lift(o: object) -> "Dual":
        return o if isinstance(o, Dual) else Dual(o)  # type: ignore[arg-type]

    def __add__(self, o: object) -> "Dual":
        o = Dual.lift(o)
        return Dual(self.primal + o.primal, self.tangent + o.tangent)

    __radd__ = __add__

    def __neg__(self) -> "Dual":
        return Dual(-self.primal, -self.tangent)

    def __sub__(self, o: object) -> "Dual":
        return self + (-Dual.lift(o))

    def __rsub__(self, o: object) -> "Dual":
        return Dual.lift(o) + (-self)

    def __mul__(self, o: object) -> "Dual":
        o = Dual.lift(o)
        return Dual(self.primal * o.primal, self.tangent * o.primal + self.primal * o.tangent)

    __rmul__ = __mul__

    def __truediv__(self, o: object) -> "Dual":
        o = Dual.lift(o)
        return Dual(self.primal / o.primal,
                    (self.tangent * o.primal - self.primal * o.tangent) / o.primal ** 2)

    def __rtruediv__(self, o: object) -> "Dual":
        return Dual.lift(o) / self

    def __pow__(self, c: float) -> "Dual":
        return Dual(self.primal ** c, c * self.primal ** (c - 1) * self.tangent)


def lift(value, slope):  # type: ignore[no-untyped-def]
    return lambda x: (Dual(value(x.primal), slope(x.primal) * x.tangent)
                      if isinstance(x, Dual) else value(x))


OPS = dict(exp=lift(math.exp, math.exp), log=lift(math.log, lambda x: 1 / x),
           sin=lift(math.sin, math.cos), cos=lift(math.cos, lambda x: -math.sin(x)))


def derivative(f):  # type: ignore[no-untyped-def]
    return lambda x: f(Dual(x, 1.0)).tangent


def jvp(f, primals, tangents):  # type: ignore[no-untyped-def]
    out = f(*[Dual(p, t) for p, t in zip(primals, tangents)])
    return out.primal, out.tangent


def jacobian(f, x):  # type: ignore[no-untyped-def]
    cols = [[o.tangent for o in f([Dual(v, float(i == j)) for i, v in enumerate(x)])]
            for j in range(len(x))]
    return np.array(cols).T


def central(f, x, h=None):  # type: ignore[no-untyped-def]
    h = 6e-6 * max(1.0, abs(x)) if h is None else h
    return (f(x + h) - f(x - h)) / (2 * h)


def test_correct_forward_mode_passes_every_check() -> None:
    assert "exact" in checks.check_derivative(derivative, OPS, seed=0)
    checks.check_dual_arithmetic(Dual, seed=0)
    checks.check_dual_functions(OPS, Dual, seed=0)
    checks.check_jvp(jvp, OPS, seed=0, at=(2.0, 5.0), direction=(1.0, 0.0))
    checks.check_jacobian(jacobian, OPS, seed=0)
    checks.check_difference(central, "central", seed=0)
    checks.check_step_choice(central, "central", seed=0)


def test_derivative_that_evaluates_f_twice_fails() -> None:
    def twice(f):  # type: ignore[no-untyped-def]
        return lambda x: (f(Dual(x, 1.0)), f(Dual(x, 1.0)).tangent)[1]
    with pytest.raises(AssertionError, match="evaluated f on dual numbers.*one forward pass"):
        checks.check_derivative(twice, OPS, seed=0)


def test_dual_without_a_default_tangent_fails() -> None:
    class NoDefault(Dual):
        def __init__(self, primal: float, tangent: float) -> None:
            super().__init__(primal, tangent)
    with pytest.raises(AssertionError, match=r"Dual\(.*\) \(no tangent given\).*TypeError"):
        checks.check_dual_arithmetic(NoDefault, seed=0)

    class OneDefault(Dual):
        def __init__(self, primal: float, tangent: float = 1.0) -> None:
            super().__init__(primal, tangent)
    with pytest.raises(AssertionError, match="which defaults to 0.0"):
        checks.check_dual_arithmetic(OneDefault, seed=0)


def test_jvp_at_liu_point_expects_his_value() -> None:
    # Liu (2020): d/dx1 of ln x1 + x1 x2 - sin x2 at (2, 5) is 1/2 + 5 = 5.5.
    def tangent_5(f, p, t):  # type: ignore[no-untyped-def]
        return jvp(f, p, t)[0], 5.0
    with pytest.raises(AssertionError, match=r"J·v .*expected 5\.5, got 5\.0"):
        checks.check_jvp(tangent_5, OPS, seed=0, at=(2.0, 5.0), direction=(1.0, 0.0))


def test_jvp_must_make_one_forward_pass() -> None:
    def two_passes(f, p, t):  # type: ignore[no-untyped-def]
        return jvp(f, p, t)[0], jvp(f, p, t)[1]
    with pytest.raises(AssertionError, match=r"evaluated f on dual numbers.*one forward pass"):
        checks.check_jvp(two_passes, OPS, seed=0)


def test_a_function_wrong_only_on_plain_floats_fails() -> None:
    ops = dict(OPS, sin=lambda x: (OPS["sin"](x) if isinstance(x, Dual)
                                   else math.cos(x)))
    with pytest.raises(AssertionError, match=r"sin\(.*\) on a plain float"):
        checks.check_dual_functions(ops, Dual, seed=0)


@pytest.mark.parametrize("method", ["__rtruediv__", "__rsub__"])
def test_a_wrong_reflected_operator_fails(method: str) -> None:
    class Reflected(Dual):
        pass
    setattr(Reflected, method, lambda self, o: getattr(Dual, method.replace("__r", "__"))(
        self, o))  # a / c instead of c / a, a - c instead of c - a
    with pytest.raises(AssertionError, match=r"c [-/] a"):
        checks.check_dual_arithmetic(Reflected, seed=0)


def test_a_difference_that_ignores_its_step_fails() -> None:
    with pytest.raises(AssertionError, match=r"h = 1e-03"):
        checks.check_difference(lambda f, x, h: central(f, x, 1e-2), "central", seed=0)


def test_a_forward_step_a_little_too_large_fails() -> None:
    def forward(f, x, h=None):  # type: ignore[no-untyped-def]
        h = 1e-6 * max(1.0, abs(x)) if h is None else h  # sqrt(eps) is about 1.5e-8
        return (f(x + h) - f(x)) / h
    with pytest.raises(AssertionError, match="the step is too large"):
        checks.check_step_choice(forward, "forward", seed=0)


class FloatDual(float):
    """A dual number that is also a float, its value the primal: a right answer too."""

    tangent: float

    def __new__(cls, primal: float, tangent: float = 0.0) -> "FloatDual":
        d = super().__new__(cls, primal)
        d.tangent = tangent
        return d

    primal = property(float)

    @staticmethod
    def _via(op: Any, reflected: bool = False) -> Any:
        def method(self: "FloatDual", o: Any = None) -> "FloatDual":
            a = Dual(self.primal, self.tangent)
            b = Dual(o.primal, o.tangent) if isinstance(o, FloatDual) else o
            r = op(a) if o is None else op(b, a) if reflected else op(a, b)
            return FloatDual(r.primal, r.tangent)
        return method

    __add__, __radd__ = _via(operator.add), _via(operator.add, True)
    __sub__, __rsub__ = _via(operator.sub), _via(operator.sub, True)
    __mul__, __rmul__ = _via(operator.mul), _via(operator.mul, True)
    __truediv__, __rtruediv__ = _via(operator.truediv), _via(operator.truediv, True)
    __pow__, __neg__ = _via(operator.pow), _via(operator.neg)


def float_lift(value, slope):  # type: ignore[no-untyped-def]
    return lambda x: (FloatDual(value(x.primal), slope(x.primal) * x.tangent)
                      if isinstance(x, FloatDual) else value(x))


def test_a_dual_that_subclasses_float_is_forward_mode() -> None:
    ops = dict(exp=float_lift(math.exp, math.exp), log=float_lift(math.log, lambda x: 1 / x),
               sin=float_lift(math.sin, math.cos),
               cos=float_lift(math.cos, lambda x: -math.sin(x)))
    checks.check_derivative(lambda f: lambda x: f(FloatDual(x, 1.0)).tangent, ops, seed=0)
    checks.check_jvp(lambda f, p, t: (lambda out: (out.primal, out.tangent))(
        f(*[FloatDual(a, b) for a, b in zip(p, t)])), ops, seed=0)


def test_a_difference_quotient_beside_a_dual_pass_fails() -> None:
    # One dual pass for show, the answer from Richardson-extrapolated central
    # differences on floats (accurate to about 1e-12, within the bar).
    def derivative_fd(f):  # type: ignore[no-untyped-def]
        def df(x):  # type: ignore[no-untyped-def]
            f(Dual(x, 1.0))
            h = 1e-3 * max(1.0, abs(x))
            d = lambda h: (f(x + h) - f(x - h)) / (2 * h)  # noqa: E731
            return (4 * d(h / 2) - d(h)) / 3
        return df
    with pytest.raises(AssertionError, match="plain numbers other than x"):
        checks.check_derivative(derivative_fd, OPS, seed=0)

    def jvp_fd(f, p, t):  # type: ignore[no-untyped-def]
        f(*[Dual(a) for a in p])
        step = lambda h: [a + h * b for a, b in zip(p, t)]  # noqa: E731
        d = lambda h: (f(*step(h)) - f(*step(-h))) / (2 * h)  # noqa: E731
        return f(*p), (4 * d(5e-4) - d(1e-3)) / 3
    with pytest.raises(AssertionError, match="plain numbers other than x"):
        checks.check_jvp(jvp_fd, OPS, seed=0)
    # f at x itself on plain numbers (for its value) stays allowed
    checks.check_jvp(lambda f, p, t: (f(*p), jvp(f, p, t)[1]), OPS, seed=0)


def test_wrong_derivative_message_names_input_expected_and_error() -> None:
    def off(f):  # type: ignore[no-untyped-def]
        return lambda x: 1.01 * derivative(f)(x)
    with pytest.raises(AssertionError) as exc:
        checks.check_derivative(off, OPS, seed=0)
    msg = str(exc.value)
    assert "f(x) = sin(x)*exp(x)" in msg and "at x = " in msg
    assert "expected" in msg and "got" in msg and "relative error 0.01;" in msg


def test_finite_differences_instead_of_forward_mode_fail() -> None:
    with pytest.raises(AssertionError, match="numerical differentiation"):
        checks.check_derivative(lambda f: (lambda x: central(f, x)), OPS, seed=0)


def test_complex_step_instead_of_forward_mode_fails() -> None:
    # exact to rounding, like forward mode, but on complex numbers: numerical
    ops = dict(exp=np.exp, log=np.log, sin=np.sin, cos=np.cos)
    with pytest.raises(AssertionError, match="complex-step method, numerical differentiation"):
        checks.check_derivative(lambda f: (lambda x: float(np.imag(f(x + 1e-30j)) / 1e-30)),
                                ops, seed=0)


def test_what_counts_as_a_call_on_dual_numbers() -> None:
    from typing import NamedTuple

    from grading.checks.forward import _kind

    class PairDual(NamedTuple):  # a student's Dual written as a named tuple
        primal: float
        tangent: float = 0.0
    assert _kind((PairDual(1.0, 1.0),)) == _kind(([Dual(1.0), 2.0],)) == "dual"
    assert _kind((np.array([Dual(1.0), Dual(2.0)]),)) == "dual"
    for plain in ((1.0, 2), ([1.0, np.float64(2.0)],), (np.ones(3),), (np.arange(3),)):
        assert _kind(plain) == "real"
    assert _kind((1.0 + 1e-30j,)) == _kind((np.ones(2, complex),)) == "complex"


def test_calling_the_reference_library_fails() -> None:
    import autodiff_lite as ad
    from autodiff_lite import derivative as ad_derivative
    for cheat in (lambda f: ad.derivative(f), lambda f: ad_derivative(f)):
        with pytest.raises(AssertionError, match="implement forward mode yourself"):
            checks.check_derivative(cheat, OPS, seed=0)
    assert ad.derivative(lambda x: x * x)(3.0) == 6.0  # unblocked afterwards


def test_product_rule_mistake_is_reported_with_the_operation() -> None:
    class Wrong(Dual):
        def __mul__(self, o: object) -> Dual:
            o = Dual.lift(o)
            return Wrong(self.primal * o.primal, self.tangent * o.tangent)
    with pytest.raises(AssertionError, match=r"the tangent of a \* b"):
        checks.check_dual_arithmetic(Wrong, seed=0)


@pytest.mark.parametrize("method", ["dp", "division"])
def test_a_product_per_entry_is_right_but_too_slow_for_either_method(method: str) -> None:
    def one_product_per_entry(x):  # type: ignore[no-untyped-def]
        return np.array([np.prod(x[:i]) * np.prod(x[i + 1:]) for i in range(len(x))])
    # about 100 s on the long vector: a limit of 1 s (not the check's 10) stops it sooner
    with pytest.raises(AssertionError, match=r"1,000,000 entries.* did not finish within 1 s"):
        checks.check_product_gradient(one_product_per_entry, method, seed=0, seconds=1.0)


def _times(a: float, b: float) -> float:
    return a * b


def prefix_suffix_by_loop(x: np.ndarray) -> np.ndarray:
    """The slowest O(n) answer a student is likely to write: lists, a helper per entry."""
    n = len(x)
    prefix, suffix = [1.0] * n, [1.0] * n
    for i in range(1, n):
        prefix[i] = _times(prefix[i - 1], x[i - 1])
    for i in range(n - 2, -1, -1):
        suffix[i] = _times(suffix[i + 1], x[i + 1])
    return np.array([_times(p, s) for p, s in zip(prefix, suffix)])


def suffix_by_insert(x: np.ndarray) -> np.ndarray:
    """Prefix and suffix products, the suffix built with list.insert(0, ...): O(n²)."""
    prefix, suffix = [1.0], [1.0]
    for v in x[:-1]:
        prefix.append(prefix[-1] * v)
    for v in x[:0:-1]:
        suffix.insert(0, suffix[0] * v)
    return np.array(prefix) * np.array(suffix)


@pytest.mark.slow
def test_the_long_vector_tells_linear_from_hidden_quadratic_work() -> None:
    # both right on small vectors; on the long one, the loop finishes (in a few
    # seconds) and the inserts, which move every entry each time, do not (about
    # 140 s; on 200 000 entries they took 3 s of 10, too close to call)
    assert "O(n)" in checks.check_product_gradient(prefix_suffix_by_loop, "dp", seed=3)
    with pytest.raises(AssertionError, match=r"1,000,000 entries.*list\.insert.* did not "
                                             r"finish within 20 s"):
        checks.check_product_gradient(suffix_by_insert, "dp", seed=3)


def test_jacobian_must_use_one_pass_per_input() -> None:
    def wasteful(f, x):  # type: ignore[no-untyped-def]
        f([Dual(v) for v in x])
        return jacobian(f, x)
    with pytest.raises(AssertionError, match="number of forward passes"):
        checks.check_jacobian(wasteful, OPS, seed=0)


def test_a_jacobian_must_handle_outputs_that_do_not_depend_on_every_input() -> None:
    # only x_j a dual number: an output that does not depend on x_j comes back a
    # plain float, whose tangent is 0 (lesson 02's G has such an output)
    def only_xj(f, x):  # type: ignore[no-untyped-def]
        return np.array([[o.tangent for o in f([Dual(v, 1.0) if i == j else v
                                                 for i, v in enumerate(x)])]
                         for j in range(len(x))]).T
    with pytest.raises(AssertionError, match=r"\[x0 x1, sin x2 \+ x0, exp x1\].*"
                                             r"AttributeError: 'float' object"):
        checks.check_jacobian(only_xj, OPS, seed=0)


def test_evaluating_f_on_plain_numbers_as_well_is_not_a_forward_pass() -> None:
    for plain in (list, np.asarray):
        def sized_first(f, x, plain=plain):  # type: ignore[no-untyped-def]
            k = len(f(plain(x)))  # learn the number of outputs on plain floats
            return jacobian(f, x).reshape(k, len(x))
        checks.check_jacobian(sized_first, OPS, seed=0)

    def value_first(f, primals, tangents):  # type: ignore[no-untyped-def]
        return [f(*primals), jvp(f, primals, tangents)[1]]  # and a list for the pair
    checks.check_jvp(value_first, OPS, seed=0)


def test_a_pair_may_be_a_numpy_array_of_two_numbers_but_not_of_three() -> None:
    checks.check_jvp(lambda f, p, t: np.array(jvp(f, p, t)), OPS, seed=0)
    with pytest.raises(AssertionError, match=r"expected a pair \(value, tangent\), got a ndarray of 3 items"):
        checks.check_jvp(lambda f, p, t: np.array([*jvp(f, p, t), 0.0]), OPS, seed=0)


def difference_with(method: str, default_step: Any) -> Any:
    """A forward or central difference whose default step is default_step(x)."""
    def difference(f, x, h=None):  # type: ignore[no-untyped-def]
        h = default_step(x) if h is None else h
        return (f(x + h) - f(x)) / h if method == "forward" else (f(x + h) - f(x - h)) / (2 * h)
    return difference


@pytest.mark.parametrize("method, step, which", [
    ("central", np.finfo(float).eps ** 0.5, "small"),  # the forward difference's step
    ("central", 1e-7, "small"),
    ("forward", 1e-9, "small"),
])
def test_a_step_far_from_the_balance_fails_step_choice(method: str, step: float,
                                                        which: str) -> None:
    # Accurate enough on the problem functions (their large third derivatives hide
    # round-off), yet far from balancing the two errors the statement describes.
    scaled = difference_with(method, lambda x: step * max(1.0, abs(x)))
    with pytest.raises(AssertionError, match=f"the step is too {which}"):
        checks.check_step_choice(scaled, method, seed=0)


@pytest.mark.parametrize("method, step", [
    ("central", lambda x: np.finfo(float).eps ** (1 / 3) * (1.0 + abs(x))),
    ("central", lambda x: 1e-5 * max(1.0, abs(x))),
    ("central", lambda x: 2e-6 * max(1.0, abs(x))),
    ("forward", lambda x: 1e-8 * (1.0 + abs(x))),
    ("forward", lambda x: np.finfo(float).eps ** 0.5 * max(1.0, abs(x))),
])
def test_other_good_steps_pass_step_choice(method: str, step: Any) -> None:
    for seed in (0, 1, 2):
        checks.check_step_choice(difference_with(method, step), method, seed=seed)


@pytest.mark.parametrize("method, u", [
    ("central", (12 * np.finfo(float).eps) ** (1 / 3)),  # the balance, a factor 2 off
    ("central", 3e-5),  # within the step-size test's slack
    ("forward", 2e-7),
])
def test_a_step_the_statements_hint_gives_passes_on_every_seed(method: str, u: float) -> None:
    # max(1, |x|)·u is a step too long for a function of scale 1 drawn at x = 8, so
    # the accuracy bar there allows for it (seed 13 failed (12 eps)^(1/3) before)
    step = difference_with(method, lambda x: u * max(1.0, abs(x)))
    for seed in range(40):
        checks.check_step_choice(step, method, seed=seed)


def test_step_choice_reads_the_step_of_a_vectorised_or_adaptive_answer() -> None:
    # f evaluated on an array of points at once; and a forward difference that
    # first estimates f'' farther out, then takes its step from it (the nearest
    # points are the step's)
    eps = np.finfo(float).eps

    def vectorised(f, x, h=None):  # type: ignore[no-untyped-def]
        h = eps ** (1 / 3) * max(1.0, abs(x)) if h is None else h
        up, down = f(x + np.array([h, -h]))
        return (up - down) / (2 * h)

    def adaptive(f, x, h=None):  # type: ignore[no-untyped-def]
        if h is None:
            fx, rough = f(x), eps ** 0.25 * max(1.0, abs(x))
            f2 = (f(x + rough) - 2 * fx + f(x - rough)) / rough ** 2
            h = 2 * math.sqrt(eps * max(abs(fx), 1e-300) / max(abs(f2), 1e-300))
            h = min(max(h, 1e-3 * eps ** 0.5 * max(1.0, abs(x))), rough)
        return (f(x + h) - f(x)) / h
    for seed in (0, 1):
        checks.check_step_choice(vectorised, "central", seed=seed)
        checks.check_step_choice(adaptive, "forward", seed=seed)


def test_a_jacobian_that_seeds_its_list_in_place_is_forward_mode() -> None:
    # the list passed to f holds a Dual during the call, floats again afterwards
    def seeding(f, x):  # type: ignore[no-untyped-def]
        x, cols = list(x), []
        for j, xj in enumerate(list(x)):
            x[j] = Dual(xj, 1.0)
            cols.append([getattr(o, "tangent", 0.0) for o in f(x)])
            x[j] = xj
        return np.array(cols).T
    checks.check_jacobian(seeding, OPS, seed=0)


@pytest.mark.parametrize("method, u", [("forward", np.finfo(float).eps ** 0.5),
                                       ("central", np.finfo(float).eps ** (1 / 3))])
def test_a_step_that_grows_with_the_value_of_f_fails_step_choice(method: str,
                                                                  u: float) -> None:
    # the best step depends on the length over which f varies (|x| here), not on
    # the size of f: scaled by |f(x)| too, it is far too long for a large f
    def difference(f, x, h=None):  # type: ignore[no-untyped-def]
        h = u * max(1.0, abs(x), abs(f(x))) if h is None else h
        return difference_with(method, lambda _: h)(f, x)
    with pytest.raises(AssertionError, match="the step is too large"):
        checks.check_step_choice(difference, method, seed=0)


def test_careless_step_fails_step_choice() -> None:
    with pytest.raises(AssertionError, match="step is too"):
        checks.check_step_choice(lambda f, x, h=1e-3: (f(x + h) - f(x)) / h, "forward",
                                 seed=0)


@pytest.mark.parametrize("method, power", [("forward", 1 / 2), ("central", 1 / 3)])
def test_step_that_does_not_grow_with_x_fails_step_choice(method: str, power: float) -> None:
    # The best step for |x| near 1, kept fixed: right for small x, rounded away in
    # x + h at x of 10^4 to 10^6 (ps1 asks for a step good at any magnitude).
    fixed = difference_with(method, lambda x: np.finfo(float).eps ** power)
    with pytest.raises(AssertionError, match=re.escape("at large |x| it must grow with |x|")):
        checks.check_step_choice(fixed, method, seed=0)


@pytest.mark.parametrize("bad, words", [
    (None, "forget to `return`"), ("1.0", "expected a number"),
    ([1.0, 2.0], "expected shape ()"), (float("nan"), "got nan"),
])
def test_bad_return_values_get_clear_messages(bad: object, words: str) -> None:
    with pytest.raises(AssertionError) as exc:
        checks.check_derivative(lambda f: (lambda x: bad), OPS, seed=0)
    assert words in str(exc.value)


def test_assert_close_follows_its_documented_test_and_names_the_worst_entry() -> None:
    # |got - expected| <= atol + rtol·|expected|: the bound itself passes, and the
    # tolerance scales with the expected value, not with the answer's
    compare.assert_close(1.5, 1.0, "x", rtol=0.5, atol=0.0)
    with pytest.raises(AssertionError, match="expected 1.0, got 1.9"):
        compare.assert_close(1.9, 1.0, "x", rtol=0.5, atol=0.0)
    with pytest.raises(AssertionError, match=r"^v at entry 2 \(2 of 3 entries are wrong\): "
                                             r"expected 30\.0, got 3\.0"):
        compare.assert_close([1.1, 2.0, 3.0], [1.0, 2.0, 30.0], "v")
    with pytest.raises(AssertionError, match=r"^v: got nan at entry 1; "):
        compare.assert_close([1.0, float("nan")], [1.0, 2.0], "v")


@pytest.mark.parametrize("got, expected", [
    ([1.0], [1.0, 2.0, 3.0]), (np.zeros(0), 0.0), (np.zeros((1, 2)), [0.0]),
])
def test_assert_close_refuses_a_shape_that_zip_would_hide(got: Any, expected: Any) -> None:
    # the entries are compared pairwise, so only the shape check stops a part of
    # the answer (its first entry, no entry at all) from passing for the whole
    with pytest.raises(AssertionError, match=r"expected shape \((\d+,)?\), got shape") as exc:
        compare.assert_close(got, expected, "value")
    assert "1-element container" not in str(exc.value)  # that hint is for one number only


def test_assert_equal_int_takes_whole_numbers_and_nothing_else() -> None:
    # a count may come back as a NumPy integer or a float such as 3.0; a bool, or
    # 3.5 (which int() would truncate to 3), is not a count
    compare.assert_equal_int(np.int64(3), 3, "passes")
    compare.assert_equal_int(3.0, 3, "passes")
    for bad in (True, 3.5, np.float64(3.5)):
        with pytest.raises(AssertionError, match="expected the whole number"):
            compare.assert_equal_int(bad, 1 if bad is True else 3, "passes")


def test_exceptions_and_warnings_in_student_code() -> None:
    def raising(f):  # type: ignore[no-untyped-def]
        def d(x: float) -> float:
            raise KeyError("oops")
        return d
    with pytest.raises(AssertionError, match="raised KeyError"):
        checks.check_derivative(raising, OPS, seed=0)

    def noisy(f):  # type: ignore[no-untyped-def]
        def d(x: float) -> float:
            np.float64(1.0) / np.float64(0.0)  # a RuntimeWarning, silenced
            return derivative(f)(x)
        return d
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        checks.check_derivative(noisy, OPS, seed=0)


def test_monkeypatched_comparisons_are_restored_and_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    original = np.allclose
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    with pytest.raises(AssertionError, match=r"6 of 6 entries are wrong.*got 0\.0"):
        checks.check_jacobian(lambda f, x: np.zeros((3, 2)), OPS, seed=0)
    assert np.allclose is original


def test_hidden_seed_failures_are_tagged() -> None:
    with pytest.raises(AssertionError) as exc:
        checks.check_derivative(lambda f: (lambda x: 0.0), OPS, seed=1234)
    assert str(exc.value).startswith(HIDDEN_MARK)


@given(st.floats(-1e6, 1e6), st.floats(1e-3, 1.0))
def test_assert_close_accepts_within_and_rejects_beyond_tolerance(x: float, rel: float) -> None:
    compare.assert_close(x * (1 + 1e-12), x, "value")
    if abs(x) > 1e-6:
        with pytest.raises(AssertionError, match="relative error"):
            compare.assert_close(x * (1 + rel), x, "value")


def test_feedback_trims_test_tracebacks_and_redacts_hidden_failures() -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from grading.feedback import HIDDEN_FEEDBACK, ShortTestTracebacks

    def test_cell(evalue: str) -> nbformat.NotebookNode:
        cell = new_code_cell("checks.check_jvp(jvp, ops, seed=1008)",
                             metadata={"nbgrader": {"grade": True, "solution": False}})
        cell.outputs = [new_output("error", ename="AssertionError", evalue=evalue,
                                   traceback=["line quoting the hidden test's code",
                                              f"AssertionError: {evalue}"])]
        return cell

    nb = new_notebook(cells=[test_cell("jvp: expected 5.5, got 5.0"),
                             test_cell(f"{HIDDEN_MARK} jvp: expected 1.25, got 1.0")])
    nb, _ = ShortTestTracebacks().preprocess(nb, {})
    visible, hidden = (c.outputs[0] for c in nb.cells)
    assert visible.traceback == ["AssertionError: jvp: expected 5.5, got 5.0"]
    assert hidden.evalue == HIDDEN_FEEDBACK and "1.25" not in str(hidden)


def test_checks_cannot_be_rebound_and_dict_edits_are_undone() -> None:
    with pytest.raises(AttributeError, match="cannot be replaced"):
        checks.check_derivative = lambda *a, **k: "passed"  # type: ignore[assignment]
    original = checks.check_jvp
    vars(checks)["check_jvp"] = lambda *a, **k: "passed"
    try:
        checks.check_dual_arithmetic(Dual, seed=0)  # any check restores first
        assert checks.check_jvp is original
    finally:
        vars(checks)["check_jvp"] = original


def test_a_division_that_handles_one_zero_but_not_two_fails() -> None:
    def one_zero_only(x):  # type: ignore[no-untyped-def]
        x = np.asarray(x, dtype=float)
        zeros = x == 0.0
        if not zeros.any():
            return np.prod(x) / x
        out = np.zeros_like(x)
        out[zeros] = np.prod(x[~zeros])  # with two zeros every entry must be 0
        return out
    with pytest.raises(AssertionError, match="2 zero entries"):
        checks.check_product_gradient(one_zero_only, "division", seed=0)


def test_a_second_solve_is_told_from_a_multiple_of_the_first() -> None:
    b = np.array([1.0, 2.0, -0.5, 3.0])
    tilted = b + 1e-3 * np.linalg.norm(b) * np.array([2.0, -1.0, 0.0, 0.0]) / np.sqrt(5.0)
    assert not cheap._solves_other_than([3.0 * b, -b], b)
    assert cheap._solves_other_than([3.0 * b, tilted], b)  # about 1e-3 radians apart
    assert cheap._solves_other_than([b[:3]], b)


def test_assert_close_default_tolerances_are_the_documented_ones() -> None:
    # docs/instructors.md: exact methods agree to a relative error of 1e-9
    compare.assert_close(1.0 + 5e-10, 1.0, "x")
    with pytest.raises(AssertionError):
        compare.assert_close(1.0 + 2e-9, 1.0, "x")
    compare.assert_close(5e-13, 0.0, "an adjoint that must be 0")
    with pytest.raises(AssertionError):
        compare.assert_close(5e-12, 0.0, "an adjoint that must be 0")


def test_seed_1000_is_the_first_hidden_one() -> None:
    def wrong(g, shape):  # type: ignore[no-untyped-def]
        return g
    with pytest.raises(AssertionError, match=f"^{re.escape(HIDDEN_MARK)}"):
        checks.check_unbroadcast(wrong, seed=1000)
    with pytest.raises(AssertionError) as exc:
        checks.check_unbroadcast(wrong, seed=999)
    assert HIDDEN_MARK not in str(exc.value)


# Mistakes that only one part of a check catches (found by mutation testing: with
# that part weakened or removed, each of them passed).

def test_a_difference_that_ignores_its_step_for_1e_3_fails() -> None:
    # h = 1e-3 hard-coded: right for the h = 1e-3 case, not for h = 1e-2
    with pytest.raises(AssertionError, match=r"h = 1e-02"):
        checks.check_difference(lambda f, x, h: central(f, x, 1e-3), "central", seed=0)


def test_a_missing_elementary_function_is_named() -> None:
    ops = {k: v for k, v in OPS.items() if k != "cos"}  # cos not defined yet
    with pytest.raises(AssertionError, match=r"needs your functions cos; define them"):
        checks.check_derivative(derivative, ops, seed=0)


def test_a_negation_that_keeps_the_primal_fails() -> None:
    class KeepsPrimal(Dual):
        def __neg__(self) -> Dual:  # -a with a's own value: only the tangent negated
            return KeepsPrimal(self.primal, -self.tangent)
    # a - b = a + (-b) then has the right tangent and the wrong value
    with pytest.raises(AssertionError, match=r"the primal of a - b"):
        checks.check_dual_arithmetic(KeepsPrimal, seed=0)


def test_a_power_rule_without_the_inner_tangent_fails() -> None:
    class Power(Dual):
        def __pow__(self, c: float) -> Dual:  # c·a^(c-1), forgetting · da
            return Power(self.primal ** c, c * self.primal ** (c - 1))
    # right whenever da = 1, as in derivative(f): only a tangent other than 1 shows it
    with pytest.raises(AssertionError, match=r"the tangent of a \*\* c"):
        checks.check_dual_arithmetic(Power, seed=0)


def test_a_product_rule_with_one_term_fails() -> None:
    class OneTerm(Dual):
        def __mul__(self, o: object) -> Dual:  # da·b, forgetting a·db
            o = Dual.lift(o)
            return OneTerm(self.primal * o.primal, self.tangent * o.primal)
        __rmul__ = __mul__
    # right for a * c and c * a (a float has tangent 0): only two duals show it
    with pytest.raises(AssertionError, match=r"the tangent of a \* b"):
        checks.check_dual_arithmetic(OneTerm, seed=0)


def test_a_quotient_that_treats_the_divisor_as_constant_fails() -> None:
    class ConstantDivisor(Dual):
        def __truediv__(self, o: object) -> Dual:  # the rule of a / c, used for a / b too
            o = Dual.lift(o)
            return ConstantDivisor(self.primal / o.primal, self.tangent / o.primal)

        def __rtruediv__(self, c: object) -> Dual:  # c / a written out on its own, right
            return ConstantDivisor(c / self.primal,  # type: ignore[operator]
                                   -c * self.tangent / self.primal ** 2)  # type: ignore[operator]
    with pytest.raises(AssertionError, match=r"the tangent of a / b"):
        checks.check_dual_arithmetic(ConstantDivisor, seed=0)


@pytest.mark.parametrize("name, rule", [
    ("exp", lambda x: Dual(math.exp(x.primal), math.exp(x.primal))),  # forgets · dx
    ("log", lambda x: Dual(math.log(x.primal), 1.0 / x.primal)),  # forgets · dx
    ("sin", lambda x: Dual(math.sin(x.primal), -math.cos(x.primal) * x.tangent)),  # sign
    ("cos", lambda x: Dual(math.cos(x.primal), math.sin(x.primal) * x.tangent)),  # sign
])
def test_a_wrong_rule_for_one_function_fails(name: str, rule: Any) -> None:
    # forgetting · dx is right whenever dx = 1, as in derivative(f)
    ops = dict(OPS, **{name: lambda x: rule(x) if isinstance(x, Dual) else OPS[name](x)})
    with pytest.raises(AssertionError, match=rf"the tangent of {name}\(Dual"):
        checks.check_dual_functions(ops, Dual, seed=0)


def test_jvp_returning_the_output_dual_as_its_value_fails() -> None:
    def whole_dual(f, p, t):  # type: ignore[no-untyped-def]
        out = f(*[Dual(a, b) for a, b in zip(p, t)])
        return out, out.tangent  # the Dual itself, not its primal
    with pytest.raises(AssertionError, match=r"the value returned by jvp .*expected a number"):
        checks.check_jvp(whole_dual, OPS, seed=0)


def test_jvp_that_ignores_the_direction_fails() -> None:
    def all_ones(f, p, t):  # type: ignore[no-untyped-def]
        out = f(*[Dual(a, 1.0) for a in p])  # J·(1, 1), whatever v is
        return out.primal, out.tangent
    with pytest.raises(AssertionError, match=r"J·v returned by jvp"):
        checks.check_jvp(all_ones, OPS, seed=0)

    def first_input(f, p, t):  # type: ignore[no-untyped-def]
        out = f(*[Dual(a, float(i == 0)) for i, a in enumerate(p)])  # ∂f/∂x1, Liu's v
        return out.primal, out.tangent
    with pytest.raises(AssertionError, match=r"J·v returned by jvp"):
        checks.check_jvp(first_input, OPS, seed=0)


def test_a_small_step_difference_beside_a_dual_pass_fails() -> None:
    # f at x ± 1e-6: close to x, but not x; numerical differentiation all the same
    def derivative_fd(f):  # type: ignore[no-untyped-def]
        def df(x):  # type: ignore[no-untyped-def]
            f(Dual(x, 1.0))
            h = 1e-6 * max(1.0, abs(x))
            return (f(x + h) - f(x - h)) / (2 * h)
        return df
    with pytest.raises(AssertionError, match="plain numbers other than x"):
        checks.check_derivative(derivative_fd, OPS, seed=0)


def test_a_jacobian_from_one_pass_with_vector_tangents_is_not_the_method_asked() -> None:
    # right values, but one pass carrying all n tangents at once: ps1 asks for n
    # passes, one per input, with tangent e_j
    def one_pass(f, x):  # type: ignore[no-untyped-def]
        n = len(x)
        return np.array([o.tangent for o in f([Dual(v, np.eye(n)[j])
                                                for j, v in enumerate(x)])])
    with pytest.raises(AssertionError, match=r"number of forward passes .*expected \d, got 1"):
        checks.check_jacobian(one_pass, OPS, seed=0)
