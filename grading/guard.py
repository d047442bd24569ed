"""Undo monkeypatching of the functions grading relies on.

An answer cell can rebind `np.allclose`, `math.isclose`, `builtins.abs` or the
checks themselves. When `grading.checks` is imported (in the read-only setup
cell, before any answer cell) `snapshot` records the originals and `seal` makes
the grading modules refuse rebinding (also through `__class__`; reading a
snapshotted function through the module gives the original even after an edit
of its `__dict__`); every check starts by calling `restore`, which puts back
anything an answer cell replaced (functions, the modules' `__dict__` entries,
their `sys.modules` entries, their sealing), and so does the pipeline before
every test cell (`grading.execute.GuardedExecute`). `grading.sandbox` calls it
after each call into student code too, and fails the test if that call
replaced something. None of this is a sandbox: code in the same interpreter can
always get around it (see the instructor guide).
"""

from __future__ import annotations

import builtins
import math
import sys
import types
from typing import Any

import numpy as np
import numpy.testing

_getattr = builtins.getattr
_setattr = builtins.setattr
_object_setattr = object.__setattr__
_module_getattribute = types.ModuleType.__getattribute__
_isinstance = builtins.isinstance
_vars = builtins.vars
_type = builtins.type
_modules = sys.modules
_SAVED: list[tuple[Any, str, Any]] = []
# The grading modules by name, to put back into sys.modules, and which were sealed.
_MODULES: dict[str, types.ModuleType] = {}
_SEALED: list[types.ModuleType] = []
_ORIGINALS: dict[tuple[int, str], Any] = {}

_WATCHED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (builtins, ("abs", "float", "int", "len", "isinstance", "range", "repr", "type",
                "zip", "callable", "print", "min", "max", "sum", "all", "any", "__import__",
                "getattr", "setattr", "hasattr", "str", "tuple", "list", "dict", "bool",
                "enumerate", "sorted", "round", "issubclass", "iter", "next", "vars")),
    (math, ("isclose", "isfinite", "isnan", "fabs")),
    (np, ("allclose", "isclose", "array", "asarray", "array_equal", "errstate",
          "isfinite", "abs", "max")),
    (numpy.testing, ("assert_allclose", "assert_array_almost_equal", "assert_equal",
                     "assert_almost_equal", "assert_array_equal")),
)


class _Sealed(types.ModuleType):
    """A module whose existing attributes cannot be rebound or deleted.

    New attributes are still allowed: the import system adds a submodule to its
    package the first time the submodule is imported. Reading a function that
    was snapshotted gives the original even if the module's `__dict__` was
    edited (`vars(checks)["check_jvp"] = ...`), so a test cell's
    `checks.check_jvp` is always the real check.
    """

    def __getattribute__(self, name: str) -> Any:
        original = _ORIGINALS.get((id(self), name))
        if original is not None:
            return original
        return _module_getattribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in vars(self) or name in ("__class__", "__dict__"):
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
            _SEALED.append(m)


def snapshot(*modules: types.ModuleType) -> None:
    """Remember the watched functions and every attribute of `modules` (functions,
    constants such as a time limit, the modules they import, their tables)."""
    targets = list(_WATCHED)
    if _type(sys.stdout).__module__.startswith("ipykernel"):
        # in a notebook only: under pytest the captured streams change per test
        targets.append((sys, ("stdout", "stderr")))
    for m in modules:
        _MODULES[m.__name__] = m
        names = tuple(n for n in vars(m) if not n.startswith("__"))
        targets.append((m, names))
        for n in names:
            _ORIGINALS[(id(m), n)] = vars(m)[n]
    for owner, names in targets:
        for name in names:
            _SAVED.append((owner, name, _getattr(owner, name)))


def restore() -> list[str]:
    """Put back every replaced function; return the names that had been replaced."""
    replaced = []
    for m in _SEALED:
        if _type(m) is not _Sealed:  # unsealed with object.__setattr__
            _object_setattr(m, "__class__", _Sealed)
            replaced.append(f"{m.__name__}.__class__")
    for owner, name, original in _SAVED:
        if _isinstance(owner, types.ModuleType) and owner.__name__ in _MODULES:
            namespace = _vars(owner)  # the functions' globals: edits through __dict__
            if namespace.get(name) is not original:
                namespace[name] = original
                replaced.append(f"{owner.__name__}.{name}")
        elif _getattr(owner, name, None) is not original:
            _setattr(owner, name, original)
            replaced.append(f"{_getattr(owner, '__name__', '?')}.{name}")
    for name, m in _MODULES.items():
        if _modules.get(name) is not m:  # sys.modules["grading..."] replaced or deleted
            _modules[name] = m
            replaced.append(f"sys.modules[{name!r}]")
    return replaced
