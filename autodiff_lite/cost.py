"""What a computation costs: arithmetic counted and replayed off its tape, and its peak memory.

The cheap gradient principle (Tim Vieira, "Evaluating ∇f(x) is as fast as f(x)",
2016; Griewank & Walther, Evaluating Derivatives, 2008) says the gradient of a
scalar function costs a small constant times the function itself, however many
inputs it has. `gradient_cost` checks that claim by counting: it traces f, then
traces the whole gradient computation (the forward pass and the backward sweep,
whose VJP rules are ordinary traced operations) and counts the scalar arithmetic
on both tapes with the cost model `FLOPS`.

The cost model counts floating-point operations: one per output entry for an
elementwise operation, one per input entry for a reduction, 2·m·k·n for a
(m×k)·(k×n) product, none for operations that only move data (reshape,
transpose, indexing, stacking).

`replay` serves the other side of the same question: it runs the arithmetic on
a tape without the tape, so timing it beside the traced computation splits a
gradient's time into NumPy's work and the engine's bookkeeping.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from .api import check_scalar_output, trace, vjp
from .reverse import Tape

Cost = Callable[[tuple, Any, dict], int]


def _size(x: Any) -> int:
    return int(np.prod(np.shape(x)))


def _per_output(args: tuple, out: Any, params: dict) -> int:
    return _size(out)


def _per_input(args: tuple, out: Any, params: dict) -> int:
    return _size(args[0])


def _moves_data(args: tuple, out: Any, params: dict) -> int:
    return 0


def _matmul(args: tuple, out: Any, params: dict) -> int:
    return 2 * _size(out) * np.shape(args[0])[-1]


def _logsumexp(args: tuple, out: Any, params: dict) -> int:
    return 4 * _size(args[0])  # subtract the max, exp, add up, (log of the sums)


FLOPS: dict[str, Cost] = {
    **{name: _per_output for name in (
        "add", "subtract", "multiply", "true_divide", "power", "negative", "exp", "log",
        "log1p", "sin", "cos", "tan", "tanh", "sqrt", "absolute", "sign", "sigmoid",
        "maximum", "minimum", "where")},
    **{name: _per_input for name in ("sum", "sum_to", "prod", "untake")},
    **{name: _moves_data for name in (
        "transpose", "reshape", "broadcast_to", "getitem", "concatenate", "stack")},
    "matmul": _matmul,
    "logsumexp": _logsumexp,
    "checkpoint": lambda args, out, params: flops(trace(params["fun"], *args)),
}


def flops(tape: Tape) -> int:
    """Floating-point operations recorded on `tape` (inputs cost nothing)."""
    total = 0
    for prim, args, out, params in zip(tape.ops, tape.args, tape.values, tape.params):
        if prim is None:
            continue
        cost = FLOPS.get(prim.name)
        if cost is None:
            raise ValueError(f"no cost model for the primitive {prim.name!r}; add an "
                             "entry to autodiff_lite.cost.FLOPS")
        total += cost(args, out, params)
    return total


@dataclass(frozen=True)
class GradientCost:
    """Operation counts of f and of its gradient (forward pass plus backward sweep)."""

    f_nodes: int
    f_flops: int
    grad_nodes: int
    grad_flops: int

    @property
    def ratio(self) -> float:
        """flops(∇f) / flops(f): the constant of the cheap gradient principle."""
        return self.grad_flops / max(self.f_flops, 1)


def gradient_tape(f: Callable[..., Any], *args: Any) -> Tape:
    """The trace of f's gradient with respect to every argument: its forward pass
    and its backward sweep (the VJP rules and the adding up of adjoints) as one
    Wengert list. Traced, the rules record their plain rows: no residuals.

    The seed, the output's cotangent 1.0, is the tape's first input: a rule that
    reads only the seed and constants (sum(A @ x): Aᵀ times the seed) is
    arithmetic of the gradient too, and would not be recorded from a constant.
    """
    def gradient(seed: Any, *xs: Any) -> Any:
        out, pullback = vjp(f, *xs)
        check_scalar_output(out, "gradient_cost")
        return pullback(seed)
    return trace(gradient, 1.0, *args)


def gradient_cost(f: Callable[..., Any], *args: Any) -> GradientCost:
    """Count the arithmetic of f and of its gradient with respect to every argument."""
    f_tape, grad_tape = trace(f, *args), gradient_tape(f, *args)
    return GradientCost(len(f_tape) - len(f_tape.inputs), flops(f_tape),
                        len(grad_tape) - len(grad_tape.inputs), flops(grad_tape))


def replay(tape: Tape) -> Callable[[], Any]:
    """The arithmetic on `tape` without the tape: a function that calls each node's
    primitive on the arguments recorded for it, in order, and returns the last value.

    Timed beside the traced computation it splits the cost in two: what NumPy
    does (this), and the bookkeeping of tracing and sweeping (the rest), which is
    all that a faster engine with the same rules could save.
    """
    calls = [partial(prim.impl, *args, **params)
             for prim, args, params in zip(tape.ops, tape.args, tape.params)
             if prim is not None]

    def run() -> Any:
        out = None
        for call in calls:
            out = call()
        return out
    return run


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run fn() and return its result and the peak of newly allocated bytes (tracemalloc).

    tracemalloc keeps one peak, which this resets: a peak_memory call inside
    another hands the highest memory it saw on to the enclosing one, so both are
    right; a measurement of your own around it sees only the peak since the reset.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        if _HIGHEST:  # an enclosing call: keep what it has seen before the reset
            _HIGHEST[-1] = max(_HIGHEST[-1], tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        _HIGHEST.append(0)
        try:
            result = fn()
        finally:
            highest = max(_HIGHEST.pop(), tracemalloc.get_traced_memory()[1])
            if _HIGHEST:
                _HIGHEST[-1] = max(_HIGHEST[-1], highest)
        peak = highest - base
    finally:
        if started:
            tracemalloc.stop()
    return result, int(peak)


# The highest traced memory each running peak_memory call has seen before a
# nested call reset tracemalloc's peak, innermost last.
_HIGHEST: list[int] = []
