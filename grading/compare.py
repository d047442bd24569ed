"""Comparisons that a student's cell cannot tamper with.

An answer cell runs in the same kernel as the tests, so it can replace
`np.allclose`, `math.isclose`, `builtins.abs` or this package's helpers. Every
primitive used here is captured once, when `grading` is first imported (the
read-only setup cell of each assignment imports it before any answer cell
runs), and values are compared with plain float arithmetic on float64 copies.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

_abs = builtins.abs
_float = builtins.float
_isinstance = builtins.isinstance
_len = builtins.len
_range = builtins.range
_repr = builtins.repr
_tuple = builtins.tuple
_type = builtins.type
_zip = builtins.zip
_isfinite = math.isfinite
_array = np.array
_float64 = np.float64
_unravel = np.unravel_index

# The default tolerances for exact methods (forward and reverse mode): the
# reference and a correct student implementation differ only by round-off.
RTOL = 1e-9
ATOL = 1e-12


def describe(value: Any) -> str:
    """A short description of a value for messages: its type and shape."""
    if _isinstance(value, np.ndarray):
        return f"a NumPy array of shape {_tuple(value.shape)} and dtype {value.dtype}"
    return f"a {_type(value).__name__}"


def float64_copy(value: Any, what: str, shape: tuple[int, ...]) -> list[float]:
    """Flatten `value` into a list of finite floats, after checking type and shape.

    Raises AssertionError with a message a student can act on (None returned,
    wrong type, wrong shape, NaN or infinity) instead of a NumPy traceback.
    """
    if value is None:
        raise AssertionError(f"{what}: got None. Did your function forget to `return` "
                             "its result?")
    if _isinstance(value, (str, bytes, dict, set)):
        raise AssertionError(f"{what}: expected a number or an array of numbers, got "
                             f"{describe(value)}")
    try:
        arr = _array(value, dtype=_float64, copy=True)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{what}: expected a number or an array of numbers, got "
                             f"{describe(value)} ({err})") from None
    if _tuple(arr.shape) != shape:
        hint = ""
        if shape == () and arr.size == 1:
            hint = " Return a float (e.g. float(x)), not a 1-element container."
        raise AssertionError(f"{what}: expected shape {shape}, got shape "
                             f"{_tuple(arr.shape)} ({describe(value)}).{hint}")
    flat = arr.ravel().tolist()
    for k in _range(_len(flat)):
        if not _isfinite(flat[k]):
            where = "" if shape == () else f" at entry {_position(k, shape)}"
            raise AssertionError(f"{what}: got {flat[k]!r}{where}; the exact answer is "
                                 "finite. Look for a division by zero, log of a "
                                 "non-positive number or an overflow.")
    return flat


def _position(k: int, shape: tuple[int, ...]) -> tuple[int, ...] | int:
    if _len(shape) == 1:
        return k
    return _tuple(int(i) for i in _unravel(k, shape))


def assert_close(got: Any, expected: Any, what: str, rtol: float = RTOL,
                 atol: float = ATOL) -> None:
    """Fail with a teacher's message unless `got` matches `expected` entrywise.

    The test per entry is |got - expected| <= atol + rtol * |expected|. The message
    names the worst entry, shows expected against got and the size of the error.
    """
    shape = _tuple(_array(expected, dtype=_float64).shape)
    exp = float64_copy(expected, f"{what} (reference)", shape)
    out = float64_copy(got, what, shape)
    worst, worst_excess, wrong = -1, 0.0, 0
    for k, (g, e) in enumerate(_zip(out, exp)):
        err = _abs(g - e)
        allowed = atol + rtol * _abs(e)
        if err > allowed:
            wrong += 1
            excess = err / allowed
            if excess > worst_excess:
                worst, worst_excess = k, excess
    if wrong == 0:
        return
    g, e = out[worst], exp[worst]
    err = _abs(g - e)
    rel = err / _abs(e) if e != 0.0 else math.inf
    if shape == ():
        where = ""
    else:
        where = (f" at entry {_position(worst, shape)} ({wrong} of {_len(exp)} entries "
                 "are wrong)")
    raise AssertionError(f"{what}{where}: expected {e!r}, got {g!r} (error {err:.3g}, "
                         f"relative error {rel:.3g}; allowed {atol:.0e} + "
                         f"{rtol:.0e}·|expected|)")


def assert_equal_int(got: Any, expected: int, what: str) -> None:
    """Fail unless `got` is the integer `expected` (counts of passes, nodes, calls)."""
    if _isinstance(got, bool) or not _isinstance(got, (int, np.integer)):
        if not (_isinstance(got, (float, np.floating)) and _float(got).is_integer()):
            raise AssertionError(f"{what}: expected the whole number {expected}, got "
                                 f"{_repr(got)} ({describe(got)})")
    if int(got) != expected:
        raise AssertionError(f"{what}: expected {expected}, got {int(got)}")
