"""The rule table: every primitive's value, JVP rule and VJP rule, in one place.

If you want to know the derivative of `tanh`, this is the only file to read. Each
row of `RULES` names a primitive, the function that computes its value, a JVP rule
per argument (forward mode) and a VJP rule per argument (reverse mode):

    jvp[i](t, z, *args)  tangent of the output from a tangent t of argument i
    vjp[i](g, z, *args)  cotangent of argument i from the output cotangent g

where z is the output value. Rules use only the traced functions defined below
(and Python operators), so the derivative code can itself be differentiated.

Broadcasting is handled by the engines, not here: a VJP result is summed back to
its argument's shape (`sum_to`), a JVP result is broadcast to the output's shape.
Values follow NumPy's semantics, including at domain edges: log(0) is -inf and
log(-1) is nan (with NumPy's RuntimeWarning), sqrt has an infinite derivative at
0, and abs, maximum and minimum split the derivative evenly at a tie/kink of 0.
Python floats stay Python floats (a fast path through `math`), arrays stay arrays.
"""

from __future__ import annotations

import math
import operator
from functools import partial
from typing import Any, Callable

import numpy as np

from .core import NO_PARAMS, Primitive, TracerBase, bind, ndim, primal, shape

# ---------------------------------------------------------------- value functions


def _float_or_numpy(math_fn: Callable, np_fn: Callable) -> Callable[[Any], Any]:
    """Use `math` on Python floats (fast), NumPy otherwise and at domain edges."""

    def impl(x: Any) -> Any:
        if type(x) is float:
            try:
                return math_fn(x)
            except (ValueError, OverflowError):
                return float(np_fn(x))
        return np_fn(x)

    impl.__name__ = np_fn.__name__
    return impl


def _pick_or_numpy(x_wins: Callable[[float, float], bool],
                   np_fn: Callable) -> Callable[[Any, Any], Any]:
    """NumPy's maximum or minimum, keeping Python floats floats: x if it wins or is
    NaN, else y (so a tie gives y, as NumPy's does, signed zeros included)."""

    def impl(x: Any, y: Any) -> Any:
        if type(x) is float and type(y) is float:
            return x if x_wins(x, y) or x != x else y
        return np_fn(x, y)

    impl.__name__ = np_fn.__name__
    return impl


def _binary_or_numpy(op: Callable, np_fn: Callable) -> Callable[[Any, Any], Any]:
    """Python's operator where it agrees with NumPy; NumPy where Python would raise."""

    def impl(x: Any, y: Any) -> Any:
        try:
            z = op(x, y)
        except (ZeroDivisionError, OverflowError, ValueError):
            z = np_fn(x, y)
            return float(z) if np.ndim(z) == 0 and not isinstance(x, np.ndarray) else z
        if type(z) is complex:  # (-8.0) ** (1/3) in Python; NumPy says nan
            return float(np_fn(x, y))
        return z

    impl.__name__ = np_fn.__name__
    return impl


def _sigmoid(x: Any) -> Any:
    # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x)).
    if type(x) is float:
        return 0.5 * math.tanh(0.5 * x) + 0.5
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _logsumexp_saving(x, axis, keepdims)[0]


def _logsumexp_saving(x: Any, axis: Any = None,
                      keepdims: bool = False) -> tuple[Any, tuple[Any, Any]]:
    """log Σ exp(x) along `axis`, and r = (exp(x - max), its sum with kept
    dimensions): the softmax is their ratio, so a VJP given r needs no exp."""
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(x - m)
    s = np.sum(e, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):  # every entry -inf: the sum is 0, its log -inf
        out = np.log(s) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return (out if out.ndim else float(out)), (e, s)


def _sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    out = np.sum(x, axis=axis, keepdims=keepdims)
    return out if np.ndim(out) else float(out)


def _prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    out = np.prod(x, axis=axis, keepdims=keepdims)
    return out if np.ndim(out) else float(out)


def broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """Whether NumPy broadcasts an array of shape `small` to shape `big`."""
    lead = len(big) - len(small)
    return lead >= 0 and all(n == 1 or n == m for n, m in zip(small, big[lead:]))


def _sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum `x` down to `shape`, undoing NumPy broadcasting (the 'unbroadcast').

    Only a shape that `shape` broadcasts to can be undone: anything else (a
    transposed or scalar cotangent from a wrong VJP rule) is refused rather than
    reshaped into numbers in the wrong places.
    """
    xs = np.shape(x)
    if not broadcasts(shape, xs):
        raise ValueError(f"cannot sum an array of shape {xs} down to shape {shape}: "
                         f"{shape} does not broadcast to {xs}")
    lead = len(xs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and xs[lead + i] != 1)
    out = np.sum(x, axis=axes, keepdims=True) if axes else np.asarray(x)
    out = out.reshape(shape)
    return out if shape else float(out)


def _broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return np.array(np.broadcast_to(x, shape))


def _getitem(x: Any, index: Any) -> Any:
    out = np.asarray(x)[index]
    return out if np.ndim(out) else float(out)


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice, np.integer))
               for p in parts)


def _untake(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Scatter-add `g` into zeros of `shape` at `index` (the adjoint of indexing)."""
    out = np.zeros(shape)
    if _is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)  # repeated indices add up
    return out


def _where(c: Any, x: Any, y: Any) -> Any:
    out = np.where(c, x, y)
    return out if out.ndim else float(out)


def _reshape(x: Any, shape: tuple[int, ...]) -> Any:
    out = np.reshape(x, shape)
    return out if out.ndim else float(out)


def _matmul(a: Any, b: Any) -> Any:
    out = np.matmul(a, b)
    return out if np.ndim(out) else float(out)


def _sign(x: Any) -> Any:
    out = np.sign(x)
    return out if np.ndim(out) else float(out)


# ------------------------------------------------------ traced functions (the ops)
# Thin wrappers that route a call through `bind`; rules below are written with
# them. `autodiff_lite.numpy` re-exports them under NumPy's names. Those of one
# and two arguments (exp, tanh, add, maximum, ...) are made by `_unary` and
# `_binary` after the table.


def where(condition: Any, x: Any, y: Any) -> Any:
    """`x` where `condition` holds, else `y`; the condition is not differentiated."""
    return bind(where_p, primal(condition), x, y)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return bind(sum_p, x, axis=reduction_axis(x, axis), keepdims=keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product of entries; its gradient is exact when entries are zero."""
    return bind(prod_p, x, axis=reduction_axis(x, axis), keepdims=keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) computed stably; its gradient is the softmax."""
    return bind(logsumexp_p, x, axis=reduction_axis(x, axis), keepdims=keepdims)


def matmul(a: Any, b: Any) -> Any:
    # A list constant becomes an array here: its rules transpose and multiply it.
    a, b = (v if isinstance(v, (TracerBase, np.ndarray)) else np.asarray(v) for v in (a, b))
    if ndim(a) == 0 or ndim(b) == 0:
        raise ValueError("matmul: scalars are not allowed (as in NumPy); "
                         "use multiply or `*` for a scalar times an array")
    return bind(matmul_p, a, b)


def transpose(x: Any, axes: Any = None) -> Any:
    nd = ndim(x)
    axes = (tuple(reversed(range(nd))) if axes is None
            else tuple(_norm_axis(operator.index(a), nd) for a in axes))
    return bind(transpose_p, x, axes=axes)


def reshape(x: Any, newshape: Any) -> Any:
    newshape = ((operator.index(newshape),) if np.ndim(newshape) == 0  # NumPy ints too
                else tuple(map(operator.index, newshape)))
    if newshape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1 (unknown), not {newshape}")
    size = int(np.prod(shape(x)))
    known = int(np.prod([n for n in newshape if n != -1]))
    # a -1 needs one length that fits (none after a 0, none if known does not divide)
    fits = (known != 0 and size % known == 0) if -1 in newshape else known == size
    if not fits:
        raise ValueError(f"cannot reshape an array of shape {shape(x)} "
                         f"(size {size}) into shape {newshape}")
    if -1 in newshape:
        newshape = tuple(size // known if n == -1 else n for n in newshape)
    return bind(reshape_p, x, shape=newshape)


def broadcast_to(x: Any, shape_: Any) -> Any:
    shape_ = tuple(shape_)
    if shape(x) == shape_:
        return x
    return bind(broadcast_to_p, x, shape=shape_)


def sum_to(x: Any, shape_: tuple[int, ...]) -> Any:
    """Sum `x` down to `shape_`: how a broadcast argument collects its gradient."""
    if shape(x) == tuple(shape_):
        return x
    return bind(sum_to_p, x, shape=tuple(shape_))


def getitem(x: Any, index: Any) -> Any:
    return bind(getitem_p, x, index=_plain_index(index))


def untake(g: Any, index: Any, shape_: tuple[int, ...]) -> Any:
    """Zeros of `shape_` with `g` added at `index`: the adjoint of `getitem`."""
    return bind(untake_p, g, index=index, shape=tuple(shape_))


def concatenate(arrays: Any, axis: int | None = 0) -> Any:
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("concatenate needs at least one array")
    if axis is None:  # as in NumPy: flatten each array first
        arrays, axis = tuple(reshape(a, (-1,)) for a in arrays), 0
    return bind(concatenate_p, *arrays, axis=_norm_axis(axis, ndim(arrays[0])))


def stack(arrays: Any, axis: int = 0) -> Any:
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("stack needs at least one array")
    shapes = {shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all arrays must have the same shape, got {sorted(shapes)}")
    return bind(stack_p, *arrays, axis=_norm_axis(axis, ndim(arrays[0]) + 1))


# ------------------------------------------------------------------ rule helpers


def axis_argument(axis: Any) -> Any:
    """An `axis` as NumPy takes it, in one form: None, an int or a tuple of ints
    (from a NumPy integer or a list too), so that rules can test its type."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(operator.index(a) for a in axis)
    return operator.index(axis)


def reduction_axis(x: Any, axis: Any) -> Any:
    """`axis_argument` for a reduction of x: axis 0 or -1 of a 0-d x is the whole
    of it, as NumPy's sum, prod, max and min take it (rules then see no axis
    that a 0-d shape cannot index); an axis out of x's range is refused here."""
    axis = axis_argument(axis)
    nd = ndim(x)
    if nd == 0 and axis in (0, -1):
        return None
    if axis is not None:
        normalized_axes(axis, nd)
    return axis


def normalized_axes(axis: int | tuple[int, ...], nd: int) -> tuple[int, ...]:
    """The axes of an `axis_argument` (an int or a tuple) as indices 0..nd-1;
    one out of range is NumPy's AxisError."""
    return tuple(_norm_axis(a, nd) for a in ((axis,) if isinstance(axis, int) else axis))


def _norm_axis(axis: int, nd: int) -> int:
    if not -nd <= axis < nd:  # NumPy's error: a ValueError and an IndexError
        raise np.exceptions.AxisError(axis, nd)
    return axis % nd


def _plain_index(index: Any) -> Any:
    """Indices are data, never differentiated: strip tracers from them."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, list):
        return np.asarray([primal(i) for i in index])
    return primal(index)


def _expand_reduced(g: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """Reshape a reduction's output (or its cotangent) so it broadcasts against x."""
    if keepdims or axis is None:  # already broadcasts (a scalar, or kept dims)
        return g
    axes = (axis,) if isinstance(axis, int) else axis
    xs = shape(x)
    axes = {a % len(xs) for a in axes}
    return reshape(g, tuple(1 if i in axes else n for i, n in enumerate(xs)))


def _sum_vjp(g: Any, z: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return broadcast_to(_expand_reduced(g, x, axis, keepdims), shape(x))


def _exclusive_prod(x: Any, axis: Any, scale: Any = 1.0) -> Any:
    """For every entry, `scale` times the product of the *other* entries along `axis`.

    No division, so it is exact when entries are zero. Plain arrays use prefix and
    suffix products (two cumprods, the forward-backward dynamic programme); traced
    values (higher derivatives) use the same idea by halving, with traced ops.
    `scale` (a scalar, or shaped like a keepdims reduction of x) multiplies the
    result: the output cotangent, folded in here rather than by the caller.
    """
    xs = shape(x)
    nd = len(xs)
    axes = tuple(range(nd)) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = tuple(sorted(a % nd for a in axes))
    keep = tuple(a for a in range(nd) if a not in axes)
    perm = keep + axes
    batch = tuple(xs[a] for a in keep)
    m = int(np.prod([xs[a] for a in axes]))
    flat = reshape(transpose(x, perm), batch + (m,))
    if shape(scale):
        scale = reshape(transpose(scale, perm), batch + (1,))
    if isinstance(flat, TracerBase) or isinstance(scale, TracerBase):
        others = _exclusive_prod_last(flat, scale)
    else:  # written into two buffers: the product of 1e5 numbers is memory-bound
        prefix, suffix = np.empty(batch + (m,)), np.empty(batch + (m,))
        prefix[..., :1] = suffix[..., :1] = 1.0
        np.cumprod(flat[..., :-1], axis=-1, out=prefix[..., 1:])
        np.cumprod(flat[..., :0:-1], axis=-1, out=suffix[..., 1:])  # from the end
        others = np.multiply(prefix, suffix[..., ::-1], out=prefix)
        if not (type(scale) is float and scale == 1.0):
            others *= scale
    back = reshape(others, tuple(xs[a] for a in perm))
    return transpose(back, _inverse_axes(perm))


def _exclusive_prod_last(x: Any, scale: Any) -> Any:
    """`_exclusive_prod` along the last axis with traced ops: pair up, recurse."""
    xs = shape(x)
    n = xs[-1]
    if n == 1:
        return broadcast_to(scale, xs)
    if n % 2:
        x = concatenate([x, np.ones(xs[:-1] + (1,))], axis=-1)
    pairs = reshape(x, xs[:-1] + ((n + 1) // 2, 2))
    a = getitem(pairs, (Ellipsis, 0))
    b = getitem(pairs, (Ellipsis, 1))
    rest = _exclusive_prod_last(a * b, scale)  # (scaled) product of every other pair
    out = reshape(stack([rest * b, rest * a], axis=-1), xs[:-1] + (2 * ((n + 1) // 2),))
    return getitem(out, (Ellipsis, slice(0, n)))


def _prod_vjp(g: Any, z: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _exclusive_prod(x, axis, _expand_reduced(g, x, axis, keepdims))


def _logsumexp_vjp(g: Any, z: Any, x: Any, axis: Any = None,
                   keepdims: bool = False) -> Any:
    zx = _expand_reduced(z, x, axis, keepdims)
    return _expand_reduced(g, x, axis, keepdims) * exp(x - zx)


def _logsumexp_jvp(t: Any, z: Any, x: Any, axis: Any = None,
                   keepdims: bool = False) -> Any:
    return sum(t * exp(x - _expand_reduced(z, x, axis, keepdims)), axis, keepdims)


# logsumexp recorded with r = (exp(x - max), its sum) saved (Primitive.saving):
# its arguments are (r, x); the softmax is r[0] / r[1]
_LOGSUMEXP_SAVED = Primitive(
    "logsumexp", lambda r, x, axis=None, keepdims=False: _logsumexp(x, axis, keepdims),
    (None, lambda t, z, r, x, axis=None, keepdims=False: sum(t * (r[0] / r[1]), axis, keepdims)),
    (None, lambda g, z, r, x, axis=None, keepdims=False:
     _expand_reduced(g, r[0], axis, keepdims) / r[1] * r[0]))


def _tie_share(x: Any, y: Any) -> Any:
    """1 where x wins, 0.5 at a tie, 0 where y wins (computed on primal values)."""
    xp, yp = primal(x), primal(y)
    share = (np.asarray(xp > yp, dtype=float) + 0.5 * np.asarray(xp == yp, dtype=float))
    return share if np.ndim(share) else float(share)


def _swap_last(a: Any) -> Any:
    nd = ndim(a)
    axes = tuple(range(nd - 2)) + (nd - 1, nd - 2)
    return transpose(a, axes)


def _matmul_vjp_a(g: Any, z: Any, a: Any, b: Any) -> Any:
    if ndim(b) == 1:  # z = a @ b contracts b away: ga[..., i, k] = g[..., i] * b[k]
        return reshape(g, shape(g) + (1,)) * b
    if ndim(a) == 1:  # a is a row: ga[k] = sum_m b[..., k, m] g[..., m]
        gcol = reshape(g, shape(g)[:-1] + (shape(g)[-1], 1))
        out = matmul(b, gcol)
        return reshape(out, shape(out)[:-1])
    return matmul(g, _swap_last(b))


def _matmul_vjp_b(g: Any, z: Any, a: Any, b: Any) -> Any:
    if ndim(a) == 1:  # gb[..., k, m] = a[k] * g[..., m]
        if ndim(b) == 1:
            return g * a
        return reshape(a, (shape(a)[0], 1)) * reshape(g, shape(g)[:-1] + (1, shape(g)[-1]))
    if ndim(b) == 1:  # gb[k] = sum_i a[..., i, k] g[..., i]
        grow = reshape(g, shape(g) + (1,))
        out = matmul(_swap_last(a), grow)
        return reshape(out, shape(out)[:-1])
    return matmul(_swap_last(a), g)


def _inverse_axes(axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(axes))


def _concat_piece(i: int, g: Any, z: Any, *arrays: Any, axis: int) -> Any:
    return getitem(g, (slice(None),) * axis + (slice(*_block(i, arrays, axis)),))


def _stack_piece(i: int, g: Any, z: Any, *arrays: Any, axis: int) -> Any:
    return getitem(g, (slice(None),) * axis + (i,))


class EveryArgument:
    """Rule column for a primitive with any number of arguments (concatenate)."""

    __slots__ = ("rule",)

    def __init__(self, rule: Callable[..., Any]) -> None:
        self.rule = rule

    def __getitem__(self, i: int) -> Callable[..., Any]:
        return partial(self.rule, i)


def _concat_jvp(i: int, t: Any, z: Any, *arrays: Any, axis: int) -> Any:
    # Tangent of the output: t in argument i's block, zeros elsewhere.
    return untake(t, (slice(None),) * axis + (slice(*_block(i, arrays, axis)),), shape(z))


def _block(i: int, arrays: tuple, axis: int) -> tuple[int, int]:
    start = int(np.sum([shape(a)[axis] for a in arrays[:i]], dtype=int))
    return start, start + shape(arrays[i])[axis]


def _stack_jvp(i: int, t: Any, z: Any, *arrays: Any, axis: int) -> Any:
    return untake(t, (slice(None),) * axis + (i,), shape(z))


# -------------------------------------------------------------------- the table


def _slope_exponent(x: Any, y: Any) -> Any:
    """y - 1, the exponent in the slope y·x**(y-1) of x**y; 1 where y is 0, so that
    the slope of x**0 is 0·x = 0 even at x = 0 (not 0·inf = nan).

    A traced y is replaced only where x is 0 as well: elsewhere the slope's own
    derivative with respect to y, x**(y-1)·(1 + y·log x), needs the y in y - 1
    (a constant 1 there would make the mixed second derivative x instead of 1/x).
    """
    if type(y) is float or type(y) is int:
        return y - 1.0 if y != 0 else 1.0
    return where((primal(y) == 0) & (primal(x) == 0), 1.0, y - 1.0)


def unchanged(g: Any, z: Any, x: Any, y: Any) -> Any:
    """The rule of add (and of subtract's first argument) in both columns: the
    tangent or cotangent passes through as it is. The float paths of the
    engines recognise it (`rule is unchanged`) and skip the call."""
    return g


RULES: dict[str, Primitive] = {p.name: p for p in [
    # name, value,                     JVP per argument,               VJP per argument
    # (+, - and * on Python floats never raise and agree with NumPy: plain operators)
    Primitive("add", operator.add, (unchanged, unchanged), (unchanged, unchanged)),
    Primitive("subtract", operator.sub,
          (unchanged, lambda t, z, x, y: -t), (unchanged, lambda g, z, x, y: -g)),
    Primitive("multiply", operator.mul,
          (lambda t, z, x, y: t * y, lambda t, z, x, y: x * t),
          (lambda g, z, x, y: g * y, lambda g, z, x, y: x * g)),
    Primitive("true_divide", _binary_or_numpy(operator.truediv, np.true_divide),
          (lambda t, z, x, y: true_divide(t, y), lambda t, z, x, y: true_divide(-t * z, y)),
          (lambda g, z, x, y: true_divide(g, y), lambda g, z, x, y: true_divide(-g * z, y))),
    Primitive("power", _binary_or_numpy(operator.pow, np.power),
          (lambda t, z, x, y: t * y * power(x, _slope_exponent(x, y)),
           lambda t, z, x, y: t * z * log(where(primal(x) == 0, 1.0, x))),
          (lambda g, z, x, y: g * y * power(x, _slope_exponent(x, y)),
           lambda g, z, x, y: g * z * log(where(primal(x) == 0, 1.0, x)))),
    Primitive("negative", _float_or_numpy(operator.neg, np.negative),
          (lambda t, z, x: -t,), (lambda g, z, x: -g,)),
    Primitive("exp", _float_or_numpy(math.exp, np.exp),
          (lambda t, z, x: t * z,), (lambda g, z, x: g * z,)),
    Primitive("log", _float_or_numpy(math.log, np.log),
          (lambda t, z, x: true_divide(t, x),), (lambda g, z, x: true_divide(g, x),)),
    Primitive("log1p", _float_or_numpy(math.log1p, np.log1p),
          (lambda t, z, x: true_divide(t, 1.0 + x),),
          (lambda g, z, x: true_divide(g, 1.0 + x),)),
    Primitive("sin", _float_or_numpy(math.sin, np.sin),
          (lambda t, z, x: t * cos(x),), (lambda g, z, x: g * cos(x),)),
    Primitive("cos", _float_or_numpy(math.cos, np.cos),
          (lambda t, z, x: -t * sin(x),), (lambda g, z, x: -g * sin(x),)),
    Primitive("tan", _float_or_numpy(math.tan, np.tan),
          (lambda t, z, x: t * (1.0 + z * z),), (lambda g, z, x: g * (1.0 + z * z),)),
    Primitive("tanh", _float_or_numpy(math.tanh, np.tanh),
          (lambda t, z, x: t * (1.0 - z * z),), (lambda g, z, x: g * (1.0 - z * z),)),
    Primitive("sqrt", _float_or_numpy(math.sqrt, np.sqrt),
          (lambda t, z, x: true_divide(0.5 * t, z),), (lambda g, z, x: true_divide(0.5 * g, z),)),
    Primitive("absolute", _float_or_numpy(abs, np.absolute),
          (lambda t, z, x: t * sign(x),), (lambda g, z, x: g * sign(x),)),
    Primitive("sign", _sign, (None,), (None,)),
    Primitive("sigmoid", _sigmoid,
          (lambda t, z, x: t * z * (1.0 - z),), (lambda g, z, x: g * z * (1.0 - z),)),
    Primitive("maximum", _pick_or_numpy(operator.gt, np.maximum),
          (lambda t, z, x, y: t * _tie_share(x, y), lambda t, z, x, y: t * _tie_share(y, x)),
          (lambda g, z, x, y: g * _tie_share(x, y), lambda g, z, x, y: g * _tie_share(y, x))),
    Primitive("minimum", _pick_or_numpy(operator.lt, np.minimum),
          (lambda t, z, x, y: t * _tie_share(y, x), lambda t, z, x, y: t * _tie_share(x, y)),
          (lambda g, z, x, y: g * _tie_share(y, x), lambda g, z, x, y: g * _tie_share(x, y))),
    Primitive("where", _where,
          (None, lambda t, z, c, x, y: where(c, t, 0.0), lambda t, z, c, x, y: where(c, 0.0, t)),
          (None, lambda g, z, c, x, y: where(c, g, 0.0), lambda g, z, c, x, y: where(c, 0.0, g))),
    Primitive("sum", _sum,
          (lambda t, z, x, axis=None, keepdims=False: sum(t, axis, keepdims),),
          (_sum_vjp,)),
    Primitive("prod", _prod,
          (lambda t, z, x, axis=None, keepdims=False:
           sum(t * _exclusive_prod(x, axis), axis, keepdims),),
          (_prod_vjp,)),
    Primitive("logsumexp", _logsumexp, (_logsumexp_jvp,), (_logsumexp_vjp,),
              saving=(_logsumexp_saving, _LOGSUMEXP_SAVED)),
    Primitive("matmul", _matmul,
          (lambda t, z, a, b: matmul(t, b), lambda t, z, a, b: matmul(a, t)),
          (_matmul_vjp_a, _matmul_vjp_b)),
    Primitive("transpose", lambda x, axes: np.transpose(x, axes),
          (lambda t, z, x, axes: transpose(t, axes),),
          (lambda g, z, x, axes: transpose(g, _inverse_axes(axes)),)),
    Primitive("reshape", _reshape,
          (lambda t, z, x, shape: reshape(t, shape),),
          (lambda g, z, x, shape: reshape(g, _shape_of(x)),)),
    Primitive("broadcast_to", _broadcast_to,
          (lambda t, z, x, shape: broadcast_to(t, shape),),
          (lambda g, z, x, shape: sum_to(g, _shape_of(x)),)),
    Primitive("sum_to", _sum_to,
          (lambda t, z, x, shape: sum_to(t, shape),),
          (lambda g, z, x, shape: broadcast_to(g, _shape_of(x)),)),
    Primitive("getitem", _getitem,
          (lambda t, z, x, index: getitem(t, index),),
          (lambda g, z, x, index: untake(g, index, _shape_of(x)),)),
    Primitive("untake", _untake,
          (lambda t, z, g, index, shape: untake(t, index, shape),),
          (lambda h, z, g, index, shape: getitem(h, index),)),
    Primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis),
          EveryArgument(_concat_jvp), EveryArgument(_concat_piece)),
    Primitive("stack", lambda *xs, axis: np.stack(xs, axis),
          EveryArgument(_stack_jvp), EveryArgument(_stack_piece)),
]}


def _shape_of(x: Any) -> tuple[int, ...]:
    return shape(x)


# Each primitive as a module constant (JAX's naming: add_p, ...): the traced
# functions above and the tracer's operators bind these without a table lookup.
add_p = RULES["add"]
subtract_p = RULES["subtract"]
multiply_p = RULES["multiply"]
true_divide_p = RULES["true_divide"]
power_p = RULES["power"]
negative_p = RULES["negative"]
exp_p = RULES["exp"]
log_p = RULES["log"]
log1p_p = RULES["log1p"]
sin_p = RULES["sin"]
cos_p = RULES["cos"]
tan_p = RULES["tan"]
tanh_p = RULES["tanh"]
sqrt_p = RULES["sqrt"]
absolute_p = RULES["absolute"]
sign_p = RULES["sign"]
sigmoid_p = RULES["sigmoid"]
maximum_p = RULES["maximum"]
minimum_p = RULES["minimum"]
where_p = RULES["where"]
sum_p = RULES["sum"]
prod_p = RULES["prod"]
logsumexp_p = RULES["logsumexp"]
matmul_p = RULES["matmul"]
transpose_p = RULES["transpose"]
reshape_p = RULES["reshape"]
broadcast_to_p = RULES["broadcast_to"]
sum_to_p = RULES["sum_to"]
getitem_p = RULES["getitem"]
untake_p = RULES["untake"]
concatenate_p = RULES["concatenate"]
stack_p = RULES["stack"]


def _unary(prim: Primitive, doc: str | None = None) -> Callable[[Any], Any]:
    """The traced function of a one-argument primitive: `bind`, spelled out.

    These run once per operation of scalar code (tanh, exp, ...), where the
    extra call through `bind` is a sixth of what recording the operation costs.
    """
    impl = prim.impl

    def op(x: Any) -> Any:
        if isinstance(x, TracerBase):
            return x._trace.process(prim, (x,), NO_PARAMS)
        return impl(x)

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = doc
    return op


def _binary(prim: Primitive) -> Callable[[Any, Any], Any]:
    """The traced function of a two-argument primitive: `bind`, named."""

    def op(x: Any, y: Any) -> Any:
        return bind(prim, x, y)

    op.__name__ = op.__qualname__ = prim.name
    return op


add, subtract, multiply, true_divide, power, maximum, minimum = map(_binary, (
    add_p, subtract_p, multiply_p, true_divide_p, power_p, maximum_p, minimum_p))
negative, exp, log, log1p = map(_unary, (negative_p, exp_p, log_p, log1p_p))
sin, cos, tan, tanh, sqrt, absolute = map(_unary, (sin_p, cos_p, tan_p, tanh_p, sqrt_p,
                                                   absolute_p))
sign = _unary(sign_p, "Sign of `x`; its derivative is zero wherever it exists, "
                      "so it is a constant.")
sigmoid = _unary(sigmoid_p, "The logistic function 1 / (1 + exp(-x)), computed "
                            "without overflow.")


# Python operators on tracers use these (see tracer.py).
OPERATORS: dict[str, Callable[..., Any]] = {
    "add": add, "subtract": subtract, "multiply": multiply, "true_divide": true_divide,
    "power": power, "negative": negative, "matmul": matmul,
}


def register(prim: Primitive) -> Primitive:
    """Add a row to the table from another module.

    For primitives whose rules are themselves transformations (the implicit
    function theorem of `fixed_point`, the recomputation of `checkpoint`): their
    rows live next to the machinery they need, but they are rows of this table,
    listed by `RULES` like every other primitive.
    """
    if prim.name in RULES:
        raise ValueError(f"a primitive named {prim.name!r} is already in the rule table")
    RULES[prim.name] = prim
    return prim
