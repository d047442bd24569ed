"""Operation counts read off tapes, and the cheap gradient principle they show."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.core import Primitive, bind
from autodiff_lite.cost import flops, gradient_cost, gradient_tape, peak_memory, replay

pytestmark = pytest.mark.library

rng = np.random.default_rng(7)
X = rng.standard_normal((32, 8))


def mlp(w1, w2):
    return anp.sum(anp.tanh(X @ w1) @ w2)


def loop(x):
    for _ in range(50):
        x = anp.sin(x) * 1.01 + x * 0.5
    return anp.sum(x)


WORKLOADS = {
    "seed 004": (lambda x1, x2: anp.log(x1) + x1 * x2 - anp.sin(x2), (2.0, 5.0)),
    "mlp": (mlp, (rng.standard_normal((8, 16)), rng.standard_normal(16))),
    "logsumexp": (anp.logsumexp, (rng.standard_normal(1000),)),
    "product": (anp.prod, (rng.standard_normal(1000),)),
    "elementwise loop": (loop, (rng.standard_normal(100),)),
    "softmax cross-entropy": (lambda z: -anp.sum(anp.log(anp.softmax(z)[:, 0])),
                              (rng.standard_normal((20, 5)),)),
}


def test_counts_by_hand() -> None:
    tape = ad.trace(lambda x1, x2: anp.log(x1) + x1 * x2 - anp.sin(x2), 2.0, 5.0)
    assert flops(tape) == 5  # log, multiply, add, sin, subtract
    a, b = np.ones((2, 3)), np.ones((3, 4))
    assert flops(ad.trace(lambda a, b: a @ b, a, b)) == 2 * 2 * 4 * 3
    assert flops(ad.trace(lambda a: anp.sum(a.T), a)) == 6  # the transpose is free
    # subtract the max, exp, add up, log: four per entry of the input
    assert flops(ad.trace(anp.logsumexp, np.ones(10))) == 4 * 10
    # where is elementwise: one per output entry
    mask = np.array([[True, False, True], [False, True, True]])
    assert flops(ad.trace(lambda a: anp.where(mask, a, 0.0), a)) == 6


def test_gradient_cost_counts_operations_not_inputs() -> None:
    # f = x1 * x2: one node and one flop; its gradient tape (seed, x1, x2 inputs)
    # records the product and the two adjoints g·x2 and x1·g: three of each
    cost = gradient_cost(lambda x1, x2: x1 * x2, 2.0, 3.0)
    assert (cost.f_nodes, cost.f_flops, cost.grad_nodes, cost.grad_flops) == (1, 1, 3, 3)
    assert cost.ratio == 3.0
    with pytest.raises(TypeError, match="gradient_cost requires a function with a scalar "
                                        r"output.*shape \(3,\)"):
        gradient_cost(lambda x: x * 2.0, np.ones(3))


@pytest.mark.parametrize("name", WORKLOADS)
def test_gradient_costs_a_small_constant_times_the_function(name: str) -> None:
    f, args = WORKLOADS[name]
    cost = gradient_cost(f, *args)
    assert 1.0 < cost.ratio <= 5.0, cost


def test_the_ratio_does_not_grow_with_the_number_of_inputs() -> None:
    def f(x):
        return anp.sum(anp.exp(anp.sin(x) * x))
    ratios = [gradient_cost(f, np.ones(n)).ratio for n in (10, 100, 10_000)]
    assert max(ratios) == pytest.approx(min(ratios))


def test_a_primitive_without_a_cost_model_is_named() -> None:
    tape = ad.trace(lambda x: ad.fixed_point(lambda z, x: 0.5 * z + x, x, 0.0), 1.0)
    with pytest.raises(ValueError, match="'fixed_point'.*cost.FLOPS"):
        flops(tape)


def test_replay_makes_the_recorded_calls_and_nothing_else() -> None:
    calls = []

    def scaled(x, *, by):  # a primitive that logs its calls
        calls.append((x, by))
        return x * by
    scale = Primitive("scale", scaled, (lambda t, z, x, *, by: t * by,),
                      (lambda g, z, x, *, by: g * by,))

    def f(x):
        return bind(scale, anp.sin(bind(scale, x, by=2.0)), by=3.0)
    tape = ad.trace(f, 0.5)
    recorded, calls[:] = list(calls), []
    assert replay(tape)() == 3.0 * np.sin(1.0)
    assert calls == recorded == [(0.5, 2.0), (np.sin(1.0), 3.0)]


def test_replay_of_a_gradient_ends_with_its_last_adjoint() -> None:
    x = np.random.default_rng(8).standard_normal(100)  # the same, whatever ran before
    tape = gradient_tape(loop, x)
    assert np.array_equal(replay(tape)(), tape.values[-1])
    np.testing.assert_allclose(tape.values[-1], ad.grad(loop)(x))


def test_peak_memory_sees_a_large_allocation() -> None:
    _, peak = peak_memory(lambda: np.ones(1_000_000).sum())
    assert peak >= 8_000_000
    _, small = peak_memory(lambda: 1.0 + 2.0)
    assert small < 100_000


def test_the_gradients_count_includes_rules_that_read_only_the_seed() -> None:
    # sum(A @ x): the backward sweep's Aᵀ·(seed) reads no traced value but the seed
    a = np.ones((50, 40))
    cost = gradient_cost(lambda x: anp.sum(a @ x), np.ones(40))
    assert cost.ratio == pytest.approx(2.0, rel=0.02)
    assert gradient_cost(lambda x: x[0] * 1.0, np.ones(3)).grad_flops > 1


def test_a_peak_measured_inside_another_leaves_the_outer_one_right() -> None:
    def large_then_measured() -> int:
        np.ones(3_000_000).sum()  # 24 MB, freed before the inner measurement resets
        _, inner = peak_memory(lambda: np.ones(2_000_000).sum())
        return inner
    inner, outer = peak_memory(large_then_measured)
    assert 16_000_000 <= inner < 24_000_000 <= outer


def test_a_peak_inside_a_nested_measurement_reaches_every_enclosing_one() -> None:
    # outer( middle( first(24 MB), second(8 MB) ) ): second resets tracemalloc's
    # peak, so first's 24 MB reach outer only through middle's own record
    def middle() -> tuple[int, int]:
        _, first = peak_memory(lambda: np.ones(3_000_000).sum())
        _, second = peak_memory(lambda: np.ones(1_000_000).sum())
        return first, second
    ((first, second), mid), outer = peak_memory(lambda: peak_memory(middle))
    assert second < 16_000_000 <= 24_000_000 <= first <= mid <= outer


def test_a_peak_counts_only_what_was_allocated_inside_the_measurement() -> None:
    def holding() -> tuple[int, int]:
        big = np.ones(3_000_000)  # 24 MB held while the inner one measures
        _, inner = peak_memory(lambda: np.ones(1_000_000).sum())
        return inner, big.size
    (inner, _), outer = peak_memory(holding)
    assert 8_000_000 <= inner < 16_000_000 and outer >= 32_000_000


def test_peak_memory_stops_tracing_only_if_it_started_it() -> None:
    was_tracing = tracemalloc.is_tracing()  # False unless run under -X tracemalloc
    if was_tracing:
        tracemalloc.stop()
    try:
        peak_memory(lambda: np.ones(10).sum())
        assert not tracemalloc.is_tracing()  # tracing slows every later allocation
        tracemalloc.start()
        peak_memory(lambda: np.ones(10).sum())
        assert tracemalloc.is_tracing()  # the caller's own tracing goes on
    finally:
        if not was_tracing:
            tracemalloc.stop()
