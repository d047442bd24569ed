"""Scalar code on Python floats takes short cuts; they must agree with the general path.

Box arithmetic records float nodes itself, `Tape.process` records a plain primitive
on floats without its checks, and the backward sweep calls the VJP rules of a float
node directly; Dual arithmetic and `ForwardTrace.process` apply the JVP rules to
floats directly. The same program run on one-element arrays goes the general way
through every one of those places, so the two runs must build the same tape and
give the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.reverse import Tape
from autodiff_lite.rules import getitem, sum_to

pytestmark = pytest.mark.library


def every_operator(x: Any, y: Any) -> Any:
    """Each operator with a box on either side and with a constant on either side,
    each one-argument function of the rule table, and maximum and minimum, each
    picking one side (x and y between 0.3 and 3, away from the kinks of abs, sign,
    maximum and minimum)."""
    a = x + y + (x + 2.0) + (2.0 + x)
    b = (x - y) * (x - 0.5) * (3.0 - y) * (y * 1.5) * (0.5 * x)
    c = x / y + x / 4.0 + 4.0 / y
    d = x ** y + x ** 2.0 + 2.0 ** y
    e = (anp.exp(-x) + anp.log(y) + anp.log1p(x) + anp.sin(x) * anp.cos(y) + anp.tan(x / 4.0)
         + anp.tanh(y) + anp.sqrt(x) + anp.abs(x - 5.0) + anp.sigmoid(y) * anp.sign(x - 5.0)
         + anp.maximum(x, y + 3.0) * anp.minimum(x, y + 3.0))
    return a * b - c / d + e


positive = st.floats(0.3, 3.0, allow_nan=False)


@given(x=positive, y=positive)
def test_floats_record_the_tape_that_arrays_record(x: float, y: float) -> None:
    floats = ad.trace(every_operator, x, y)
    arrays = ad.trace(every_operator, np.array([x]), np.array([y]))
    assert [n.op for n in floats.nodes] == [n.op for n in arrays.nodes]
    assert floats.parents == arrays.parents
    assert all(type(v) is float for v in floats.values)
    np.testing.assert_allclose(floats.values, [v[0] for v in arrays.values], rtol=1e-14)
    np.testing.assert_allclose(floats.backward(), [a[0] for a in arrays.backward(np.ones(1))],
                               rtol=1e-13)


@given(x=positive, y=positive)
def test_gradients_of_floats_equal_those_of_arrays_in_both_modes(x: float, y: float) -> None:
    both = (0, 1)
    on_floats = ad.grad(every_operator, argnums=both)(x, y)
    on_arrays = ad.grad(lambda u, v: anp.sum(every_operator(u, v)), argnums=both)(
        np.array([x]), np.array([y]))
    assert all(type(g) is float for g in on_floats)
    np.testing.assert_allclose(on_floats, [g[0] for g in on_arrays], rtol=1e-13)
    for tangent in [(1.0, 0.0), (0.0, 1.0)]:
        _, t = ad.jvp(every_operator, (x, y), tangent)
        np.testing.assert_allclose(t, np.dot(on_floats, tangent), rtol=1e-12)


@given(x=positive, y=positive, tx=st.floats(-2.0, 2.0), ty=st.floats(-2.0, 2.0))
def test_tangents_of_floats_equal_those_of_arrays(x: float, y: float, tx: float,
                                                  ty: float) -> None:
    z, t = ad.jvp(every_operator, (x, y), (tx, ty))
    za, ta = ad.jvp(every_operator, (np.array([x]), np.array([y])),
                    (np.array([tx]), np.array([ty])))
    assert type(z) is float and type(t) is float
    np.testing.assert_allclose([z, t], [za[0], ta[0]], rtol=1e-13, atol=1e-300)


@given(x=positive, v=st.floats(-2.0, 2.0))
def test_forward_over_reverse_on_floats_equals_it_on_arrays(x: float, v: float) -> None:
    # hvp: the tape's boxes hold duals, and the duals' tangents are boxes
    def f(u: Any) -> Any:
        return every_operator(u, 1.3)
    on_array = ad.hvp(lambda u: anp.sum(f(u)), np.array([x]), np.array([v]))
    np.testing.assert_allclose(ad.hvp(f, x, v), on_array[0], rtol=1e-12)


@given(x=positive, y=positive)
def test_float_paths_against_central_differences_to_second_order(x: float, y: float) -> None:
    # Second order nests a tape in a tape: the inner one's floats are boxes of
    # the outer one, which must take the general path.
    ad.check_grads(every_operator, (x, y), order=2, modes=("fwd", "rev"),
                   atol=1e-5, rtol=1e-4)


def test_arithmetic_with_a_box_of_another_tape_reaches_both_tapes() -> None:
    # grad of x * (d/dy of x*y) = x * x: the inner product mixes two tapes' boxes.
    def outer(x: Any) -> Any:
        return x * ad.grad(lambda y: x * y + y)(3.0)
    assert ad.grad(outer)(2.5) == pytest.approx(2 * 2.5 + 1.0)


def test_float_nodes_of_a_lean_tape_keep_their_values() -> None:
    tape = Tape(lean=True)
    x = tape.new_input(0.7)
    tape.set_output(anp.tanh(x) * 2.0 + x)
    t = math.tanh(0.7)
    assert tape.values == [0.7, t, 2.0 * t, 2.0 * t + 0.7]
    assert tape.args[1:] == [(0.7,), (t, 2.0), (2.0 * t, 0.7)]
    assert tape.input_adjoints() == [pytest.approx(2.0 * (1 - t * t) + 1.0)]


SCALAR_RESULTS = [
    ("sum", lambda a: anp.sum(a)),
    ("prod", lambda a: anp.prod(a)),
    ("logsumexp", lambda a: anp.logsumexp(a)),
    ("getitem", lambda a: getitem(a, 1)),
    ("reshape", lambda a: anp.reshape(getitem(a, slice(0, 1)), ())),
    ("sum_to", lambda a: sum_to(a, ())),
    ("matmul", lambda a: anp.matmul(a, a)),
    ("where", lambda a: anp.where(np.array(True), a[0], a[1])),
]


@pytest.mark.parametrize("name, reduce", SCALAR_RESULTS, ids=[n for n, _ in SCALAR_RESULTS])
def test_an_array_reduced_to_a_scalar_gives_a_python_float(name: str, reduce: Any) -> None:
    # A 0-d result is a float, not a NumPy scalar, so that the scalar code after
    # it takes the float paths; a traced one is a float node of the tape.
    a = np.array([0.5, 2.0, 1.5])
    assert type(reduce(a)) is float
    tape = ad.trace(lambda u: reduce(u) * 2.0, a)
    assert type(tape.values[-2]) is float and type(tape.values[-1]) is float
