"""checkpoint: same derivatives, one node on the tape, O(√n) memory for a chain."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.checkpoint import checkpoint_sequential
from autodiff_lite.cost import peak_memory

pytestmark = pytest.mark.library


def block(x, y):
    return anp.sum(anp.sin(x) * y + anp.tanh(x * y))


def test_checkpoint_gives_the_same_derivatives_to_second_order() -> None:
    x, y = np.array([0.1, -0.7, 1.3]), np.array([0.5, 2.0, -1.0])
    ad.check_grads(ad.checkpoint(block), (x, y), order=2)
    for a, b in zip(ad.grad(ad.checkpoint(block), (0, 1))(x, y), ad.grad(block, (0, 1))(x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    np.testing.assert_allclose(ad.hessian(lambda x: ad.checkpoint(block)(x, y))(x),
                               ad.hessian(lambda x: block(x, y))(x), rtol=1e-12)


def test_the_tape_records_one_node_for_the_whole_function() -> None:
    tape = ad.trace(lambda x: ad.checkpoint(block)(x, np.ones(3)) * 2.0, np.ones(3))
    assert [n.op for n in tape.nodes] == ["input", "checkpoint", "multiply"]


def _steps(n: int) -> list:
    return [lambda x: anp.tanh(x) * 1.1 + 0.01] * n


def _slope(ns: list[int], peaks: list[int]) -> float:
    return float(np.polyfit(np.log(ns), np.log(peaks), 1)[0])


@pytest.mark.slow
def test_checkpointed_chain_memory_grows_like_the_square_root() -> None:
    x = np.full(5000, 0.1)
    ns = [64, 256, 1024]
    plain, checkpointed = [], []
    for n in ns:
        steps = _steps(n)

        def unchecked(x, steps=steps):
            for step in steps:
                x = step(x)
            return anp.sum(x)

        g1, p1 = peak_memory(lambda: ad.grad(unchecked)(x))
        g2, p2 = peak_memory(
            lambda: ad.grad(lambda x: anp.sum(checkpoint_sequential(steps)(x)))(x))
        np.testing.assert_allclose(g1, g2, rtol=1e-12)
        plain.append(p1)
        checkpointed.append(p2)
    assert _slope(ns, plain) > 0.9  # linear in n
    assert 0.3 < _slope(ns, checkpointed) < 0.7  # about √n
    assert checkpointed[-1] * 10 < plain[-1]


def test_checkpoint_sequential_arguments() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        checkpoint_sequential([])
    with pytest.raises(ValueError, match="between 1 and the number of steps"):
        checkpoint_sequential(_steps(3), segments=4)
    f = checkpoint_sequential(_steps(7), segments=3)
    assert ad.grad(lambda x: f(x))(0.2) == pytest.approx(ad.derivative(lambda x: f(x))(0.2))


@pytest.mark.parametrize("n, segments", [(10, None), (10, 3), (10, 4), (7, 3), (16, None),
                                         (5, 5)])
def test_checkpoint_sequential_cuts_blocks_of_the_documented_size(n: int,
                                                                  segments: int | None) -> None:
    # ⌈n / segments⌉ steps per block, segments = ⌈√n⌉ by default: one node per block
    s = math.ceil(math.sqrt(n)) if segments is None else segments
    blocks = math.ceil(n / math.ceil(n / s))
    f = checkpoint_sequential(_steps(n), segments=segments)
    tape = ad.trace(f, 0.2)
    assert [node.op for node in tape.nodes] == ["input"] + ["checkpoint"] * blocks


def test_arguments_that_are_not_traced_are_passed_as_they_are() -> None:
    x = np.array([1.0, 2.0, 3.0])
    head = ad.checkpoint(lambda x, n, square: anp.sum(square(x[:n])))  # index, function
    assert ad.grad(lambda x: head(x, 2, lambda v: v * v))(x).tolist() == [2.0, 4.0, 0.0]
    power = ad.checkpoint(lambda x, p=2.0: anp.sum(x ** p))  # keywords, traced or not
    np.testing.assert_allclose(ad.grad(lambda x: power(x, p=3.0))(x), 3 * x ** 2)
    assert ad.grad(lambda p: power(x, p=p))(2.0) == pytest.approx(np.sum(x ** 2 * np.log(x)))
    assert ad.derivative(lambda p: power(x, p=p))(2.0) == pytest.approx(
        np.sum(x ** 2 * np.log(x)))
    tape = ad.trace(lambda x: power(x, p=3.0), x)
    assert [n.op for n in tape.nodes] == ["input", "checkpoint"]
    with pytest.raises(TypeError, match="tuple holding traced values.*separate arguments"):
        ad.grad(lambda w: ad.checkpoint(lambda t: t[0] * t[1])((w, w)))(1.0)


def test_a_closure_over_a_differentiated_variable_is_refused() -> None:
    def model(w, x):  # a layer that closes over its weight, applied twice
        layer = ad.checkpoint(lambda h: anp.tanh(h * w))
        return layer(layer(x))
    for differentiate in (ad.grad, ad.derivative):  # reverse and forward mode
        with pytest.raises(TypeError, match="not one of its arguments.*Pass that variable"):
            differentiate(lambda w: model(w, 1.0))(0.5)
        # one layer on a constant input: no argument is traced, the closure still is
        with pytest.raises(TypeError, match="not one of its arguments.*Pass that variable"):
            differentiate(lambda w: ad.checkpoint(lambda h: anp.tanh(h * w))(1.0))(0.5)

    def model_with_argument(w, x):  # the same layer with w passed in: allowed
        layer = ad.checkpoint(lambda h, w: anp.tanh(h * w))
        return layer(layer(x, w), w)

    def plain(w, x):
        return anp.tanh(anp.tanh(x * w) * w)
    assert ad.grad(model_with_argument)(0.5, 1.0) == pytest.approx(ad.grad(plain)(0.5, 1.0))
    assert ad.derivative(lambda w: model_with_argument(w, 1.0))(0.5) == pytest.approx(
        ad.grad(plain)(0.5, 1.0))
