"""NumPy-named functions that work on plain arrays and on traced values alike.

Write the function you want to differentiate with `anp` in place of `np`:

    import autodiff_lite.numpy as anp
    def f(x):
        return anp.sum(anp.tanh(x) ** 2)

Each function is a primitive from the rule table (`autodiff_lite.rules`) or a short
composition of primitives. A NumPy name that is missing here has no derivative
rule; using it raises an AttributeError that lists what is available.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..core import TracerBase as _TracerBase
from ..core import primal as _primal
from ..core import shape as _shape
from ..rules import (absolute, add, broadcast_to, concatenate, cos, exp, getitem, log,
                     log1p, logsumexp, matmul, maximum, minimum, multiply, negative,
                     power, prod, reshape, sigmoid, sign, sin, sqrt, stack, subtract,
                     sum, sum_to, tan, tanh, transpose, true_divide, untake, where)
from ..rules import axis_argument as _axis_argument
from ..rules import normalized_axes as _normalized_axes
from ..rules import reduction_axis as _reduction_axis

abs = absolute  # noqa: A001
divide = true_divide
pi = _np.pi
e = _np.e
newaxis = None


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Average over `axis`: a sum divided by the number of entries summed."""
    shape = _shape(x)
    axis = _reduction_axis(x, axis)
    axes = range(len(shape)) if axis is None else _normalized_axes(axis, len(shape))
    count = int(_np.prod([shape[a] for a in axes]))
    return true_divide(sum(x, axis, keepdims), float(count))  # 0/0 is nan, as NumPy's


def _extreme(pick: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """`pick` (np.max or np.min) along `axis`, its derivative split evenly among
    the entries that tie for it (as in JAX): written as
    best + Σ (x - best)·[x ties best] / (number of ties), with the best value and
    its places held constant, so the value is exact and the slope is the average.

    The added term is zero, and must stay so at infinities: it is a `where`, not
    a product with the mask (-inf·0 is nan), and an infinite best value is
    subtracted as 0 (inf - inf is nan; inf + inf is inf)."""
    axis = _reduction_axis(x, axis)
    v = _primal(x)
    best = pick(v, axis=axis, keepdims=True)
    ties = v == best  # nothing ties a nan: the value is nan, the slope 0
    finite_best = _np.where(_np.isfinite(best), best, 0.0)
    return (pick(v, axis=axis, keepdims=keepdims)
            + sum(where(ties, x - finite_best, 0.0), axis, keepdims)
            / _np.maximum(_np.sum(ties, axis=axis, keepdims=keepdims), 1))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """The largest entry along `axis`; tied maxima share the slope."""
    return _extreme(_np.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """The smallest entry along `axis`; tied minima share the slope."""
    return _extreme(_np.min, x, axis, keepdims)


amax, amin = max, min


def square(x: Any) -> Any:
    return x * x


def dot(a: Any, b: Any) -> Any:
    """NumPy's dot for scalars, vectors and matrices (use matmul for stacks)."""
    if len(_shape(a)) == 0 or len(_shape(b)) == 0:
        return a * b
    if len(_shape(a)) > 2 or len(_shape(b)) > 2:
        raise ValueError("dot of arrays with more than 2 dimensions is not supported; "
                         "use matmul (the @ operator), which broadcasts over stacks")
    return matmul(a, b)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along `axis`, computed stably via logsumexp."""
    return exp(x - logsumexp(x, axis=axis, keepdims=True))


def ravel(x: Any) -> Any:
    return reshape(x, (-1,))


def expand_dims(x: Any, axis: Any) -> Any:
    """x with a new axis of length 1 at `axis` (an int or a tuple, counted in the result)."""
    shape = _shape(x)
    axis = _axis_argument(axis)
    nd = len(shape) + (1 if isinstance(axis, int) else len(axis))
    new = set(_normalized_axes(axis, nd))
    if len(new) != nd - len(shape):
        raise ValueError(f"expand_dims: repeated axis in {axis}")
    rest = iter(shape)
    return reshape(x, tuple(1 if i in new else next(rest) for i in range(nd)))


def squeeze(x: Any, axis: Any = None) -> Any:
    shape = _shape(x)
    if axis is None:
        return reshape(x, tuple(n for n in shape if n != 1))
    axis = _axis_argument(axis)
    axes = set(_normalized_axes(axis, len(shape)))
    if any(shape[a] != 1 for a in axes):
        raise ValueError(f"squeeze: an axis of length other than 1 cannot be removed "
                         f"(axes {sorted(axes)} of shape {shape})")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    axes = list(range(len(_shape(x))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def array(obj: Any) -> Any:
    """Like np.array, but a (nested) list that contains traced values is stacked."""
    if isinstance(obj, _TracerBase):
        return obj
    if isinstance(obj, (list, tuple)) and any(_contains_tracer(o) for o in obj):
        return stack([array(o) for o in obj])
    return _np.array(obj, dtype=float)


def _contains_tracer(obj: Any) -> bool:
    if isinstance(obj, (list, tuple)):
        return any(_contains_tracer(o) for o in obj)
    return isinstance(obj, _TracerBase)


def zeros_like(x: Any) -> Any:
    """Zeros shaped like `x` (a constant: it does not depend on `x`)."""
    return _np.zeros(_shape(x))


def ones_like(x: Any) -> Any:
    return _np.ones(_shape(x))


def argmax(x: Any, axis: Any = None) -> Any:
    """Where the largest entry is: an index, data with no derivative."""
    return _np.argmax(_primal(x), axis=axis)


def argmin(x: Any, axis: Any = None) -> Any:
    """Where the smallest entry is: an index, data with no derivative."""
    return _np.argmin(_primal(x), axis=axis)


zeros = _np.zeros
ones = _np.ones
arange = _np.arange
linspace = _np.linspace
eye = _np.eye
shape = _shape
primal = _primal

__all__ = [
    "abs", "absolute", "add", "amax", "amin", "arange", "argmax", "argmin", "array",
    "broadcast_to",
    "concatenate", "cos", "divide", "dot", "e", "exp", "expand_dims", "eye", "getitem",
    "linspace", "log", "log1p", "logsumexp", "matmul", "max", "maximum", "mean", "min",
    "minimum", "multiply", "negative", "newaxis", "ones", "ones_like", "pi", "power",
    "prod", "ravel", "reshape", "shape", "sigmoid", "sign", "sin", "softmax", "sqrt",
    "square", "squeeze", "stack", "subtract", "sum", "sum_to", "swapaxes", "tan",
    "tanh", "transpose", "true_divide", "untake", "where", "zeros", "zeros_like",
    "primal",
]


def __getattr__(name: str) -> Any:
    if hasattr(_np, name):
        raise AttributeError(
            f"autodiff_lite.numpy has no '{name}': numpy.{name} has no derivative rule "
            f"in autodiff_lite. Available: {', '.join(sorted(__all__))}. To add one, "
            "write a row in autodiff_lite/rules.py (value, JVP, VJP)")
    raise AttributeError(f"module 'autodiff_lite.numpy' has no attribute '{name}'")
