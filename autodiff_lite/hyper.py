"""A bilevel problem: tuning the ridge penalty by gradient descent on a validation loss.

The inner problem fits weights on training data for a penalty λ,

    w*(λ) = argmin_w  L(w, λ) = |X w - y|² + λ |w|²,

the outer one scores them on held-out data, V(λ) = mean((X_val w*(λ) - y_val)²).
The hypergradient dV/dλ needs dw*/dλ. Differentiating through the optimiser's
iterations works but must remember every iterate (memory grows with the number
of steps). The implicit function theorem needs only the optimum: ∇_w L(w*, λ) = 0
for every λ, so H dw*/dλ = -∂_λ ∇_w L with H the Hessian of L in w, and

    dV/dλ = -vᵀ ∂_λ ∇_w L(w*, λ)   where   H v = ∇V(w*)

(H is symmetric). The system is solved by conjugate gradient on Hessian-vector
products (`hvp`), so H is never formed. This follows Tim Vieira, "Gradient-based
hyperparameter optimization and the implicit function theorem" (2016). Ridge is
chosen because everything has a closed form to test against:
w* = (XᵀX + λI)⁻¹ Xᵀy and dw*/dλ = -(XᵀX + λI)⁻¹ w*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import numpy as anp
from .api import grad, hvp, jvp, value_and_grad
from .cost import peak_memory
from .implicit import conjugate_gradient


@dataclass(frozen=True)
class RidgeProblem:
    """Training and validation data for the ridge-penalty example."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def make_problem(n_train: int = 40, n_val: int = 40, n_features: int = 6,
                 noise: float = 1.0, seed: int = 0) -> RidgeProblem:
    """Noisy linear data from a seeded generator (same seed, same problem)."""
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(n_features)
    X = rng.standard_normal((n_train + n_val, n_features))
    y = X @ w_true + noise * rng.standard_normal(n_train + n_val)
    return RidgeProblem(X[:n_train], y[:n_train], X[n_train:], y[n_train:])


def training_loss(w: Any, lam: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """L(w, λ) = |X w - y|² + λ |w|²: the inner objective."""
    r = anp.matmul(X, w) - y
    return anp.sum(r * r) + lam * anp.sum(w * w)


def validation_loss(w: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """V = mean squared error of the weights on held-out data: the outer objective."""
    r = anp.matmul(X, w) - y
    return anp.mean(r * r)


def ridge_weights(problem: RidgeProblem, lam: float, tol: float = 1e-12) -> np.ndarray:
    """w*(λ) by one Newton step from 0, its linear system solved by conjugate gradient.

    L is quadratic in w, so w* = -H⁻¹ ∇L(0) exactly; H is only ever applied
    (`hvp`), never built.
    """
    X, y = problem.X_train, problem.y_train
    w0 = np.zeros(problem.n_features)

    def L(w: Any) -> Any:
        return training_loss(w, lam, X, y)

    return conjugate_gradient(lambda v: hvp(L, w0, v), -grad(L)(w0), tol=tol)


@dataclass(frozen=True)
class Hypergradient:
    """The validation loss at w*(λ), its derivative in λ, and w*(λ) (None when unrolled)."""

    value: float
    gradient: float
    weights: np.ndarray | None


def hypergradient(problem: RidgeProblem, lam: float, tol: float = 1e-12) -> Hypergradient:
    """dV/dλ by the implicit function theorem: one CG solve with Hessian-vector products."""
    X, y = problem.X_train, problem.y_train
    w = ridge_weights(problem, lam, tol)
    value, g_val = value_and_grad(validation_loss)(w, problem.X_val, problem.y_val)
    v = conjugate_gradient(lambda u: hvp(lambda ww: training_loss(ww, lam, X, y), w, u),
                           g_val, tol=tol)
    # ∂_λ ∇_w L at w*: forward mode over the gradient in w (a mixed second derivative).
    _, mixed = jvp(lambda lm: grad(training_loss)(w, lm, X, y), (float(lam),), (1.0,))
    return Hypergradient(float(value), -float(np.dot(v, mixed)), w)


def step_size(problem: RidgeProblem, lam: float) -> float:
    """1 / (largest eigenvalue of H = 2(XᵀX + λI)): gradient descent then converges."""
    return 1.0 / (2.0 * (np.linalg.norm(problem.X_train, 2) ** 2 + lam))


def unrolled_validation_loss(problem: RidgeProblem, lam: Any, steps: int,
                             eta: float) -> Any:
    """V after `steps` of gradient descent (step eta) from w = 0: a program to unroll."""
    X, y = problem.X_train, problem.y_train
    w: Any = np.zeros(problem.n_features)
    for _ in range(steps):
        w = w - eta * grad(training_loss)(w, lam, X, y)
    return validation_loss(w, problem.X_val, problem.y_val)


def unrolled_hypergradient(problem: RidgeProblem, lam: float, steps: int,
                           eta: float | None = None) -> Hypergradient:
    """dV/dλ by reverse mode through every gradient-descent step (memory grows with steps)."""
    eta = step_size(problem, lam) if eta is None else eta
    value, g = value_and_grad(
        lambda lm: unrolled_validation_loss(problem, lm, steps, eta))(float(lam))
    return Hypergradient(float(value), float(g), None)


@dataclass(frozen=True)
class MemoryComparison:
    """Peak memory (bytes) of the two hypergradients, and the answers they gave."""

    steps: int
    ift_bytes: int
    unrolled_bytes: int
    ift_gradient: float
    unrolled_gradient: float

    @property
    def ratio(self) -> float:
        """How many times more memory unrolling needed."""
        return self.unrolled_bytes / max(self.ift_bytes, 1)


def memory_comparison(problem: RidgeProblem | None = None, lam: float = 1.0,
                      steps: int = 200) -> MemoryComparison:
    """Measure the peak memory of the IFT hypergradient and of the unrolled one."""
    problem = make_problem() if problem is None else problem
    ift, ift_bytes = peak_memory(lambda: hypergradient(problem, lam))
    unrolled, unrolled_bytes = peak_memory(
        lambda: unrolled_hypergradient(problem, lam, steps))
    return MemoryComparison(steps, ift_bytes, unrolled_bytes, ift.gradient,
                            unrolled.gradient)
