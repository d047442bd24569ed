"""Checks for forward mode (ps1): finite differences, dual numbers, JVPs, Jacobians."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import numpy as np

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.numerical import central_difference as ref_central
from autodiff_lite.numerical import forward_difference as ref_forward

from .. import problems
from ..compare import assert_close, assert_equal_int
from ..sandbox import call_student
from ._common import check, items, namespace, num, rng

ELEMENTARY = ("exp", "log", "sin", "cos")


@check
def check_difference(student: Any, method: str, seed: int) -> str:
    """`student(f, x, h)` must be the forward or central difference quotient."""
    reference = {"forward": ref_forward, "central": ref_central}[method]
    r = rng(seed)
    for name, fn in problems.SCALAR.items():
        x = float(r.uniform(0.5, 3.0))
        for h in (1e-2, 1e-3):
            def f(t: float, fn: Any = fn) -> float:
                return fn(np, t)
            # A representable step, so that x + h - x == h for both sides.
            h = (x + h) - x
            expected = reference(f, x, h)
            got = call_student(student, f, x, h, name=f"{method}_difference",
                               task=f"the {method} difference",
                               shown=f"f(x) = {name}, x = {num(x)}, h = {h:.0e}")
            assert_close(got, expected, f"{method}_difference for f(x) = {name} at "
                         f"x = {num(x)} with h = {h:.0e}", rtol=1e-7, atol=1e-10)
    return f"{method}_difference matches the difference quotient"


@check
def check_step_choice(student: Any, method: str, seed: int) -> str:
    """With its default step, `student(f, x)` must be nearly as accurate as possible.

    The best step balances truncation and round-off error; a good choice reaches a
    relative error near 1e-8 (forward) or 1e-10 (central). The bar is set a
    hundred times looser than that (and looser again where a function varies on
    a shorter length than the max(1, |x|) the statement's step assumes), and far
    tighter than a careless h = 1e-3 or h = 1e-12 reaches. Functions that vary on
    the scale of x are also tried at x of 10^4 to 10^6, where a step that does
    not grow with |x| fails.
    """
    tol = {"forward": 1e-6, "central": 1e-8}[method]
    order = {"forward": 1, "central": 2}[method]  # truncation error grows like h**order
    r = rng(seed)
    # (problem, x, the length over which f changes by about |f|: 1, or x itself)
    draws = [(name, fn, x, 1.0)
             for name, fn in problems.SCALAR.items() for low, high in ((0.5, 3.0), (3.0, 8.0))
             for x in [float(r.uniform(low, high))]]
    draws += [(name, fn, x, x) for name, fn in problems.LARGE_X.items()
              for x in [float(10.0 ** r.uniform(4.0, 6.0))]]
    for name, fn, x, length in draws:
        exact = ad.derivative(lambda t, fn=fn: fn(anp, t))(x)

        def f(t: float, fn: Any = fn) -> float:
            return fn(np, t)
        got = call_student(student, f, x, name=f"{method}_difference",
                           task=f"the {method} difference with a good step",
                           shown=f"f(x) = {name}, x = {num(x)}")
        # The statement's step grows with max(1, |x|), as for a function that varies
        # on that scale; one that varies on a shorter length (a scale-1 function at
        # x = 8) gets a step that much too long, and truncation error that grows with
        # its power. Near a zero of f' a relative bar is meaningless: allow the bar
        # times the size a derivative has there, |f(x)| / length.
        bar = tol * (max(1.0, abs(x)) / length) ** order
        assert_close(got, exact, f"{method}_difference(f, x) with your default "
                     f"step for f(x) = {name} at x = {num(x)}; the step is too "
                     "large (truncation) or too small (round-off)"
                     + ("; at large |x| it must grow with |x|" if length > 1.0 else ""),
                     rtol=bar, atol=bar * max(1.0, abs(f(x))) / length)
    for x in sorted({x for _, _, x, _ in draws}):
        _check_step_size(student, method, x)
    return f"your default step makes the {method} difference accurate"


# The error of a difference quotient with step h = u·s, for a function that varies
# on the scale s = max(1, |x|) (its k-th derivative about |f| / s^k), relative to
# |f'|: truncation plus round-off ε/u. Its minimum is at u* = sqrt(2ε) (forward)
# or (3ε)^(1/3) (central).
_EPS = float(np.finfo(float).eps)
_MODEL_ERROR = MappingProxyType({"forward": lambda u: u / 2 + _EPS / u,
                                 "central": lambda u: u * u / 6 + _EPS / u})
_BEST_U = MappingProxyType({"forward": (2 * _EPS) ** 0.5, "central": (3 * _EPS) ** (1 / 3)})
_STEP_SLACK = 10.0  # how far above the least modelled error a default step may be


def _check_step_size(student: Any, method: str, x: float) -> None:
    """The default step itself must be near the balance of the two errors.

    Accuracy on a few functions cannot tell a central difference with the forward
    difference's step (about 1e-8) from one with a good step: where the third
    derivative is large both land near 1e-9. So the step is read off the points
    where the student's function evaluates f (the nearest to x: an answer may
    first take a rough look farther out), and judged by the error model the
    statement describes, for a function whose derivatives are the size of f.
    That size is large (10⁴), so a step that grows with |f(x)| instead of with
    |x| is far too large here: the best step depends on the length over which f
    varies, not on how big f is.
    """
    scale = max(1.0, abs(x))
    points: list[float] = []

    def f(t: Any) -> Any:  # a number, or an array of them: both are fine
        points.extend(np.ravel(np.asarray(t, dtype=float)).tolist())
        return 1e4 * np.exp((t - x) / scale)
    call_student(student, f, x, name=f"{method}_difference",
                 task=f"the {method} difference with a good step",
                 shown=f"f(t) = 10⁴·exp((t - x) / max(1, |x|)), x = {num(x)}")
    h = min((abs(t - x) for t in points if t != x), default=0.0)
    if h == 0.0:
        raise AssertionError(f"{method}_difference(f, x) at x = {num(x)} evaluated f "
                             f"at no point other than x ({len(points)} evaluation(s))")
    u = h / scale
    error, least = _MODEL_ERROR[method](u), _MODEL_ERROR[method](_BEST_U[method])
    if error > _STEP_SLACK * least:
        which = "small (round-off)" if u < _BEST_U[method] else "large (truncation)"
        raise AssertionError(
            f"{method}_difference(f, x) at x = {num(x)} takes the step h = {h:.1e}"
            + (f", {u:.1e} times max(1, |x|)" if scale > 1.0 else "")
            + " (x ± h: the points nearest x where it evaluates f). For a function "
            "whose derivatives are the size of the function, truncation and round-off "
            f"together then err {error / least:.0f} times as much as with the best "
            f"step: the step is too {which}. Balance the two error terms of the {method} "
            "difference.")


_BINARY = MappingProxyType({
    "a + b": lambda a, b: a + b, "a - b": lambda a, b: a - b,
    "a * b": lambda a, b: a * b, "a / b": lambda a, b: a / b,
})
_WITH_FLOAT = MappingProxyType({
    "a + c": lambda a, c: a + c, "c + a": lambda a, c: c + a,
    "a - c": lambda a, c: a - c, "c - a": lambda a, c: c - a,
    "a * c": lambda a, c: a * c, "c * a": lambda a, c: c * a,
    "a / c": lambda a, c: a / c, "c / a": lambda a, c: c / a,
    "a ** c": lambda a, c: a ** c, "-a": lambda a, c: -a,
})


def _dual_parts(value: Any, what: str) -> tuple[Any, Any]:
    if not (hasattr(value, "primal") and hasattr(value, "tangent")):
        raise AssertionError(f"{what}: expected a Dual (with .primal and .tangent), "
                             f"got {type(value).__name__}: {value!r}")
    return value.primal, value.tangent


@check
def check_dual_arithmetic(Dual: Any, seed: int) -> str:
    """Dual numbers must add, subtract, multiply, divide, negate and take powers."""
    r = rng(seed)
    a = float(r.uniform(0.5, 3.0))
    plain = call_student(lambda: Dual(a), name="Dual", task="dual numbers",
                         shown=f"Dual({num(a)}) (no tangent given)")
    p, t = _dual_parts(plain, f"Dual({num(a)})")
    assert_close(p, a, f"the primal of Dual({num(a)})")
    assert_close(t, 0.0, f"the tangent of Dual({num(a)}), which defaults to 0.0")
    cases: list[tuple[str, Any, int]] = [(k, f, 2) for k, f in _BINARY.items()]
    cases += [(k, f, 1) for k, f in _WITH_FLOAT.items()]
    for expr, op, n_duals in cases:
        a, da, b, db = (float(v) for v in r.uniform(0.5, 3.0, size=4))
        if n_duals == 2:
            out, tangent = ad.jvp(op, (a, b), (da, db))
            shown = f"a = Dual({num(a)}, {num(da)}), b = Dual({num(b)}, {num(db)})"
            got = call_student(lambda: op(Dual(a, da), Dual(b, db)), name=expr,
                               task="dual-number arithmetic", shown=shown)
        else:
            out, tangent = ad.jvp(lambda t: op(t, b), (a,), (da,))
            shown = f"a = Dual({num(a)}, {num(da)}), c = {num(b)}"
            got = call_student(lambda: op(Dual(a, da), b), name=expr,
                               task="dual-number arithmetic", shown=shown)
        p, t = _dual_parts(got, f"{expr} with {shown}")
        assert_close(p, out, f"the primal of {expr} with {shown}")
        assert_close(t, tangent, f"the tangent of {expr} with {shown}")
    return "Dual arithmetic is right (+, -, *, /, **, unary -)"


@check
def check_dual_functions(ops: Any, Dual: Any, seed: int) -> str:
    """exp, log, sin and cos must accept floats and Duals (with the right tangent)."""
    m = namespace(ops, ELEMENTARY, "this check")
    r = rng(seed)
    for name in ELEMENTARY:
        x, dx = (float(v) for v in r.uniform(0.3, 3.0, size=2))
        mine, ref = getattr(m, name), getattr(anp, name)
        value = call_student(mine, x, name=name, task=f"{name} for dual numbers",
                             shown=f"the float {num(x)}")
        assert_close(value, ref(x), f"{name}({num(x)}) on a plain float")
        out, tangent = ad.jvp(ref, (x,), (dx,))
        shown = f"Dual({num(x)}, {num(dx)})"
        got = call_student(lambda: mine(Dual(x, dx)), name=name,
                           task=f"{name} for dual numbers", shown=shown)
        p, t = _dual_parts(got, f"{name}({shown})")
        assert_close(p, out, f"the primal of {name}({shown})")
        assert_close(t, tangent, f"the tangent of {name}({shown}), the rule "
                     f"d{name}(x) = {name}'(x)·dx")
    return "exp, log, sin and cos work on floats and on Duals"


class _Recorder:
    """Wraps a problem to remember which kinds of values it was evaluated on, and
    where, when it was called (an answer may reuse the list it passed)."""

    def __init__(self, fn: Any, m: Any) -> None:
        self.fn, self.m = fn, m
        self.calls: list[tuple[str, Any]] = []  # (kind, a copy of the real arguments)

    def __call__(self, *args: Any) -> Any:
        kind = _kind(args)
        self.calls.append((kind, _plain_copy(args) if kind == "real" else None))
        return self.fn(self.m, *args)

    def forward_passes(self) -> int:
        """The calls that carried dual numbers (not real or complex ones):
        evaluating f on floats as well, e.g. to learn its number of outputs, is fine."""
        return sum(kind == "dual" for kind, _ in self.calls)

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.calls}


def _plain_copy(args: Any) -> Any:
    try:
        return np.array(args, dtype=float).ravel()
    except (TypeError, ValueError):  # ragged: no single point
        return None


def _kind(x: Any) -> str:
    """"real" for real numbers, in lists, tuples and arrays too; "complex" if any is
    complex; "dual" for anything else (a student's Dual, a namedtuple one too, or
    one that subclasses float: whatever has a tangent)."""
    if hasattr(x, "tangent"):
        return "dual"
    if type(x) in (list, tuple) or (isinstance(x, np.ndarray) and x.dtype == object):
        kinds = {_kind(a) for a in (x.flat if isinstance(x, np.ndarray) else x)}
        return next((k for k in ("dual", "complex") if k in kinds), "real")
    if isinstance(x, np.ndarray):
        return "complex" if x.dtype.kind == "c" else "real" if x.dtype.kind in "biuf" else "dual"
    if isinstance(x, (complex, np.complexfloating)):
        return "complex"
    return "real" if isinstance(x, (int, float, np.number)) else "dual"


def _at(values: Any, point: Any) -> bool:
    """Whether the plain numbers `values` (flat) are the point of evaluation itself."""
    return values is not None and bool(np.array_equal(
        values, np.asarray(point, dtype=float).ravel()))


def _not_finite_differences(rec: _Recorder, name: str, point: Any) -> None:
    """Refuse numerical differentiation: f evaluated at complex numbers, only at
    plain numbers, or at plain numbers other than `point` (a difference quotient
    beside a dual pass made for show). f(x) itself on floats is fine."""
    kinds = rec.kinds()
    if "complex" in kinds:
        raise AssertionError(f"your {name} evaluated f at complex numbers: that is the "
                             "complex-step method, numerical differentiation. Forward "
                             "mode evaluates f on dual numbers.")
    if kinds == {"real"}:
        raise AssertionError(f"your {name} evaluated f only at plain numbers "
                             f"({len(rec.calls)} call(s)): that is numerical "
                             "differentiation. Forward mode evaluates f on dual numbers.")
    away = [values for kind, values in rec.calls if kind == "real" and not _at(values, point)]
    if away:
        raise AssertionError(f"your {name} also evaluated f at plain numbers other than "
                             f"x ({len(away)} call(s)): a difference quotient is numerical "
                             "differentiation, even beside a pass with dual numbers. "
                             "Forward mode reads the derivative off the dual pass.")


@check
def check_derivative(derivative: Any, ops: Any, seed: int, points: int = 2) -> str:
    """`derivative(f)(x)` must be f'(x), exactly, by one pass with dual numbers."""
    m = namespace(ops, ELEMENTARY, "check_derivative")
    r = rng(seed)
    for name, fn in problems.SCALAR.items():
        for x in r.uniform(0.5, 3.0, size=points):
            x = float(x)
            expected = ad.derivative(lambda t, fn=fn: fn(anp, t))(x)
            rec = _Recorder(fn, m)
            got = call_student(lambda: derivative(rec)(x), name="derivative(f)(x)",
                               task="forward mode", shown=f"f(x) = {name}, x = {num(x)}")
            _not_finite_differences(rec, "derivative", x)
            assert_close(got, expected, f"derivative(f)(x) for f(x) = {name} at "
                         f"x = {num(x)}")
            assert_equal_int(rec.forward_passes(), 1, f"the number of times "
                             f"derivative(f)(x) evaluated f on dual numbers for "
                             f"f(x) = {name} (one forward pass gives f'(x))")
    return "derivative(f)(x) is exact on every test function"


@check
def check_jvp(jvp: Any, ops: Any, seed: int, at: tuple[float, float] | None = None,
              direction: tuple[float, float] | None = None) -> str:
    """`jvp(f, (x1, x2), (v1, v2))` must return (f(x), J·v) for seed 004's f."""
    m = namespace(ops, ELEMENTARY, "check_jvp")
    r = rng(seed)
    x = at if at is not None else tuple(float(v) for v in r.uniform(0.5, 5.0, size=2))
    v = direction if direction is not None else tuple(float(t) for t in r.normal(size=2))
    out, tangent = ad.jvp(lambda a, b: problems.seed004_f(anp, a, b), x, v)
    rec = _Recorder(problems.seed004_f, m)
    shown = f"f = ln x1 + x1*x2 - sin x2 at x = {x}, v = {v}"
    got = call_student(lambda: jvp(rec, x, v), name="jvp", task="the JVP by forward mode",
                       shown=shown)
    _not_finite_differences(rec, "jvp", x)
    got = items(got, 2, f"jvp on {shown}", "a pair (value, tangent)")
    assert_close(got[0], out, f"the value returned by jvp on {shown}")
    assert_close(got[1], tangent, f"the directional derivative J·v returned by jvp on "
                 f"{shown}")
    assert_equal_int(rec.forward_passes(), 1, f"the number of times jvp evaluated f on "
                     f"dual numbers on {shown} (one forward pass)")
    return "jvp returns f(x) and J·v in one forward pass"


@check
def check_jacobian(jacobian: Any, ops: Any, seed: int) -> str:
    """`jacobian(f, x)` must be the k×n Jacobian, built from n forward passes."""
    m = namespace(ops, ELEMENTARY, "check_jacobian")
    r = rng(seed)
    for name, fn in problems.VECTOR.items():
        n = 3 if "x2" in name else 2
        x = [float(v) for v in r.uniform(0.5, 3.0, size=n)]
        k = len(fn(np, x))
        expected = np.zeros((k, n))
        for j in range(n):
            e = tuple(1.0 if i == j else 0.0 for i in range(n))
            _, col = ad.jvp(lambda *xs, fn=fn: anp.stack(fn(anp, list(xs))), tuple(x), e)
            expected[:, j] = col
        rec = _Recorder(fn, m)
        shown = f"f(x) = {name} at x = {num(np.array(x))}"
        got = call_student(lambda: jacobian(rec, x), name="jacobian",
                           task="the Jacobian by forward mode", shown=shown)
        _not_finite_differences(rec, "jacobian", x)
        assert_close(got, expected, f"jacobian(f, x) for {shown} (shape: outputs × inputs)")
        assert_equal_int(rec.forward_passes(), n, f"the number of forward passes (calls of "
                         f"f on dual numbers) jacobian made for {shown} (one per input)")
    return "jacobian is exact and uses one forward pass per input"
