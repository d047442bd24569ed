"""Undo monkeypatching of the functions grading relies on.

An answer cell can rebind `np.allclose`, `math.isclose`, `builtins.abs` or the
checks themselves. When `grading.checks` is imported (in the read-only setup
cell, before any answer cell) `snapshot` records the originals and `seal` makes
the grading modules refuse rebinding; every check starts by calling `restore`,
which puts back anything an answer cell replaced. None of this is a sandbox:
code in the same interpreter can always get around it (see the instructor guide).
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


class _Sealed(types.ModuleType):
    """A module whose existing attributes cannot be rebound or deleted.

    New attributes are still allowed: the import system adds a submodule to its
    package the first time the submodule is imported.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in vars(self):
            raise AttributeError(f"{self.__name__}.{name} belongs to the grading "
                                 "package and cannot be replaced from a notebook")
        types.ModuleType.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__}.{name} belongs to the grading package "
                             "and cannot be deleted from a notebook")


def seal(*modules: types.ModuleType) -> None:
    """Make the grading modules' functions impossible to rebind by assignment."""
    for m in modules:
        if type(m) is types.ModuleType:
            m.__class__ = _Sealed


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
            if isinstance(owner, _Sealed):
                vars(owner)[name] = original  # edited through __dict__
            else:
                _setattr(owner, name, original)
            replaced.append(f"{_getattr(owner, '__name__', '?')}.{name}")
    return replaced
