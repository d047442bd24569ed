"""What a traced value can do: Python operators, NumPy-like attributes, clear errors.

`Dual` (forward mode) and `Box` (reverse mode) both inherit from `Tracer`, so user
code written with `+ - * / ** @`, indexing and `autodiff_lite.numpy` runs unchanged
whichever transformation is watching it. Comparisons compare the primal values and
return plain bools (or bool arrays), so data-dependent control flow simply follows
the branch that was taken.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import numpy as np

from . import rules as R
from .core import NO_PARAMS, Primitive, TracerBase, bind, primal

_UFUNC_OPERATORS = {
    np.add: R.add, np.subtract: R.subtract, np.multiply: R.multiply,
    np.true_divide: R.true_divide, np.power: R.power, np.matmul: R.matmul,
    np.negative: R.negative,
}
# NumPy functions whose result carries no derivative (booleans, integers, shapes):
# on a traced value they answer for its primal value, as comparisons do
_ABOUT_THE_VALUE = {
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.isnan, np.isinf, np.isfinite, np.signbit,
    np.ndim, np.shape, np.size, np.argmax, np.argmin, np.argsort, np.nonzero,
    np.isclose, np.allclose, np.array_equal, np.any, np.all,
}


def _primals(values: Any) -> Any:
    """`values` (arguments: tracers, lists of them) with every tracer replaced by its
    primal value."""
    if isinstance(values, (list, tuple)):
        return type(values)(_primals(v) for v in values)
    if isinstance(values, dict):
        return {k: _primals(v) for k, v in values.items()}
    return primal(values)


def traced_operator(prim: Primitive, reflected: bool = False) -> Callable[[Any, Any], Any]:
    """The method behind a Python operator: `bind(prim, self, other)`, made quick.

    When `other` is not a tracer of some other transformation, `self`'s trace is
    the innermost one involved, so the call goes to it directly; `bind` searches
    otherwise. (Operators run once per scalar operation: this is the hot path.)
    """

    def method(self: Tracer, other: Any) -> Any:
        args = (other, self) if reflected else (self, other)
        trace = self._trace
        if isinstance(other, TracerBase) and other._trace is not trace:
            return bind(prim, *args)
        return trace.process(prim, args, NO_PARAMS)

    method.__name__ = f"__{'r' if reflected else ''}{prim.name}__"
    return method


class Tracer(TracerBase):
    """A value watched by a transformation; subclasses define `primal`."""

    __slots__ = ()
    __array_priority__ = 100.0

    primal: Any

    # ---- arithmetic: every operator is a primitive from the rule table
    # (+ - * / ** and their reflections are set by `set_arithmetic` below)
    def __matmul__(self, other: Any) -> Any: return R.matmul(self, other)
    def __rmatmul__(self, other: Any) -> Any: return R.matmul(other, self)
    def __neg__(self) -> Any: return self._trace.process(R.negative_p, (self,), NO_PARAMS)
    def __pos__(self) -> Any: return self
    def __abs__(self) -> Any: return R.absolute(self)

    # ---- comparisons look at primal values only (control flow, masks)
    def __lt__(self, other: Any) -> Any: return primal(self) < primal(other)
    def __le__(self, other: Any) -> Any: return primal(self) <= primal(other)
    def __gt__(self, other: Any) -> Any: return primal(self) > primal(other)
    def __ge__(self, other: Any) -> Any: return primal(self) >= primal(other)
    def __eq__(self, other: Any) -> Any: return primal(self) == primal(other)  # type: ignore[override]
    def __ne__(self, other: Any) -> Any: return primal(self) != primal(other)  # type: ignore[override]
    __hash__ = None  # type: ignore[assignment]  # equality is by value, like arrays

    def __bool__(self) -> bool:
        return bool(primal(self))

    # ---- array-like attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(primal(self))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(primal(self)).dtype

    @property
    def T(self) -> Any:
        return R.transpose(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a traced scalar")
        return self.shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index: Any) -> Any:
        return R.getitem(self, index)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return R.sum(self, axis, keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Any:
        return R.prod(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        from .numpy import mean
        return mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        from .numpy import max
        return max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        from .numpy import min
        return min(self, axis, keepdims)

    def reshape(self, *newshape: Any) -> Any:
        return R.reshape(self, newshape[0] if len(newshape) == 1 else newshape)

    def transpose(self, *axes: Any) -> Any:
        return R.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def dot(self, other: Any) -> Any:
        from .numpy import dot
        return dot(self, other)

    def flatten(self) -> Any:
        return R.reshape(self, (-1,))

    ravel = flatten

    def copy(self) -> Any:
        return self  # traced values are never changed in place: nothing to protect

    # ---- what a traced value cannot do, and what to do instead
    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        raise TypeError(
            "in-place assignment into a traced array is not supported: the tape "
            "would lose the old value. Build a new array instead, e.g. "
            "anp.where(mask, new, x), anp.concatenate([...]) or x + anp.untake(...)")

    def __float__(self) -> NoReturn:
        raise TypeError(
            "float() of a traced value would cut it out of the derivative. Keep it "
            "as it is (arithmetic and autodiff_lite.numpy work on it); to read the "
            "number without differentiating it, use autodiff_lite.primal(x). "
            "Writing it into a NumPy array (a[i] = x, which NumPy reports as "
            "'setting an array element with a sequence') calls float() too: build "
            "the array from traced values with anp.stack([...]) instead")

    def __int__(self) -> NoReturn:
        raise TypeError("int() of a traced value is not differentiable; use "
                        "autodiff_lite.primal(x) to read the number")

    def __index__(self) -> NoReturn:
        raise TypeError("a traced value cannot be used as an index; indices are "
                        "data, not variables: use autodiff_lite.primal(i)")

    def __array__(self, dtype: Any = None, copy: Any = None) -> NoReturn:
        raise TypeError(
            "a traced value was turned into a NumPy array, which would drop its "
            "derivative. Use autodiff_lite.numpy (import autodiff_lite.numpy as anp) "
            "instead of numpy inside functions you differentiate; where a list of "
            "traced values stands for an array, make it one with anp.stack([...])")

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" while debugging: the number, which is what a print wants
        return format(primal(self), spec) if spec else str(self)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # Reached when a NumPy array or scalar is on the left of an operator
        # (ndarray * box) or when a NumPy function is called on a traced value.
        if "out" in kwargs:
            raise TypeError(
                "a traced value cannot be written into a NumPy array in place "
                "(h += x, or out=): the array would drop its derivative. Write "
                "h = h + x, which makes a new traced value")
        if ufunc in _ABOUT_THE_VALUE:
            return getattr(ufunc, method)(*_primals(inputs), **kwargs)
        fn = _UFUNC_OPERATORS.get(ufunc)
        if fn is not None and method == "__call__" and not kwargs:
            return fn(*inputs)
        _unsupported_numpy(getattr(ufunc, "__name__", str(ufunc)))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _ABOUT_THE_VALUE:
            return func(*_primals(args), **_primals(kwargs))
        _unsupported_numpy(func.__name__)


# The operators whose methods `set_arithmetic` makes, by their dunder names.
ARITHMETIC = {"add": R.add_p, "sub": R.subtract_p, "mul": R.multiply_p,
              "truediv": R.true_divide_p, "pow": R.power_p}


def set_arithmetic(cls: type, make: Callable[..., Callable[[Any, Any], Any]]) -> None:
    """Give `cls` the methods of + - * / ** and their reflections (2.0 * x),
    `make(prim)` and `make(prim, reflected=True)` for each primitive."""
    for name, prim in ARITHMETIC.items():
        setattr(cls, f"__{name}__", make(prim))
        setattr(cls, f"__r{name}__", make(prim, reflected=True))


set_arithmetic(Tracer, traced_operator)


def _unsupported_numpy(name: str) -> NoReturn:
    from . import numpy as anp
    if name in anp.__all__:
        hint = f"use anp.{name} (import autodiff_lite.numpy as anp) instead of np.{name}"
    else:
        hint = (f"np.{name} has no differentiation rule in autodiff_lite; "
                f"the supported functions are: {', '.join(anp.__all__)}")
    raise TypeError(f"numpy.{name} was called on a traced value: {hint}")
