"""The ridge-penalty hypergradient: IFT with CG, closed form, finite differences, unrolling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
from autodiff_lite import hyper
from autodiff_lite.hyper import (hypergradient, make_problem, memory_comparison,
                                 ridge_weights, unrolled_hypergradient)
from autodiff_lite.numerical import central_difference

pytestmark = pytest.mark.lagrangian


def closed_form(problem: hyper.RidgeProblem, lam: float) -> tuple[np.ndarray, float, float]:
    """w*, V and dV/dλ from the normal equations, with NumPy only."""
    X, y, Xv, yv = problem.X_train, problem.y_train, problem.X_val, problem.y_val
    M = X.T @ X + lam * np.eye(X.shape[1])
    w = np.linalg.solve(M, X.T @ y)
    r = Xv @ w - yv
    dw = -np.linalg.solve(M, w)
    return w, float(np.mean(r * r)), float(2.0 * r @ Xv @ dw / len(r))


def validation_of(problem: hyper.RidgeProblem, lam: float) -> float:
    return closed_form(problem, lam)[1]


@given(st.floats(0.01, 20.0), st.integers(0, 50))
def test_hypergradient_matches_closed_form_and_finite_differences(lam: float,
                                                                  seed: int) -> None:
    problem = make_problem(seed=seed)
    w, value, grad = closed_form(problem, lam)
    result = hypergradient(problem, lam)
    np.testing.assert_allclose(result.weights, w, rtol=1e-9, atol=1e-12)
    assert result.value == pytest.approx(value, rel=1e-10)
    assert result.gradient == pytest.approx(grad, rel=1e-7, abs=1e-12)
    h = 1e-5 * max(1.0, lam)
    fd = (validation_of(problem, lam + h) - validation_of(problem, lam - h)) / (2 * h)
    assert result.gradient == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_ridge_weights_are_the_normal_equations_solution() -> None:
    problem = make_problem(n_features=9, seed=4)
    np.testing.assert_allclose(ridge_weights(problem, 0.3), closed_form(problem, 0.3)[0],
                               rtol=1e-10)


def test_the_hessian_is_only_applied_never_formed(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = make_problem(n_features=6)
    calls = []
    real_hvp = hyper.hvp

    def counting_hvp(f, x, v):
        calls.append(np.shape(v))
        return real_hvp(f, x, v)

    monkeypatch.setattr(hyper, "hvp", counting_hvp)
    result = hypergradient(problem, 1.5)
    assert result.gradient == pytest.approx(closed_form(problem, 1.5)[2], rel=1e-8)
    assert calls and all(s == (6,) for s in calls)
    assert len(calls) <= 2 * 2 * 6  # two CG solves of size 6, with slack for round-off


def test_unrolled_gradient_descent_converges_to_the_ift_answer() -> None:
    problem = make_problem()
    lam = 2.0
    exact = closed_form(problem, lam)[2]
    errors = {steps: abs(unrolled_hypergradient(problem, lam, steps).gradient - exact)
              for steps in (5, 40, 400)}
    assert errors[5] > errors[40] > errors[400]
    assert errors[400] < 1e-9 * max(1.0, abs(exact))
    assert hypergradient(problem, lam).gradient == pytest.approx(exact, rel=1e-9)


def descent_validation(problem: hyper.RidgeProblem, lam: float, steps: int,
                       eta: float) -> float:
    """V after `steps` of gradient descent on L from w = 0, with NumPy only."""
    X, y = problem.X_train, problem.y_train
    w = np.zeros(problem.n_features)
    for _ in range(steps):
        w = w - eta * 2.0 * (X.T @ (X @ w - y) + lam * w)
    r = problem.X_val @ w - problem.y_val
    return float(np.mean(r * r))


@pytest.mark.parametrize("eta", [None, 0.002])
def test_unrolled_hypergradient_differentiates_the_descent_it_runs(eta: float | None) -> None:
    # Few steps, far from the optimum: value and derivative are those of the
    # truncated descent (with the given step, or 1 / largest eigenvalue of H).
    problem = make_problem()
    lam, steps = 1.5, 7
    largest = 2.0 * (np.linalg.eigvalsh(problem.X_train.T @ problem.X_train).max() + lam)
    step = 1.0 / largest if eta is None else eta
    out = unrolled_hypergradient(problem, lam, steps, eta)
    assert out.value == pytest.approx(descent_validation(problem, lam, steps, step), rel=1e-12)
    numeric = central_difference(lambda lm: descent_validation(problem, lm, steps, step), lam)
    assert out.gradient == pytest.approx(float(numeric), rel=1e-7)


def test_fixed_point_of_gradient_descent_gives_the_same_hypergradient() -> None:
    """The optimum is the fixed point of one descent step: the IFT by another route."""
    problem = make_problem()
    X, y = problem.X_train, problem.y_train
    lam = 0.8
    eta = hyper.step_size(problem, lam)

    def descent_step(w, lm):
        return w - eta * ad.grad(hyper.training_loss)(w, lm, X, y)

    def outer(lm):
        w = ad.fixed_point(descent_step, lm, np.zeros(problem.n_features))
        return hyper.validation_loss(w, problem.X_val, problem.y_val)

    assert ad.grad(outer)(lam) == pytest.approx(closed_form(problem, lam)[2], rel=1e-7)


def test_memory_unrolling_grows_with_steps_the_ift_does_not() -> None:
    problem = make_problem()
    short = memory_comparison(problem, lam=1.0, steps=50)
    long = memory_comparison(problem, lam=1.0, steps=400)
    exact = closed_form(problem, 1.0)[2]
    assert long.ift_gradient == pytest.approx(exact, rel=1e-9)
    assert long.unrolled_gradient == pytest.approx(exact, rel=1e-7)
    assert long.unrolled_bytes > 4 * short.unrolled_bytes  # 8x the steps
    assert long.ift_bytes < 2 * short.ift_bytes + 4096
    assert long.ratio > 50


def test_training_loss_is_the_ridge_objective() -> None:
    problem = make_problem(seed=7)
    w = np.arange(problem.n_features, dtype=float) / 3.0
    X, y = problem.X_train, problem.y_train
    expected = np.sum((X @ w - y) ** 2) + 0.5 * np.sum(w ** 2)
    assert hyper.training_loss(w, 0.5, X, y) == pytest.approx(expected, rel=1e-13)


def test_problems_split_fresh_rows_and_scale_their_noise() -> None:
    p = make_problem(n_train=12, n_val=5, n_features=3, noise=0.0, seed=2)
    assert p.X_train.shape == (12, 3) and p.X_val.shape == (5, 3) and p.y_val.shape == (5,)
    # validation rows are not training rows
    assert not any(np.array_equal(v, t) for v in p.X_val for t in p.X_train)
    # without noise y = X w_true exactly: one w fits training and validation data
    X = np.vstack([p.X_train, p.X_val])
    y = np.concatenate([p.y_train, p.y_val])
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(X @ w, y, atol=1e-12)
    noisy = make_problem(n_train=12, n_val=5, n_features=3, noise=1.0, seed=2)
    w, *_ = np.linalg.lstsq(noisy.X_train, noisy.y_train, rcond=None)
    assert np.linalg.norm(noisy.X_train @ w - noisy.y_train) > 0.1


def test_the_memory_ratio_of_a_measurement_of_no_bytes_is_finite() -> None:
    # tracemalloc may see no new allocation for the IFT: the ratio divides by 1
    assert hyper.MemoryComparison(10, 0, 5000, 1.0, 1.0).ratio == 5000.0
    assert hyper.MemoryComparison(10, 1, 5000, 1.0, 1.0).ratio == 5000.0
    assert hyper.MemoryComparison(10, 400, 5000, 1.0, 1.0).ratio == 12.5


def test_problems_are_reproducible() -> None:
    a, b = make_problem(seed=3), make_problem(seed=3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.X_train, make_problem(seed=4).X_train)
