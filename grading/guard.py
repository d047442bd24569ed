"""Undo monkeypatching of the functions grading relies on.

An answer cell can rebind `np.allclose`, `math.isclose`, `builtins.abs` or the
checks themselves. When `grading` is imported (in the read-only setup cell,
before any answer cell) `snapshot` records the originals; every check starts by
calling `restore`, which puts back anything an answer cell replaced.
"""

from __future__ import annotations

import builtins
import math
import types
from typing import Any

import numpy as np
import numpy.testing

_getattr = builtins.getattr
_setattr = builtins.setattr
_SAVED: list[tuple[Any, str, Any]] = []

_WATCHED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (builtins, ("abs", "float", "int", "len", "isinstance", "range", "repr", "type",
                "zip", "callable", "print", "min", "max", "sum", "all", "any")),
    (math, ("isclose", "isfinite", "isnan", "fabs")),
    (np, ("allclose", "isclose", "array", "asarray", "array_equal", "errstate",
          "isfinite", "abs", "max")),
    (numpy.testing, ("assert_allclose", "assert_array_almost_equal", "assert_equal",
                     "assert_almost_equal", "assert_array_equal")),
)


def snapshot(*modules: types.ModuleType) -> None:
    """Remember the watched functions and every public function of `modules`."""
    targets = list(_WATCHED)
    for m in modules:
        targets.append((m, tuple(n for n, v in vars(m).items()
                                 if not n.startswith("__") and callable(v))))
    for owner, names in targets:
        for name in names:
            _SAVED.append((owner, name, _getattr(owner, name)))


def restore() -> list[str]:
    """Put back every replaced function; return the names that had been replaced."""
    replaced = []
    for owner, name, original in _SAVED:
        if _getattr(owner, name, None) is not original:
            _setattr(owner, name, original)
            replaced.append(f"{_getattr(owner, '__name__', '?')}.{name}")
    return replaced
