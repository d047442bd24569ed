"""The peer libraries of the benchmarks, each optional (`pip install -e .[bench]`).

A missing peer is reported and skipped; nothing here is needed by the course.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any


def load(name: str) -> ModuleType | None:
    """Import a peer, or print why it is skipped."""
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"  [{name} is not installed: skipped; `pip install -e .[bench]` adds it]")
        return None


def micrograd_tanh(value: Any) -> Any:
    """tanh for micrograd's Value, written the way micrograd writes its operations.

    micrograd (A. Karpathy, 2020) ships relu but not tanh; this adds it with the
    same closure-per-node design so the comparison measures micrograd's engine.
    """
    from micrograd.engine import Value

    t = math.tanh(value.data)
    out = Value(t, (value,), "tanh")

    def _backward() -> None:
        value.grad += (1.0 - t * t) * out.grad

    out._backward = _backward
    return out


class MinimalDual:
    """The least a dual number can be in Python: two floats, three operations.

    No rule table, no arrays, no nesting: a floor for what forward mode on
    Python floats can cost, to read autodiff_lite's `Dual` against.
    """

    __slots__ = ("primal", "tangent")

    def __init__(self, primal: float, tangent: float) -> None:
        self.primal, self.tangent = primal, tangent

    def __add__(self, other: MinimalDual) -> MinimalDual:
        return MinimalDual(self.primal + other.primal, self.tangent + other.tangent)

    def __mul__(self, other: MinimalDual) -> MinimalDual:
        return MinimalDual(self.primal * other.primal,
                           self.tangent * other.primal + self.primal * other.tangent)

    def tanh(self) -> MinimalDual:
        z = math.tanh(self.primal)
        return MinimalDual(z, self.tangent * (1.0 - z * z))
