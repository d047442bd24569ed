"""Checks for reverse mode (ps2): unbroadcasting, VJP rules, the tape, gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.rules import RULES, broadcasts, sum_to

from .. import problems
from ..compare import assert_close, assert_equal_int
from ..sandbox import call_student
from ._common import check, items, namespace, num, rng

OPS = ("exp", "sin", "tanh", "sum")
UNARY = ("exp", "sin", "tanh", "sum")
# Pairs of argument shapes that broadcast, as a network meets them.
_BROADCAST = (((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 4), ()),
              ((2, 1, 3), (4, 1)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)))
# A binary rule's two calls on arrays draw from these: the first a pair where the
# first argument is broadcast, the second one where the second is, whatever the
# seed (drawn from all pairs, a rule that unbroadcasts only one of its arguments
# passed on about a third of the seeds).
_FIRST_BROADCAST = tuple(p for p in _BROADCAST if p[0] != np.broadcast_shapes(*p))
_SECOND_BROADCAST = tuple(p for p in _BROADCAST if p[1] != np.broadcast_shapes(*p))


@check
def check_unbroadcast(unbroadcast: Any, seed: int) -> str:
    """`unbroadcast(g, shape)` must sum g down to `shape` (the adjoint of broadcasting)."""
    r = rng(seed)
    for big, small in (((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1)),
                       ((2, 3, 4), (4,)), ((2, 3, 4), (1, 4)), ((3, 4), ()),
                       ((5,), (1,)), ((2, 3), (2, 3))):
        g = r.normal(size=big)
        expected = sum_to(g, small)
        got = call_student(unbroadcast, g.copy(), small, name="unbroadcast",
                           task="unbroadcasting",
                           shown=f"g of shape {big}, shape {small}")
        assert_close(got, expected, f"unbroadcast(g, {small}) for g of shape {big}")
    return "unbroadcast sums gradients back to the argument's shape"


def _copies(*values: Any) -> list[Any]:
    """Arrays copied, other values as they are: what student code may write into."""
    return [np.copy(v) if isinstance(v, np.ndarray) else v for v in values]


def _arguments(r: np.random.Generator, name: str, floats: bool,
               call: int = 0) -> tuple[Any, ...]:
    if floats:  # Python floats, as `x * 2.0` or `exp(1.0)` hand them to the rules
        x = float(r.normal())
        return (x,) if name in UNARY else (x, float(r.uniform(0.5, 2.0) * r.choice([-1, 1])))
    if name == "matmul":
        n, k, m = (int(v) for v in r.integers(2, 5, size=3))
        return r.normal(size=(n, k)), r.normal(size=(k, m))
    if name in UNARY:
        return (r.normal(size=(3, 4)),)
    pairs = _FIRST_BROADCAST if call == 0 else _SECOND_BROADCAST
    a, b = pairs[int(r.integers(len(pairs)))]
    x = r.normal(size=a)
    y = r.uniform(0.5, 2.0, size=b) * r.choice([-1.0, 1.0], size=b)  # no division by ~0
    return x, y


@check
def check_vjp_rules(rules: Any, names: tuple[str, ...], seed: int) -> str:
    """`rules[name](g, z, *args)` must return one cotangent per argument, unbroadcast."""
    if not isinstance(rules, dict):
        raise AssertionError(f"vjp_rules should be a dict from names to functions, got "
                             f"{type(rules).__name__}")
    r = rng(seed)
    for name in names:
        if name not in rules:
            raise AssertionError(f"vjp_rules has no rule for {name!r}; expected keys "
                                 f"{', '.join(names)}")
        prim = RULES[name]
        for call, floats in enumerate((False, False, name != "matmul")):
            args = _arguments(r, name, floats, call)
            z = prim.impl(*args)
            g = float(r.normal()) if floats else r.normal(size=np.shape(z))
            shown = (f"Python floats {', '.join(num(a) for a in args)}" if floats else
                     f"arguments of shapes {', '.join(str(np.shape(a)) for a in args)}")
            expected = [sum_to(prim.vjp[i](g, z, *args), np.shape(a))
                        for i, a in enumerate(args)]
            # the rule gets copies: one that writes into g, z or an argument must
            # not change what it is compared with
            got = call_student(rules[name], *_copies(g, z, *args),
                               name=f"vjp_rules[{name!r}]", task=f"the VJP rule of {name}",
                               shown=shown)
            got = items(got, len(args), f"vjp_rules[{name!r}] on {shown}",
                        f"a tuple of {len(args)} cotangent(s), one per argument")
            for i, (a, ct) in enumerate(zip(args, got)):
                hint = _shape_hint(np.shape(ct), np.shape(a))
                assert_close(ct, expected[i], f"the cotangent of argument {i} of the "
                             f"{name} rule on {shown}{hint}")
    return f"the VJP rules of {', '.join(names)} are right"


def _shape_hint(got: tuple[int, ...], wanted: tuple[int, ...]) -> str:
    """What to do about a cotangent of the wrong shape: unbroadcast it only if
    the argument was broadcast to that shape (a transpose or a missing broadcast
    is a different mistake)."""
    if got == wanted:
        return ""
    if broadcasts(wanted, got):
        return " (it must have the argument's shape: unbroadcast it)"
    return f" (it must have the argument's shape, {wanted})"


class _Problem:
    """A problem evaluated with the student's operations; counts its calls."""

    def __init__(self, fn: Any, m: Any) -> None:
        self.fn, self.m, self.calls = fn, m, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.fn(self.m, *args)


def _seed000_sum(m: Any, x: Any) -> Any:
    return m.sum(problems.seed000_f(m, x))


DEEP_SWEEP_SECONDS = 5.0  # for a sweep of 120 nodes; following 2^40 paths takes forever


@check
def check_tape_adjoints(trace: Any, backward: Any, ops: Any, seed: int,
                        seconds: float = DEEP_SWEEP_SECONDS) -> str:
    """The adjoint of every node of Vieira's program, of one with constants and
    an unused node, of one with array constants on either side, and of a deep
    one with 2^40 paths (its sweep in `seconds`) must match the reference tape.

    The student's tape must record the inputs first, then one node per operation
    in execution order, as the reference's Wengert list does.
    """
    m = namespace(ops, OPS, "check_tape_adjoints")
    r = rng(seed)
    cases = [("f(x) (Vieira's program)", problems.seed000_f, float(r.uniform(-1.0, 0.5)), None),
             ("sum(f(x)) for a vector x", _seed000_sum, r.uniform(-1.0, 0.5, size=3), None),
             ("sin(x) (unused); e = exp(1.0); y = (2 - x) / 3 * e + 1 / (x*x + 1) - x / 2; "
              "sum(y*y)", problems.with_constants, r.uniform(-1.0, 1.0, size=3), None),
             ("y = c*x + x/c - c/(x*x + 1); sum(M @ tanh(y)), with c and M NumPy arrays "
              "(arrays on the left of *, / and @)", problems.array_constants,
              r.uniform(-1.0, 1.0, size=(3, 2)), None),
             # the reference's sweep takes about a millisecond on this tape of 120 nodes
             ("y = sin(y*y + 1) forty times from y = x (2^40 paths lead back to x: "
              "sweep the tape once, in reverse order, each node once)",
              problems.doubling_paths, float(r.uniform(-1.0, 1.0)), seconds)]
    for name, fn, x, limit in cases:
        tape = ad.trace(lambda t, fn=fn: fn(anp, t), x)
        expected = tape.backward(1.0)
        prob = _Problem(fn, m)
        shown = f"{name} at x = {num(x)}"
        recorded = call_student(lambda: trace(prob, x), name="trace", task="a tape",
                                shown=shown)
        recorded = items(recorded, 2, f"trace(f, x) on {shown}", "a pair (tape, output)")
        adjoints = call_student(lambda: backward(*recorded), name="backward",
                                task="the reverse sweep", shown=shown, seconds=limit)
        if not isinstance(adjoints, (list, tuple)):
            raise AssertionError(f"backward on {shown}: expected a list with one adjoint "
                                 f"per node, got {type(adjoints).__name__}")
        ops_ = [n.op for n in tape.nodes]
        assert_equal_int(len(adjoints), len(expected), f"the number of adjoints backward "
                         f"returned for {shown} (one per node: {', '.join(ops_)})")
        # From the output back: the first wrong node is where the sweep went wrong.
        for k in range(len(expected) - 1, -1, -1):
            what = f"the adjoint of node {k} ({ops_[k]}) of {shown}"
            unused = not np.any(expected[k])
            if adjoints[k] is None:
                raise AssertionError(
                    f"{what}: got None; every node has an adjoint" + (
                        f", and one the output does not depend on has adjoint {_ZERO_ADJOINT}"
                        if unused else ""))
            if unused and np.ndim(adjoints[k]) == 0 and np.ndim(expected[k]) > 0:
                raise AssertionError(
                    f"{what}: got the number {num(adjoints[k])}, but the node is an array of "
                    f"shape {np.shape(expected[k])}; its adjoint, since the output does not "
                    f"depend on it, is a {_ZERO_ADJOINT}")
            assert_close(adjoints[k], expected[k], what)
    return "backward gives every node of the tape its adjoint"


# what a node the output does not depend on has as its adjoint
_ZERO_ADJOINT = "zero of the node's shape: 0.0 for a number, np.zeros_like(value) for an array"


def _grads(got: Any, n: int, shown: str) -> tuple[Any, ...]:
    if n == 1 and not isinstance(got, tuple):
        return (got,)
    return items(got, n, f"grad(f)(*args) on {shown}",
                 f"a tuple of {n} gradients, one per argument")


def _check_grad(grad: Any, m: Any, fn: Any, args: tuple, names: tuple[str, ...],
                shown: str) -> None:
    expected = ad.grad(lambda *a: fn(anp, *a), argnums=tuple(range(len(args))))(*args)
    prob = _Problem(fn, m)
    got = call_student(lambda: grad(prob)(*_copies(*args)),
                       name="grad(f)", task="reverse mode", shown=shown)
    got = _grads(got, len(args), shown)
    for name, g, e in zip(names, got, expected):
        assert_close(g, e, f"the gradient with respect to {name} of {shown}")
    assert_equal_int(prob.calls, 1, f"the number of times grad evaluated f on {shown} "
                     "(one forward pass, then one backward sweep)")


@check
def check_gradient_seed000(grad: Any, ops: Any, seed: int) -> str:
    """`grad(f)(x)` for Vieira's f(x) = exp(exp x + exp(x)²) + sin(exp x + exp(x)²)."""
    m = namespace(ops, OPS, "check_gradient_seed000")
    for x in rng(seed).uniform(-1.5, 0.5, size=3):
        _check_grad(grad, m, problems.seed000_f, (float(x),), ("x",),
                    f"Vieira's f at x = {num(x)}")
    return "grad of Vieira's f is exact"


@check
def check_gradient_network(grad: Any, ops: Any, seed: int) -> str:
    """`grad(loss)` for a one-hidden-layer tanh network, with respect to every argument."""
    m = namespace(ops, OPS, "check_gradient_network")
    r = rng(seed)
    n, d, h, k = 5, 3, 4, 2
    args = (r.normal(size=(d, h)), r.normal(size=h), r.normal(size=(h, k)),
            r.normal(size=k), r.normal(size=(n, d)), r.normal(size=(n, k)))
    _check_grad(grad, m, problems.network_loss, args, ("W1", "b1", "W2", "b2", "X", "Y"),
                "sum((tanh(X @ W1 + b1) @ W2 + b2 - Y)**2)")
    return "grad of the network's loss is exact for every parameter"


def _hvp_cases(r: np.random.Generator) -> list[tuple[str, Any, np.ndarray, np.ndarray, str]]:
    """(description, fn(m, x) written with the operations of m, x, v, a hint): the
    network's loss in W1 along a direction of length about 1, and Vieira's f
    summed over a vector along directions of length 10⁴ and 10⁻⁴, where a step ε
    fixed in absolute terms moves x by far too much or by too little for six
    digits (the hint says so)."""
    n, d, h, k = 5, 3, 4, 2
    b1, W2, b2 = r.normal(size=h), r.normal(size=(h, k)), r.normal(size=k)
    X, Y = r.normal(size=(n, d)), r.normal(size=(n, k))

    def loss_in_W1(m: Any, W1: Any) -> Any:
        return problems.network_loss(m, W1, b1, W2, b2, X, Y)
    cases = [("the network's loss as a function of W1", loss_in_W1,
              r.normal(size=(d, h)), r.normal(size=(d, h)) / 3.0, "")]
    for length in (1e4, 1e-4):
        x, v = r.uniform(-1.0, 0.5, size=4), r.normal(size=4)
        cases.append((f"sum(f(x)) (Vieira's f) along a v of length {length:g}", _seed000_sum,
                      x, length * v / np.linalg.norm(v),
                      "; H·v is linear in v, so the step should scale with v"))
    return cases


@check
def check_hvp(hvp: Any, ops: Any, seed: int) -> str:
    """`hvp(f, x, v)` must give ∇²f(x)·v to six digits from two gradients of f
    (central differences of the student's grad), for directions v of any length."""
    m = namespace(ops, OPS, "check_hvp")
    for shown, fn, x, v, hint in _hvp_cases(rng(seed)):
        expected = ad.hvp(lambda a, fn=fn: fn(anp, a), x, v)
        prob = _Problem(fn, m)
        where = f"{shown}, at x = {num(x)}, v = {num(v)}"
        got = call_student(hvp, prob, x.copy(), v.copy(), name="hvp",
                           task="Hessian-vector products", shown=where)
        largest = float(np.max(np.abs(expected)))
        assert_close(got, expected, f"H·v for {where} (to six digits of its largest "
                     f"entry{hint})", rtol=1e-6, atol=1e-6 * largest)
        if prob.calls > 2:
            raise AssertionError(f"hvp evaluated f {prob.calls} times for {shown}; two "
                                 "gradients suffice (building H would take one per entry)")
    return "hvp gives H·v to six digits from two gradients, for directions of any length"
