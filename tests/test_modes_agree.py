"""Forward and reverse mode agree on random programs mixing shapes and constants.

Each rule is checked against central differences in test_rules.py, one primitive
at a time. What those cases can miss is how the engines combine them: a tangent
passed on unchanged by add that must grow to an array's shape, a constant on the
left of an operator, a cotangent to sum back to a scalar. Here hypothesis builds
programs of several steps, with scalars, arrays and broadcasting constants on
either side, and the Jacobians of the two modes (and of forward over reverse)
must be equal.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp

pytestmark = pytest.mark.library

Step = Callable[[Any], Any]
SHAPES = [(), (3,), (2, 3)]
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / (1.5 + b * b),  # a denominator that stays away from 0
    "maximum": anp.maximum, "minimum": anp.minimum,
}
UNARY: dict[str, Step] = {
    "tanh": anp.tanh, "sin": anp.sin, "sigmoid": anp.sigmoid, "square": lambda v: v * v,
    "exp": lambda v: anp.exp(0.3 * v),
    "sum": lambda v: anp.sum(v, axis=-1) if anp.shape(v) else v,
    "max": lambda v: anp.max(v, axis=0) if anp.shape(v) else v,
}


@st.composite
def constants(draw: st.DrawFn) -> Any:
    """A float, or an array of a shape that broadcasts against the SHAPES."""
    shape = draw(st.sampled_from([None, (), (3,), (1, 3), (2, 1), (2, 3)]))
    if shape is None:
        return draw(st.floats(-2.0, 2.0))
    return np.random.default_rng(draw(st.integers(0, 99))).uniform(-2.0, 2.0, shape)


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, Step]:
    """One step v -> ..., with a constant on either side or the value twice."""
    kind = draw(st.sampled_from(["unary", "constant", "constant", "self"]))
    if kind == "unary":
        name = draw(st.sampled_from(sorted(UNARY)))
        return name, UNARY[name]
    op = draw(st.sampled_from(sorted(BINARY)))
    fn = BINARY[op]
    if kind == "self":
        return f"v {op} tanh(v)", lambda v: fn(v, anp.tanh(v))
    c = draw(constants())
    if draw(st.booleans()):
        return f"c {op} v (c shape {np.shape(c)})", lambda v: fn(c, v)
    return f"v {op} c (c shape {np.shape(c)})", lambda v: fn(v, c)


def run(program: list, v: Any) -> Any:
    for _, step in program:
        v = step(v)
    return v


@settings(max_examples=150)
@given(shape=st.sampled_from(SHAPES), program=st.lists(steps(), min_size=1, max_size=5),
       seed=st.integers(0, 99))
def test_jacobians_of_both_modes_agree(shape: tuple[int, ...], program: list,
                                       seed: int) -> None:
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, shape)
    x = float(x) if shape == () else x
    try:
        run(program, x)
    except ValueError:  # shapes that do not broadcast: NumPy refuses the program too
        assume(False)
    for k in range(1, len(program) + 1):  # every prefix: a slip may be healed later
        f, names = partial(run, program[:k]), [name for name, _ in program[:k]]
        forward, reverse = ad.jacfwd(f)(x), ad.jacrev(f)(x)
        assert np.shape(forward) == np.shape(reverse) == np.shape(f(x)) + np.shape(x), names
        np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12,
                                   err_msg=str(names))

    def total(v: Any) -> Any:  # a scalar, for second order
        out = run(program, v)
        return anp.sum(out * out)
    np.testing.assert_allclose(ad.hessian(total)(x), ad.jacrev(ad.grad(total))(x),
                               rtol=1e-8, atol=1e-10, err_msg=str(names))
