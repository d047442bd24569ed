"""Forward mode: dual numbers carry a tangent through the JVP column of the rules.

A `Dual(primal, tangent)` is a + b·ε with ε² = 0: evaluating f on it gives
f(a) + f'(a)·b·ε, so one pass yields the value and the directional derivative J·b.
"""

from __future__ import annotations

from typing import Any

from .core import Primitive, Trace, bind, shape
from .rules import broadcast_to
from .tracer import Tracer


class ForwardTrace(Trace):
    """One forward-mode transformation: pushes tangents through each primitive."""

    __slots__ = ()

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
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
        if type(t_out) is not float and shape(t_out) != shape(out):
            t_out = broadcast_to(t_out, shape(out))
        return Dual(out, t_out, self)


_DEFAULT_TRACE = ForwardTrace()


class Dual(Tracer):
    """A dual number (or array): `primal + tangent·ε` with ε² = 0.

    Built by hand, `Dual(2.0, 1.0)`, duals share one default perturbation, like
    the dual numbers of a textbook. `jvp` and `derivative` make their own, nested
    perturbations so that derivatives of derivatives never mix.
    """

    __slots__ = ("primal", "tangent")

    def __init__(self, primal: Any, tangent: Any, trace: ForwardTrace | None = None) -> None:
        if trace is None and shape(primal) != shape(tangent):  # engines pass trace
            raise ValueError(f"Dual: the tangent's shape {shape(tangent)} must equal "
                             f"the primal's shape {shape(primal)}")
        self.primal = primal
        self.tangent = tangent
        self._trace = _DEFAULT_TRACE if trace is None else trace

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"
