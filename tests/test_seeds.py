"""The worked examples of the source notes, against their closed forms."""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from grading import problems

pytestmark = pytest.mark.library


# Tim Vieira (2017): the program with intermediate variables (as the graded
# checks write it, once for every set of operations)
seed000 = functools.partial(problems.seed000_f, anp)


@given(st.floats(-3.0, 0.5))
def test_seed000_against_its_closed_form(x: float) -> None:
    a = math.exp(x)
    c = a + a * a
    expected = (math.exp(c) + math.cos(c)) * (a + 2 * a * a)
    assert math.isclose(ad.grad(seed000)(x), expected, rel_tol=1e-12)
    assert math.isclose(ad.derivative(seed000)(x), expected, rel_tol=1e-12)


def seed003(w1, w2):
    """The MIPT notes' L(w1, w2) = w2 log w1 + sqrt(w2 log w1)."""
    u = w2 * anp.log(w1)
    return u + anp.sqrt(u)


@given(st.floats(1.1, 5.0), st.floats(0.1, 5.0))
def test_seed003_against_its_closed_form(w1: float, w2: float) -> None:
    u = w2 * math.log(w1)
    k = 1.0 + 0.5 / math.sqrt(u)
    g1, g2 = ad.grad(seed003, argnums=(0, 1))(w1, w2)
    assert math.isclose(g1, k * w2 / w1, rel_tol=1e-12)
    assert math.isclose(g2, k * math.log(w1), rel_tol=1e-12)


def test_seed004_primal_trace_and_derivatives() -> None:
    """Haotian Liu (2020): f = ln x1 + x1 x2 - sin x2 at (2, 5)."""
    tape = ad.trace(lambda x1, x2: anp.log(x1) + x1 * x2 - anp.sin(x2), 2.0, 5.0)
    values = [n.value for n in tape.nodes]
    expected = [2.0, 5.0, math.log(2.0), 10.0, math.log(2.0) + 10.0, math.sin(5.0),
                math.log(2.0) + 10.0 - math.sin(5.0)]
    assert values == pytest.approx(expected, rel=1e-15)
    assert round(values[-1], 3) == 11.652
    assert tape.backward()[:2] == pytest.approx([0.5 + 5.0, 2.0 - math.cos(5.0)])
    _, dfdx1 = ad.jvp(lambda x1, x2: anp.log(x1) + x1 * x2 - anp.sin(x2), (2.0, 5.0),
                      (1.0, 0.0))
    assert dfdx1 == pytest.approx(5.5)
