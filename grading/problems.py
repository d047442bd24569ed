"""The functions the checks differentiate, written once for any set of operations.

Each problem takes a namespace `m` of elementary functions (exp, log, sin, cos,
tanh, sum) first: given `autodiff_lite.numpy` it is the reference, given a
student's functions it exercises their implementation. Python operators do the
arithmetic, so a student's `Dual` or `Var` class sees exactly the same program.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable

import numpy as np

Problem = Callable[..., Any]

# Scalar functions of one variable, for `derivative`.
SCALAR: MappingProxyType[str, Problem] = MappingProxyType({
    "sin(x)*exp(x)": lambda m, x: m.sin(x) * m.exp(x),
    "log(x*x + 1)/x": lambda m, x: m.log(x * x + 1.0) / x,
    "cos(x)**3 - 2/x": lambda m, x: m.cos(x) ** 3 - 2.0 / x,
    "x**0.5 * exp(-x)": lambda m, x: x ** 0.5 * m.exp(-x),
    "1/(1 + exp(-3x)) - x": lambda m, x: 1.0 / (1.0 + m.exp(-3.0 * x)) - x,
})

# Scalar functions that vary on the scale of x itself, for x of 10^4 to 10^6: a
# finite-difference step must grow with |x| there (a fixed one rounds away in x + h).
LARGE_X: MappingProxyType[str, Problem] = MappingProxyType({
    "x*log(x)": lambda m, x: x * m.log(x),
    "x**1.5 - 2x": lambda m, x: x ** 1.5 - 2.0 * x,
    "sqrt(x)*log(x)": lambda m, x: m.sqrt(x) * m.log(x),
})


def seed004_f(m: Any, x1: Any, x2: Any) -> Any:
    """Liu's running example (seed 004): f(x1, x2) = ln x1 + x1·x2 − sin x2."""
    return m.log(x1) + x1 * x2 - m.sin(x2)


def seed000_f(m: Any, x: Any) -> Any:
    """Vieira's program with intermediate variables (seed 000), after Domke."""
    a = m.exp(x)
    b = a * a
    c = a + b
    d = m.exp(c)
    e = m.sin(c)
    return d + e


def with_constants(m: Any, x: Any) -> Any:
    """Constants on either side of + - * /, a function of a plain number (not a
    node), and a node the output does not depend on (its adjoint is zero)."""
    m.sin(x)  # recorded, then never used
    e = m.exp(1.0)
    y = (2.0 - x) / 3.0 * e + 1.0 / (x * x + 1.0) - x / 2.0
    return m.sum(y * y)


def array_constants(m: Any, x: Any) -> Any:
    """Array constants on the left of *, / and @ as well as on the right, for x
    of shape (3, 2). With an array on the left NumPy tries the operation itself
    unless the other operand's class opts out (`__array_ufunc__ = None`)."""
    c = np.array([0.5, -2.0])  # broadcast over x's rows
    M = np.array([[1.0, 0.5, -0.5], [0.0, 2.0, 1.0]])
    y = c * x + x / c - c / (x * x + 1.0)
    return m.sum(M @ m.tanh(y))


def doubling_paths(m: Any, x: Any, depth: int = 40) -> Any:
    """y <- sin(y*y + 1), `depth` times: each node feeds the next one twice, so
    2^depth paths lead from the output back to x. One sweep over the tape in
    reverse order visits each of its 3·depth nodes once; a backward pass that
    pushes each gradient down every path separately never ends."""
    y = x
    for _ in range(depth):
        y = m.sin(y * y + 1.0)
    return y


# Functions from R^n to R^k taking and returning lists, for Jacobians.
VECTOR: MappingProxyType[str, Problem] = MappingProxyType({
    "[ln x0 + x0 x1 - sin x1, x0 x1, exp(x1/x0)]": lambda m, x: [
        seed004_f(m, x[0], x[1]), x[0] * x[1], m.exp(x[1] / x[0])],
    "[x0 x1 x2, sin x0 + x1 cos x2]": lambda m, x: [
        x[0] * x[1] * x[2], m.sin(x[0]) + x[1] * m.cos(x[2])],
    # outputs that do not depend on every input: with only x_j a dual number,
    # they come back as plain floats, whose tangent is 0
    "[x0 x1, sin x2 + x0, exp x1]": lambda m, x: [
        x[0] * x[1], m.sin(x[2]) + x[0], m.exp(x[1])],
})


def network_loss(m: Any, W1: Any, b1: Any, W2: Any, b2: Any, X: Any, Y: Any) -> Any:
    """Squared error of a one-hidden-layer tanh network (biases broadcast over rows)."""
    h = m.tanh(X @ W1 + b1)
    r = h @ W2 + b2 - Y
    return m.sum(r * r)
