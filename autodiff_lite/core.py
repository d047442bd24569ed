"""Primitives, tracers and `bind`: the dispatch layer every engine shares.

A *primitive* is an operation the library knows how to differentiate (add, exp,
matmul, ...). Its value and its derivative rules live in `rules.py`, the one rule
table. A *tracer* is a value being watched by a transformation: a `Dual` in forward
mode, a `Box` in reverse mode. Calling a primitive goes through `bind`, which hands
the call to the innermost transformation among its arguments (the one with the
highest level); that transformation unwraps its own tracers, calls `bind` again on
the unwrapped values (so outer transformations see the call too), records what it
needs and wraps the result. With no tracer among the arguments `bind` just
evaluates the primitive on plain floats and arrays.

Levels are what keep nested derivatives apart ("perturbation confusion"): every
transformation call gets a fresh, larger level, and a tracer only ever interacts
with the trace that made it.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Callable, Iterator, Sequence

import numpy as np

Rule = Callable[..., Any]


class Primitive:
    """One row of the rule table: a name, a value function and per-argument rules.

    `jvp[i](t, z, *args, **params)` is the tangent of the output contributed by a
    tangent `t` of argument i; `vjp[i](g, z, *args, **params)` is the cotangent of
    argument i for an output cotangent `g`. `z` is the output value. A `None` rule
    marks an argument the output does not depend on differentiably (a condition, an
    index, a sign). Rules are written with the library's own operations, so the
    derivative computation can itself be traced (higher-order derivatives).

    `saving`, optional, is for a primitive whose VJP would recompute what its
    value already computed (logsumexp's softmax): `(impl_saving, saved_prim)`,
    where `impl_saving(*args, **params)` returns the value and that residual r,
    and `saved_prim` is the same operation with r as an extra, constant first
    argument, whose VJP rules read r instead of recomputing it. The lean tapes
    of `grad` and `vjp` record `saved_prim` on plain values; under an outer
    transformation r would be a constant that is not one, so they do not.
    """

    __slots__ = ("name", "impl", "jvp", "vjp", "nondiff", "saving", "plain")

    def __init__(self, name: str, impl: Callable[..., Any],
                 jvp: Sequence[Rule | None], vjp: Sequence[Rule | None],
                 saving: tuple[Callable[..., Any], Primitive] | None = None) -> None:
        self.name = name
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        self.saving = saving
        # No rule at all (sign): the output is a constant, never a tape node.
        self.nondiff = isinstance(vjp, tuple) and all(r is None for r in vjp)
        # Neither of those two cases: an engine may simply call impl and record.
        self.plain = saving is None and not self.nondiff

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


# The params of a primitive called without any: one shared dict, never mutated.
NO_PARAMS: dict = {}


class Trace:
    """Base of the forward and reverse transformations; `level` orders nesting.

    `done` is set when the transformation's call has returned: a tracer kept
    from it (in a global, a cache, a closure) must not be used again, since it
    would carry a derivative that belongs to a finished call.
    """

    __slots__ = ("level", "done")
    _levels = itertools.count(1)

    def __init__(self) -> None:
        self.level = next(Trace._levels)
        self.done = False

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        raise NotImplementedError


class TracerBase:
    """Marker base of every tracer; `_trace` is the transformation it belongs to."""

    __slots__ = ("_trace",)


# The transformations whose function is running, innermost last, each with the
# trace of the dual numbers built by hand while it is innermost (made when needed).
_RUNNING: list[list[Any]] = []


@contextlib.contextmanager
def running(trace: Trace) -> Iterator[None]:
    """Mark `trace`'s function as running for the block (see `hand_built_trace`).

    A function that raises has finished too: its tracers (kept in a list while
    debugging, say) are refused afterwards, as those of a call that returned."""
    _RUNNING.append([trace, None])
    try:
        yield
    except BaseException:
        trace.done = True
        raise
    finally:
        _RUNNING.pop()


def hand_built_trace(make: Callable[[], Trace]) -> Trace | None:
    """The trace of values built by hand (`Dual(y, 1.0)`) inside running
    transformations: one per innermost running transformation, made after it, so
    nested above it, as the textbook's inner derivative is; None outside them."""
    if not _RUNNING:
        return None
    entry = _RUNNING[-1]
    if entry[1] is None:
        entry[1] = make()
    return entry[1]


def escaped() -> TypeError:
    """The error for a tracer used after its transformation's call returned."""
    return TypeError(
        "a traced value was used after the grad, jvp, vjp or trace call that made it "
        "had returned (kept in a list, a global or a closure?). Traced values mean "
        "something only while their function is being differentiated: keep a plain "
        "value instead, ad.primal(x), or compute what you need inside the function")


def bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Apply `prim` to `args`, letting the innermost transformation watch it."""
    if len(args) == 1:  # the common unary case, without the search
        (x,) = args
        if isinstance(x, TracerBase):
            return x._trace.process(prim, args, params)
        return prim.impl(x, **params)
    top = None
    for a in args:
        if isinstance(a, TracerBase):
            t = a._trace
            if top is None or t.level > top.level:
                top = t
    if top is None:
        return prim.impl(*args, **params)
    return top.process(prim, args, params)


def primal(x: Any) -> Any:
    """The plain float or array under every layer of tracing of `x`."""
    while isinstance(x, TracerBase):
        x = x.primal  # type: ignore[attr-defined]
    return x


def shape(x: Any) -> tuple[int, ...]:
    """Shape of a float, array or tracer (NumPy's `np.shape` would refuse tracers)."""
    if type(x) is float:
        return ()
    if type(x) is np.ndarray:
        return x.shape
    if isinstance(x, TracerBase):
        return x.shape  # type: ignore[attr-defined]
    s = getattr(x, "shape", None)  # NumPy scalars, a lean tape's shape stand-ins
    return s if type(s) is tuple else np.shape(x)


def ndim(x: Any) -> int:
    """Number of dimensions of a float, array or tracer."""
    return len(shape(x))


def zeros_like(x: Any) -> Any:
    """A zero of the same type and shape as the primal of `x` (never traced)."""
    p = primal(x)
    if isinstance(p, np.ndarray):
        return np.zeros(p.shape)
    return 0.0
