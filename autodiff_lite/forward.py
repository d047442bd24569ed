"""Forward mode: dual numbers carry a tangent through the JVP column of the rules.

A `Dual(primal, tangent)` is a + b·ε with ε² = 0: evaluating f on it gives
f(a) + f'(a)·b·ε, so one pass yields the value and the directional derivative J·b.

On Python floats, Dual's arithmetic and `ForwardTrace.process` call the JVP rules
directly (scalar code is mostly bookkeeping otherwise); tests/test_float_paths.py
checks them against the general path on one-element arrays.
"""

from __future__ import annotations

from typing import Any, Callable

from .core import Primitive, Trace, bind, escaped, hand_built_trace, shape
from .rules import broadcast_to, unchanged
from .tracer import Tracer, set_arithmetic, traced_operator


class ForwardTrace(Trace):
    """One forward-mode transformation: pushes tangents through each primitive."""

    __slots__ = ()

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if self.done:
            raise escaped()
        if len(args) == 1 and prim.plain and not params:
            x = args[0]  # a function of one float (tanh, exp, ...): its rule, directly
            if type(x) is Dual and x._trace is self:
                p, t = x.primal, x.tangent
                if type(p) is float and type(t) is float:
                    z = prim.impl(p)
                    return Dual(z, prim.jvp[0](t, z, p), self)
        primals = []
        tangents = []
        for a in args:
            if type(a) is Dual and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(a)
                tangents.append(None)
        out = bind(prim, *primals, **params)
        t_out = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            rule = prim.jvp[i]
            if rule is None:  # e.g. the condition of `where`: no derivative
                continue
            c = rule(t, out, *primals, **params) if params else rule(t, out, *primals)
            t_out = c if t_out is None else t_out + c
        if t_out is None:
            return out  # nothing differentiable flowed in: a constant
        # A tangent passed on unchanged (add, subtract) keeps its argument's shape:
        # a scalar's tangent plus a constant array must grow to the output's.
        if type(out) is not float and shape(t_out) != shape(out):
            t_out = broadcast_to(t_out, shape(out))
        return Dual(out, t_out, self)


_DEFAULT_TRACE = ForwardTrace()


class Dual(Tracer):
    """A dual number (or array): `primal + tangent·ε` with ε² = 0.

    Built by hand, `Dual(2.0, 1.0)`, duals share one default perturbation, like
    the dual numbers of a textbook. `jvp` and `derivative` make their own, nested
    perturbations so that derivatives of derivatives never mix. A Dual built by
    hand inside a function that grad, jvp or derivative is running belongs to a
    perturbation nested inside theirs, so `f(Dual(y, 1.0)).tangent` there is an
    inner derivative, as in the textbook.
    """

    __slots__ = ("primal", "tangent")

    def __init__(self, primal: Any, tangent: Any, trace: ForwardTrace | None = None) -> None:
        if trace is None and shape(primal) != shape(tangent):  # engines pass trace
            raise ValueError(f"Dual: the tangent's shape {shape(tangent)} must equal "
                             f"the primal's shape {shape(primal)}")
        self.primal = primal
        self.tangent = tangent
        if trace is None:
            trace = hand_built_trace(ForwardTrace) or _DEFAULT_TRACE
        self._trace = trace

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"


def _arithmetic(prim: Primitive, reflected: bool = False) -> Callable[[Dual, Any], Any]:
    """Dual's operator for `prim`: on Python floats it applies the JVP rules itself.

    Forward mode on floats is all `+ - * /`, where `process`'s unwrapping,
    checks and broadcasting cost far more than the arithmetic; here a float is
    pushed through the rules with none of them. Anything else goes the general way.
    """
    impl, general = prim.impl, traced_operator(prim, reflected)
    jvp_x, jvp_y = prim.jvp

    def method(self: Dual, other: Any) -> Any:
        x, tx, trace = self.primal, self.tangent, self._trace
        if type(x) is not float or type(tx) is not float:
            return general(self, other)
        if type(other) is float:  # a constant
            if reflected:
                z = impl(other, x)
                return Dual(z, tx if jvp_y is unchanged else jvp_y(tx, z, other, x), trace)
            z = impl(x, other)
            return Dual(z, tx if jvp_x is unchanged else jvp_x(tx, z, x, other), trace)
        if type(other) is Dual and other._trace is trace:
            y, ty = other.primal, other.tangent
            if type(y) is float and type(ty) is float:
                if reflected:
                    x, tx, y, ty = y, ty, x, tx
                z = impl(x, y)
                if jvp_x is not unchanged:
                    tx = jvp_x(tx, z, x, y)
                if jvp_y is not unchanged:
                    ty = jvp_y(ty, z, x, y)
                return Dual(z, tx + ty, trace)
        return general(self, other)

    method.__name__ = general.__name__
    return method


set_arithmetic(Dual, _arithmetic)
