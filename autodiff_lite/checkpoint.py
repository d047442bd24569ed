"""Checkpointing: trade recomputation for memory in reverse mode.

Reverse mode keeps every intermediate value the backward sweep will need, so the
memory of a gradient grows with the length of the computation (Tim Vieira,
"Evaluating ∇f(x) is as fast as f(x)", 2016). `checkpoint(f)` makes the whole of f
one primitive of the rule table: the tape records only f's inputs and output, and
f's intermediates are recomputed, by a fresh `vjp` of f, when the backward sweep
reaches it. `checkpoint_sequential` applies that to a chain of n steps cut into
segments: with about √n segments of √n steps, the sweep keeps √n segment outputs
plus the √n intermediates of the one segment being recomputed, O(√n) in all,
for the price of running the forward pass twice (Griewank & Walther,
Evaluating Derivatives, 2008, ch. 12; Chen et al., "Training deep nets with
sublinear memory cost", 2016).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

from .api import jvp, vjp
from .core import Primitive, TracerBase, bind, zeros_like
from .rules import RULES, EveryArgument, register

Function = Callable[..., Any]


def _impl(*args: Any, fun: Function) -> Any:
    out = fun(*args)  # plain values: nothing is recorded
    if isinstance(out, TracerBase):
        # Recomputed from its arguments alone, fun would lose that variable's part
        # of the gradient: refuse rather than return a wrong one.
        raise TypeError(
            "checkpoint(f): f returned a traced value when called on plain values, so "
            "it uses a variable being differentiated that is not one of its arguments "
            "(a closure). Pass that variable as an argument: "
            "checkpoint(lambda h, w: ...)(h, w)")
    return out


def _jvp_rule(i: int, t: Any, z: Any, *args: Any, fun: Function) -> Any:
    tangents = tuple(t if k == i else zeros_like(a) for k, a in enumerate(args))
    return jvp(fun, args, tangents)[1]


def _vjp_rule(i: int, g: Any, z: Any, *args: Any, fun: Function) -> Any:
    # Recompute f's intermediates now, on their own short tape, and pull g back.
    # (With several traced arguments this recomputes once per argument.)
    return vjp(fun, *args)[1](g)[i]


CHECKPOINT = RULES.get("checkpoint") or register(Primitive(
    "checkpoint", _impl, EveryArgument(_jvp_rule), EveryArgument(_vjp_rule)))


def checkpoint(fun: Function) -> Function:
    """`fun`, recorded as a single node whose insides are recomputed when needed.

    Only the traced arguments (positional or keyword) become the node's inputs;
    the others (an index, a flag, a function, a constant array) are constants of
    every transformation, so they are handed to `fun` as they are.
    """

    @functools.wraps(fun)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        named = [*enumerate(args), *kwargs.items()]  # (position or keyword, value)
        for k, a in named:
            if isinstance(a, (tuple, list)) and any(isinstance(v, TracerBase) for v in a):
                raise TypeError(
                    f"checkpoint({getattr(fun, '__name__', 'f')}): argument {k!r} is a "
                    f"{type(a).__name__} holding traced values; pass them as separate "
                    "arguments, checkpoint(f)(w, b) rather than checkpoint(f)((w, b))")
        traced = [(k, a) for k, a in named if isinstance(a, TracerBase)]
        if not traced:  # nothing is differentiated: nothing to save (closures refused)
            return _impl(*args, fun=functools.partial(fun, **kwargs))
        keys = [k for k, _ in traced]

        def with_traced(*traced: Any) -> Any:
            pos, kw = list(args), dict(kwargs)
            for k, v in zip(keys, traced):
                if isinstance(k, int):
                    pos[k] = v
                else:
                    kw[k] = v
            return fun(*pos, **kw)

        return bind(CHECKPOINT, *(a for _, a in traced), fun=with_traced)

    return checkpointed


def checkpoint_sequential(steps: Sequence[Callable[[Any], Any]],
                          segments: int | None = None) -> Callable[[Any], Any]:
    """Compose `steps` (x -> steps[-1](...steps[0](x))) in checkpointed segments.

    The steps are cut into blocks of ⌈n / segments⌉ steps (so there may be fewer
    blocks than `segments`); `segments` defaults to ⌈√n⌉, which minimises the
    memory of the backward sweep.
    """
    steps = list(steps)
    if not steps:
        raise ValueError("checkpoint_sequential needs at least one step")
    segments = math.ceil(math.sqrt(len(steps))) if segments is None else segments
    if not 1 <= segments <= len(steps):
        raise ValueError(f"segments must be between 1 and the number of steps "
                         f"({len(steps)}), got {segments}")
    size = math.ceil(len(steps) / segments)
    blocks = [steps[k:k + size] for k in range(0, len(steps), size)]

    def run(block: list[Callable[[Any], Any]], x: Any) -> Any:
        for step in block:
            x = step(x)
        return x

    pieces = [checkpoint(functools.partial(run, block)) for block in blocks]

    def chained(x: Any) -> Any:
        for piece in pieces:
            x = piece(x)
        return x

    return chained
