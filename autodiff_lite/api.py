"""The transformations learners call, named as in JAX and autograd.

Forward mode: `derivative`, `jvp`, `jacfwd`. Reverse mode: `trace`, `grad`,
`value_and_grad`, `vjp`, `jacrev`. Both: `hessian` (forward over reverse) and `hvp`.
Every call makes a new trace, so they nest to any depth: `grad(grad(f))`,
`jvp(grad(f), ...)`, `jacfwd(jacrev(f))`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .core import TracerBase, escaped, running, shape
from .forward import Dual, ForwardTrace
from .reverse import Tape
from .rules import reshape, stack

Function = Callable[..., Any]


# ------------------------------------------------------------------ conversions

def as_input(x: Any, what: str = "input", copy: bool = True) -> Any:
    """Accept floats and float arrays (ints, lists and int arrays are converted).

    Arrays are copied, so that a tape or a pullback kept for later does not
    change when the caller's array does; `copy=False` where the result is used
    up before the caller gets control back (grad: a copy of a large input costs
    as much as a few operations on it).
    """
    if isinstance(x, TracerBase):
        return x  # a value of an enclosing transformation (nesting)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what} is a bool; differentiate with respect to floats")
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(x)
        except ValueError:  # ragged: e.g. a tuple of parameters of different shapes
            raise TypeError(
                f"{what} is a {type(x).__name__} of differently shaped items; "
                "autodiff_lite differentiates with respect to one array per argument: "
                "pass them as separate arguments, f(w1, w2), with argnums=(0, 1)"
            ) from None
        if arr.dtype.kind in "iuf":
            return arr.astype(np.float64, copy=copy)
        if arr.dtype.kind == "b":  # as for a bool: a mask is not a variable
            raise TypeError(f"{what} is an array of bools; differentiate with respect "
                            "to floats (a mask belongs in an argument not in argnums)")
        raise TypeError(f"{what} has dtype {arr.dtype}; autodiff_lite works with "
                        "float64 arrays")
    raise TypeError(f"{what} is a {type(x).__name__}; autodiff_lite differentiates "
                    "functions of floats and float64 NumPy arrays")


def _as_output(v: Any, like: Any) -> Any:
    """Give a result the type of the input it belongs to (float in, float out; a
    0-d array in, a 0-d array out, as in JAX)."""
    if isinstance(v, TracerBase) or np.ndim(v) != 0:
        return v
    if type(like) is float:
        return float(v)
    if isinstance(like, np.ndarray):
        return np.asarray(v)
    return v


def _checked_output(out: Any, name: str) -> Any:
    """`out` if it is something to differentiate (a number, an array or a traced
    value); a TypeError that says what went wrong otherwise."""
    if isinstance(out, (TracerBase, float, np.floating, np.ndarray)) or (
            isinstance(out, (int, np.integer)) and not isinstance(out, (bool, np.bool_))):
        return out
    if out is None:
        what, hint = "None", " (did it forget to `return` its result?)"
    elif isinstance(out, (tuple, list, dict)):
        what, hint = f"a {type(out).__name__}", (
            ": one value, not several (autodiff_lite has no has_aux; compute anything "
            "else in a separate call)")
    else:
        what, hint = f"a {type(out).__name__}", ""
    raise TypeError(f"{name}: the function returned {what}; it must return a number or "
                    f"an array{hint}")


def _one_argnum(argnums: Any) -> bool:
    """Whether `argnums` names one argument (results unwrapped) rather than a tuple."""
    return isinstance(argnums, (int, np.integer)) and not isinstance(argnums, (bool, np.bool_))


def _argnums(argnums: Any, nargs: int, name: str) -> tuple[int, ...]:
    """`argnums` (an int or a sequence of ints) as a tuple of indices in range."""
    if _one_argnum(argnums):
        nums: tuple = (int(argnums),)
    elif isinstance(argnums, (tuple, list)) and argnums and all(map(_one_argnum, argnums)):
        nums = tuple(int(i) for i in argnums)
    else:
        raise TypeError(f"{name}: argnums must be an int or a tuple of ints, "
                        f"got {argnums!r}")
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{name}: argnums={argnums!r} but the function was called "
                             f"with {nargs} positional argument(s); argnums counts "
                             "positional arguments from 0")
    nums = tuple(i % nargs for i in nums)
    if len(set(nums)) < len(nums):
        raise ValueError(f"{name}: argnums={argnums!r} names an argument twice; name "
                         "each argument once")
    return nums


# ------------------------------------------------------------------ forward mode

def jvp(f: Function, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """(f(*primals), J·tangents): one forward pass with dual numbers."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents must be "
                        "tuples, e.g. jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    trace = ForwardTrace()
    duals = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p, t = as_input(p, f"primal {i}"), as_input(t, f"tangent {i}")
        if shape(p) != shape(t):
            raise ValueError(f"jvp: tangent {i} has shape {shape(t)} but primal {i} "
                             f"has shape {shape(p)}; they must match")
        duals.append(Dual(p, t, trace))
    try:
        with running(trace):
            out = _checked_output(f(*duals), "jvp")
    finally:
        trace.done = True
    if type(out) is Dual and out._trace is trace:
        return out.primal, out.tangent
    if isinstance(out, TracerBase) and out._trace.done:
        raise escaped()  # a dual number kept from an earlier call
    return out, np.zeros(shape(out)) if shape(out) else 0.0


def derivative(f: Function) -> Function:
    """f' for a function of one scalar, by forward mode (one pass)."""

    @functools.wraps(f)
    def df(x: Any) -> Any:
        x = as_input(x)
        if shape(x) != ():
            raise TypeError(f"derivative: x has shape {shape(x)}; derivative is for a "
                            "scalar x. Use jacfwd(f)(x) for a Jacobian or "
                            "jvp(f, (x,), (v,)) for a directional derivative")
        return _as_output(jvp(f, (x,), (1.0,))[1], x)

    return df


def _unit_vectors(shape_: tuple[int, ...]) -> Iterator[Any]:
    """e_0, e_1, ... of an array of `shape_`, in row-major order (1.0 for a scalar)."""
    n = int(np.prod(shape_))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        yield e.reshape(shape_) if shape_ else 1.0


def _of_one_argument(f: Function, args: Sequence[Any], i: int,
                     kwargs: dict | None = None) -> Function:
    """f as a function of its i-th argument alone, the others held fixed."""
    return lambda xi: f(*args[:i], xi, *args[i + 1:], **(kwargs or {}))


def _per_argument(jac_of: Callable[[Function, Any], Any], f: Function,
                  argnums: int | Sequence[int], name: str) -> Function:
    """The Jacobian `jac_of(f_i, x_i)` for each argument i in argnums (a tuple of
    them when argnums is a tuple, as in JAX)."""

    @functools.wraps(f)
    def jac(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), name)
        jacs = tuple(jac_of(_of_one_argument(f, args, i, kwargs), as_input(args[i]))
                     for i in nums)
        return jacs[0] if _one_argnum(argnums) else jacs

    return jac


def _jacfwd_of(f: Function, x: Any) -> Any:
    xs = shape(x)
    if 0 in xs:  # no entries, no columns: the Jacobian is empty
        return np.zeros(shape(f(x)) + xs)
    outs, columns = zip(*(jvp(f, (x,), (e,)) for e in _unit_vectors(xs)))
    if not xs:
        return _as_output(columns[0], x)
    return reshape(stack(columns, axis=-1), shape(outs[0]) + xs)


def jacfwd(f: Function, argnums: int | Sequence[int] = 0) -> Function:
    """Jacobian by forward mode: one JVP per input entry; shape out + in."""
    return _per_argument(_jacfwd_of, f, argnums, "jacfwd")


# ------------------------------------------------------------------ reverse mode

def trace(f: Function, *args: Any) -> Tape:
    """Run f on `args` and return its tape: the inputs, then one node per primitive."""
    tape = Tape()
    boxes = [tape.new_input(as_input(a, f"argument {i}")) for i, a in enumerate(args)]
    with running(tape):
        out = f(*boxes)
    tape.set_output(out)
    return tape


def _reverse(f: Function, args: tuple, argnums: tuple[int, ...], kwargs: dict, name: str,
             copy: bool = True) -> tuple[Tape, list[Any]]:
    tape = Tape(lean=True)  # keeps only what the backward sweep reads
    args_ = list(args)
    xs = []
    for i in argnums:
        x = as_input(args_[i], f"argument {i}", copy)
        xs.append(x)
        args_[i] = tape.new_input(x)
    with running(tape):
        out = f(*args_, **kwargs)
    tape.set_output(_checked_output(out, name))
    return tape, xs


def check_scalar_output(value: Any, who: str) -> None:
    """Refuse a non-scalar output where a gradient is asked for, saying what to do."""
    if shape(value) != ():
        raise TypeError(
            f"{who} requires a function with a scalar output, but it returned "
            f"shape {shape(value)}. Reduce it (e.g. anp.sum), or use jacrev(f) for "
            "the full Jacobian or vjp(f, x) for a vector-Jacobian product")


def value_and_grad(f: Function, argnums: int | Sequence[int] = 0) -> Function:
    """(f(*args), ∇f(*args)) in one forward and one backward pass."""

    @functools.wraps(f)
    def vg(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "grad")
        tape, xs = _reverse(f, args, nums, kwargs, "grad", copy=False)  # the tape dies here
        check_scalar_output(tape.output_value, "grad")
        grads = [_as_output(g, x) for g, x in zip(tape.input_adjoints(1.0), xs)]
        value = tape.output_value
        return value, (grads[0] if _one_argnum(argnums) else tuple(grads))

    return vg


def grad(f: Function, argnums: int | Sequence[int] = 0) -> Function:
    """∇f by reverse mode; f must return a scalar. Float in, float out."""
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def g(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return g


def vjp(f: Function, *primals: Any) -> tuple[Any, Callable[[Any], tuple]]:
    """(f(*primals), vjp_fn) where vjp_fn(ct) = ctᵀ·J, one tuple entry per primal.

    vjp_fn reads the tape f left: the primals are copies, but arrays f used as
    constants (a data matrix it closed over) are kept as they are, not copied,
    as in autograd; change one in place and a later vjp_fn call sees the change.
    """
    tape, xs = _reverse(f, primals, tuple(range(len(primals))), {}, "vjp")
    out = tape.output_value

    def vjp_fn(ct: Any) -> tuple:
        ct = as_input(ct, "cotangent")
        if shape(ct) != shape(out):
            raise ValueError(f"vjp_fn: the cotangent has shape {shape(ct)} but f's "
                             f"output has shape {shape(out)}; they must match")
        return tuple(_as_output(g, x) for g, x in zip(tape.input_adjoints(ct), xs))

    return out, vjp_fn


def _jacrev_of(f: Function, x: Any) -> Any:
    out, pullback = vjp(f, x)
    if 0 in shape(out):  # no entries, no rows: the Jacobian is empty
        return np.zeros(shape(out) + shape(x))
    rows = [pullback(e)[0] for e in _unit_vectors(shape(out))]
    if not shape(out):
        return rows[0]
    return reshape(stack(rows, axis=0), shape(out) + shape(x))


def jacrev(f: Function, argnums: int | Sequence[int] = 0) -> Function:
    """Jacobian by reverse mode: one VJP per output entry; shape out + in."""
    return _per_argument(_jacrev_of, f, argnums, "jacrev")


def hessian(f: Function, argnums: int = 0) -> Function:
    """Matrix of second derivatives in one argument: jacfwd(jacrev(f)) (forward over
    reverse); shape out + in + in."""
    if not _one_argnum(argnums):
        raise TypeError(f"hessian: argnums must be one int (the Hessian in one argument), "
                        f"got {argnums!r}")
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Function, x: Any, v: Any) -> Any:
    """Hessian-vector product ∇²f(x)·v without forming the Hessian (forward over reverse)."""
    return jvp(grad(f), (x,), (v,))[1]
