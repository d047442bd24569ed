"""The benchmark workloads compute the same gradients three ways (no timing asserted)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autodiff_lite import workloads
from autodiff_lite.cost import gradient_cost

pytestmark = pytest.mark.library


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("workload", workloads.vectorised(small=True), ids=lambda w: w.name)
def test_autodiff_and_hand_written_gradients_agree(workload) -> None:
    value, grads = workload.grad_autodiff()
    hand_value, hand_grads = workload.grad_by_hand()
    assert value == pytest.approx(workload.f_numpy(), rel=1e-12)
    assert hand_value == pytest.approx(value, rel=1e-12)
    for ours, hand in zip(_as_tuple(grads), _as_tuple(hand_grads), strict=True):
        np.testing.assert_allclose(ours, hand, rtol=1e-9, atol=1e-12)


def test_product_gradient_is_exact_at_its_zero() -> None:
    _, g = workloads.product(10).grad_autodiff()
    zero = 10 // 3
    assert np.count_nonzero(g) == 1 and g[zero] != 0.0


def test_median_times_runs_each_thunk_interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that each thunk moves on by a known amount: "a" takes 1, 5, 2 ticks
    # when timed (and 9 in the untimed run before each), "b" always 3 (and 9).
    clock = [0.0]
    monkeypatch.setattr(workloads.time, "perf_counter", lambda: clock[0])
    ticks = {"a": iter([9.0, 1.0, 9.0, 5.0, 9.0, 2.0]), "b": iter([9.0, 3.0] * 3)}
    calls: list[str] = []

    def thunk(name: str) -> Any:
        def run() -> None:
            calls.append(name)
            clock[0] += next(ticks[name])
        return run
    times = workloads.median_times([thunk("a"), thunk("b")], 3)
    # each timed run straight after an untimed one of the same thunk, interleaved
    assert calls == ["a", "a", "b", "b"] * 3
    assert times == [2.0, 3.0]  # medians of the timed runs, the untimed ones left out


@pytest.mark.parametrize("workload", workloads.vectorised(small=True), ids=lambda w: w.name)
def test_fun_and_args_describe_the_differentiated_function(workload) -> None:
    assert workload.fun(*workload.args) == pytest.approx(workload.f_numpy(), rel=1e-12)
    assert gradient_cost(workload.fun, *workload.args).ratio <= 5.0
