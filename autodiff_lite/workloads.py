"""Workloads that measure the cheap gradient principle, shared by `make bench` and lesson 06.

Each `Workload` holds the same computation three ways: f on plain NumPy (the
baseline), its value and gradient with autodiff_lite, and its value and gradient
written by hand in NumPy (what a careful programmer would write). The ratio
time(value and gradient) / time(f) is the constant of the cheap gradient
principle (Tim Vieira, "Evaluating ∇f(x) is as fast as f(x)", 2016): it should be
a small number, whatever the number of inputs. `time_ratios` measures it with the
three versions interleaved, so a busy machine slows all of them alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import numpy as anp
from .api import value_and_grad

Thunk = Callable[[], Any]


@dataclass(frozen=True)
class Workload:
    """One computation: f on NumPy, and value-and-gradient by autodiff_lite and by hand.

    `fun(*args)` is the traceable f that `grad_autodiff` differentiates (with respect
    to every argument), so `cost.gradient_cost(w.fun, *w.args)` counts the same thing.
    """

    name: str
    f_numpy: Thunk
    grad_autodiff: Thunk
    grad_by_hand: Thunk
    fun: Callable[..., Any]
    args: tuple


def _workload(name: str, f_numpy: Thunk, fun: Callable[..., Any], args: tuple,
              by_hand: Thunk) -> Workload:
    vg = value_and_grad(fun, argnums=tuple(range(len(args))) if len(args) > 1 else 0)
    return Workload(name, f_numpy, lambda: vg(*args), by_hand, fun, args)


def mlp_loss(batch: int = 256, width: int = 512, seed: int = 0) -> Workload:
    """Mean squared error of a 2-layer tanh network, gradient w.r.t. both weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width))
    y = rng.standard_normal((batch, 10))
    w1 = rng.standard_normal((width, width)) / np.sqrt(width)
    w2 = rng.standard_normal((width, 10)) / np.sqrt(width)

    def f_numpy() -> float:
        return float(np.mean((np.tanh(x @ w1) @ w2 - y) ** 2))

    def loss(w1: Any, w2: Any) -> Any:
        return anp.mean((anp.tanh(x @ w1) @ w2 - y) ** 2)

    def by_hand() -> tuple:
        h = np.tanh(x @ w1)
        r = h @ w2 - y
        g_out = 2.0 * r / r.size
        g_h = g_out @ w2.T
        return float(np.mean(r ** 2)), (x.T @ (g_h * (1.0 - h * h)), h.T @ g_out)

    return _workload(f"MLP loss (batch {batch}, width {width})", f_numpy, loss, (w1, w2),
                     by_hand)


def logsumexp(n: int = 10**6, seed: int = 0) -> Workload:
    """log Σ exp(x_i); its gradient is the softmax."""
    x = np.random.default_rng(seed).standard_normal(n)

    def f_numpy() -> float:
        m = x.max()
        return float(m + np.log(np.sum(np.exp(x - m))))

    def by_hand() -> tuple:
        m = x.max()
        e = np.exp(x - m)
        s = e.sum()
        return float(m + np.log(s)), e / s

    return _workload(f"logsumexp of {n:.0e} numbers", f_numpy, anp.logsumexp, (x,), by_hand)


def product(n: int = 10**5, seed: int = 0) -> Workload:
    """Π x_i with one x_i = 0: the gradient must be exact at the zero (no division)."""
    x = np.random.default_rng(seed).uniform(0.5, 1.5, n)
    x[n // 3] = 0.0

    def by_hand() -> tuple:
        prefix = np.cumprod(np.concatenate([[1.0], x[:-1]]))
        suffix = np.cumprod(np.concatenate([[1.0], x[:0:-1]]))[::-1]
        return float(np.prod(x)), prefix * suffix

    return _workload(f"product of {n:.0e} numbers (one zero)", lambda: float(np.prod(x)),
                     anp.prod, (x,), by_hand)


def elementwise_loop(n: int = 10**4, ops: int = 1000, seed: int = 0) -> Workload:
    """`ops` elementwise operations on n numbers: x ← tanh(x)·0.9 + x·0.1, repeated."""
    x0 = np.random.default_rng(seed).standard_normal(n)
    rounds = ops // 4  # tanh, two multiplications and an addition per round

    def f_numpy() -> float:
        x = x0
        for _ in range(rounds):
            x = np.tanh(x) * 0.9 + x * 0.1
        return float(np.sum(x))

    def f(x: Any) -> Any:
        for _ in range(rounds):
            x = anp.tanh(x) * 0.9 + x * 0.1
        return anp.sum(x)

    def by_hand() -> tuple:
        x, saved = x0, []
        for _ in range(rounds):
            t = np.tanh(x)
            saved.append(t)
            x = t * 0.9 + x * 0.1
        g = np.ones(n)
        for t in reversed(saved):
            g = g * (0.9 * (1.0 - t * t) + 0.1)
        return float(np.sum(x)), g

    return _workload(f"{ops} elementwise ops on {n} numbers", f_numpy, f, (x0,), by_hand)


def vectorised(small: bool = False) -> list[Workload]:
    """Issue 7's five workloads; `small` shrinks them for a quick look (lesson 06)."""
    if small:
        return [mlp_loss(64, 128), logsumexp(10**5), product(10**5),
                elementwise_loop(10**4, 200), elementwise_loop(10, 200)]
    return [mlp_loss(), logsumexp(), product(), elementwise_loop(), elementwise_loop(10)]


@dataclass(frozen=True)
class Timing:
    """Median seconds of f, of autodiff_lite's value and gradient, and of the hand-written one."""

    name: str
    f: float
    autodiff: float
    by_hand: float

    @property
    def ratio(self) -> float:
        """time(value and gradient, autodiff_lite) / time(f)."""
        return self.autodiff / self.f

    @property
    def hand_ratio(self) -> float:
        """time(value and gradient, by hand) / time(f)."""
        return self.by_hand / self.f


def median_times(thunks: list[Thunk], repeat: int) -> list[float]:
    """Median wall-clock seconds of each thunk, run interleaved `repeat` times.

    Each timed run comes straight after an untimed run of the same thunk, so the
    memory allocator is in the state that thunk leaves, not its neighbour's: a
    neighbour that frees large arrays makes the allocator hand memory back, and
    the next thunk pays for faulting it in again (timed right after the peers,
    a hand-written logsumexp gradient came out at 0.8 times f alone, which does
    less work).
    """
    samples: list[list[float]] = [[] for _ in thunks]
    for _ in range(repeat):
        for thunk, times in zip(thunks, samples):
            thunk()
            start = time.perf_counter()
            thunk()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in samples]


def time_ratios(workload: Workload, repeat: int = 7) -> Timing:
    """Time f, autodiff_lite's gradient and the hand-written gradient, interleaved."""
    f, ours, hand = median_times(
        [workload.f_numpy, workload.grad_autodiff, workload.grad_by_hand], repeat)
    return Timing(workload.name, f, ours, hand)
