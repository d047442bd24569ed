"""fixed_point and its implicit-function-theorem rules; conjugate gradient.

Expected derivatives come from closed forms (implicit differentiation by hand,
(I - W)⁻¹ for a linear contraction) and from finite differences of the solution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import implicit, lagrangian
from autodiff_lite.cost import peak_memory
from autodiff_lite.implicit import (FixedPointError, ImplicitFunctionError,
                                    conjugate_gradient, fixed_point, iterate)
from autodiff_lite.numerical import central_difference

pytestmark = pytest.mark.lagrangian


def kepler(z, x):
    """z = x cos z: a contraction for 0 < x < 1."""
    return x * anp.cos(z)


def z_star(x: float) -> float:
    return fixed_point(kepler, x, 0.0)


def dz_closed(x: float) -> float:
    """dz/dx from z - x cos z = 0: (1 + x sin z) dz = cos z dx."""
    z = z_star(x)
    return math.cos(z) / (1.0 + x * math.sin(z))


@given(st.floats(0.05, 0.95))
def test_scalar_fixed_point_derivative_in_every_mode(x: float) -> None:
    z = z_star(x)
    assert type(z) is float
    assert z == pytest.approx(x * math.cos(z), abs=1e-11)
    expected = dz_closed(x)
    assert ad.grad(z_star)(x) == pytest.approx(expected, rel=1e-9)
    assert ad.derivative(z_star)(x) == pytest.approx(expected, rel=1e-9)
    _, pullback = ad.vjp(z_star, x)
    assert pullback(2.0)[0] == pytest.approx(2.0 * expected, rel=1e-9)
    assert float(central_difference(z_star, x)) == pytest.approx(expected, rel=1e-6)


def test_second_derivative_by_the_theorem_applied_twice() -> None:
    x = 0.6
    expected = float(central_difference(dz_closed, x))
    assert ad.grad(ad.grad(z_star))(x) == pytest.approx(expected, rel=1e-6)
    assert ad.derivative(ad.grad(z_star))(x) == pytest.approx(expected, rel=1e-6)
    assert ad.derivative(ad.derivative(z_star))(x) == pytest.approx(expected, rel=1e-6)


def _contraction(n: int = 4, radius: float = 0.6, seed: int = 0) -> np.ndarray:
    W = np.random.default_rng(seed).standard_normal((n, n))
    return W * radius / np.max(np.abs(np.linalg.eigvals(W)))


def test_linear_contraction_matches_its_closed_form() -> None:
    W = _contraction()
    x = np.random.default_rng(1).standard_normal(4)

    def solution(x):
        return fixed_point(lambda z, x: anp.matmul(W, z) + x, x, np.zeros(4))

    inv = np.linalg.inv(np.eye(4) - W)
    np.testing.assert_allclose(solution(x), inv @ x, rtol=1e-10)
    np.testing.assert_allclose(ad.jacfwd(solution)(x), inv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ad.jacrev(solution)(x), inv, rtol=1e-9, atol=1e-12)


def test_several_parameters_passed_as_a_tuple() -> None:
    def F(z, p):
        a, b = p
        return a * anp.tanh(z) + b

    def f(a, b):
        return anp.sum(fixed_point(F, (a, b), np.zeros(3)) ** 2)

    a, b = 0.5, np.array([0.2, -0.7, 1.1])
    ad.check_grads(f, (a, b), order=2, atol=1e-6, rtol=1e-5)
    ga, gb = ad.grad(f, argnums=(0, 1))(a, b)
    assert type(ga) is float and gb.shape == (3,)


def test_cyclic_linear_constraints_solved_the_same_way() -> None:
    """Seed 000's g(z) = 0 with cycles: fixed_point and the general solve agree."""
    W = _contraction(5, 0.5, seed=2)
    C = np.random.default_rng(3).standard_normal((5, 2))
    x = np.array([0.4, -1.2])

    def out(x):
        return fixed_point(lambda z, x: anp.matmul(W, z) + anp.matmul(C, x), x,
                           np.zeros(5))[2]

    z = np.linalg.solve(np.eye(5) - W, C @ x)
    cyc = lagrangian.cyclic_adjoints(
        lambda z, x: z - anp.matmul(W, z) - anp.matmul(C, x), z, x, output=2)
    expected = np.linalg.inv(np.eye(5) - W)[2] @ C
    np.testing.assert_allclose(cyc.gradient, expected, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(out)(x), expected, rtol=1e-9)


def test_the_loop_is_one_primitive_of_the_rule_table() -> None:
    assert ad.RULES["fixed_point"] is implicit.FIXED_POINT
    tape = ad.trace(lambda x: fixed_point(kepler, x, 0.0) * 2.0, 0.5)
    assert [n.op for n in tape.nodes] == ["input", "fixed_point", "multiply"]


def test_memory_does_not_grow_with_the_iterations() -> None:
    # A nonlinear step, so that unrolling must keep every iterate for the
    # backward pass (tanh's VJP reads its output); a linear one would not.
    n = 2000
    x = np.linspace(-1.0, 1.0, n)

    def step(c: float):
        return lambda z, x: c * anp.tanh(z) + x

    def implicit_loss(c: float):
        return lambda x: anp.sum(fixed_point(step(c), x, np.zeros(n)))

    def unrolled_loss(c: float, steps: int):
        def loss(x):
            z = np.zeros(n)
            for _ in range(steps):
                z = step(c)(z, x)
            return anp.sum(z)
        return loss

    fast, slow = 0.5, 0.97
    solutions = {c: iterate(step(c), x, np.zeros(n)) for c in (fast, slow)}
    steps = {c: s.iterations for c, s in solutions.items()}
    assert steps[slow] > 10 * steps[fast]
    grads = {}
    peaks = {}
    for c in (fast, slow):
        grads[c], peaks[c] = peak_memory(lambda: ad.grad(implicit_loss(c))(x))
        z = solutions[c].z  # dz/dx = 1 / (1 - c tanh'(z)), entry by entry
        np.testing.assert_allclose(grads[c], 1.0 / (1.0 - c * (1.0 - np.tanh(z) ** 2)),
                                   rtol=1e-8)
    unrolled_grad, unrolled_peak = peak_memory(
        lambda: ad.grad(unrolled_loss(slow, steps[slow]))(x))
    np.testing.assert_allclose(unrolled_grad, grads[slow], rtol=1e-8)
    array_bytes = 8 * n
    assert peaks[slow] < peaks[fast] + 20 * array_bytes  # a few arrays, not one per step
    assert unrolled_peak > steps[slow] * array_bytes     # at least one array per step
    assert unrolled_peak > 10 * peaks[slow]


# -------------------------------------------------------------------- errors

def test_the_stopping_test_is_relative_to_max_of_1_and_z() -> None:
    # z <- z/2 + x from z0 = 0: z_k = 2x(1 - 2^-k) and |F(z) - z| = 2x·2^-k, so
    # |change| <= tol·max(1, |z|) first holds at k = ⌈log2(1 + 1/tol)⌉ = 10 for
    # tol = 1e-3 when x is large (relative), and for x = 0 from z0 = 1, where
    # z_k = |change| = 2^-k, at k = ⌈log2(1/tol)⌉ = 10 (absolute near 0).
    big = iterate(lambda z, x: 0.5 * z + x, 1e6, 0.0, tol=1e-3)
    assert big.iterations == 10 and big.z == pytest.approx(2e6, rel=1e-3)
    small = iterate(lambda z, x: 0.5 * z + x, 0.0, 1.0, tol=1e-3)
    assert small.iterations == 10 and small.z == 2.0 ** -10
    with pytest.raises(FixedPointError) as err:  # no iteration allowed: no residual yet
        iterate(lambda z, x: 0.5 * z, None, 1.0, max_iter=0)
    assert err.value.iterations == 0 and err.value.residual == math.inf


def test_a_scalar_fixed_point_is_a_float_and_z0_is_not_differentiated() -> None:
    # F on NumPy scalars still gives a float (as every scalar result does)
    assert type(fixed_point(lambda z, x: np.cos(z) * x, 0.5, 0.0)) is float
    # a z0 computed from x only decides where the iteration starts
    assert ad.grad(lambda x: fixed_point(kepler, x, x))(0.5) == pytest.approx(
        dz_closed(0.5), rel=1e-9)


def test_non_convergence_reports_iterations_and_residual() -> None:
    with pytest.raises(FixedPointError, match=r"did not converge in 30 iterations.*"
                                              r"residual") as err:
        fixed_point(lambda z, x: 0.999 * z + x, 1.0, 0.0, max_iter=30)
    assert err.value.iterations == 30
    assert err.value.residual == pytest.approx(0.999 ** 29, rel=1e-6)
    with pytest.raises(FixedPointError, match="diverged"):
        fixed_point(lambda z, x: z * z + x, 3.0, 1.0)


def test_singular_jacobian_means_the_theorem_does_not_apply(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def F(z, x):  # z* = x is a double root of (z - x)² = 0: I - ∂F/∂z = 0 there
        return z + (z - x) ** 2

    def f(x):
        return fixed_point(F, x, 2.0)

    assert f(2.0) == 2.0
    with pytest.raises(ImplicitFunctionError, match="singular.*implicit function theorem"):
        ad.grad(f)(2.0)
    with pytest.raises(ImplicitFunctionError, match="singular"):
        ad.derivative(f)(2.0)
    # without the explicit check, the adjoint's linear iteration cannot converge
    monkeypatch.setattr(implicit, "SINGULARITY_CHECK_LIMIT", 0)
    with pytest.raises(ImplicitFunctionError, match="did not converge.*eigenvalue"):
        ad.grad(lambda x: fixed_point(F, x, 2.0, max_iter=200))(2.0)


def test_ill_conditioned_but_invertible_system_is_solved() -> None:
    # I - ∂F/∂z = [[1, -1e4], [0, 0.5]]: determinant 0.5, condition number ~1e8
    def F(z, x):
        return anp.stack([1e4 * z[1] + x[0], 0.5 * z[1] + x[1]])
    g = ad.grad(lambda x: fixed_point(F, x, np.zeros(2))[0])(np.ones(2))
    np.testing.assert_allclose(g, [1.0, 2e4], rtol=1e-9)  # z0* = x0 + 1e4 x1 / 0.5


@pytest.mark.parametrize("scale", [1e-13, 1e-11, 1.0, 1e6])
def test_implicit_gradients_are_relative_to_their_size(scale: float) -> None:
    # dz*/dx = 10 for z = 0.9 z + x; a small cotangent stopped the adjoint solve early
    def f(x):
        return scale * fixed_point(lambda z, x: 0.9 * z + x, x, 0.0)
    assert ad.grad(f)(1.0) == pytest.approx(10.0 * scale, rel=1e-9)
    assert ad.derivative(f)(1.0) == pytest.approx(10.0 * scale, rel=1e-9)
    # a small tangent into the solve (derivative's is 1, scaled only afterwards)
    tangent = ad.jvp(lambda x: fixed_point(lambda z, x: 0.9 * z + x, x, 0.0), (1.0,),
                     (scale,))[1]
    assert tangent == pytest.approx(10.0 * scale, rel=1e-9)
    A = np.array([[0.5, 0.4], [0.0, 0.5]])
    u = scale * np.array([1.0, 0.0])
    g = ad.grad(lambda x: anp.sum(u * fixed_point(lambda z, x: A @ z + x, x, np.zeros(2))))(
        np.ones(2))
    np.testing.assert_allclose(g, np.linalg.solve((np.eye(2) - A).T, u), rtol=1e-9)


def test_shape_and_usage_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        fixed_point(lambda z, x: anp.sum(z) + x, 1.0, np.zeros(3))
    with pytest.raises(TypeError, match="F must be a function"):
        fixed_point(3.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="tol > 0"):
        fixed_point(kepler, 0.5, 0.0, tol=0.0)

    def closes_over(a):
        return fixed_point(lambda z, x: a * anp.cos(z) + x, 0.1, 0.0)

    with pytest.raises(TypeError, match="pass.*through x"):
        ad.grad(closes_over)(0.5)


# ------------------------------------------------------- conjugate gradient

def _spd(n: int, seed: int) -> np.ndarray:
    M = np.random.default_rng(seed).standard_normal((n, n))
    return M @ M.T + n * np.eye(n)


@given(st.integers(1, 12), st.integers(0, 1000))
def test_conjugate_gradient_solves_spd_systems(n: int, seed: int) -> None:
    H = _spd(n, seed)
    b = np.random.default_rng(seed + 1).standard_normal(n)
    calls = []

    def matvec(v):
        calls.append(1)
        return H @ v

    v = conjugate_gradient(matvec, b, tol=1e-12)
    np.testing.assert_allclose(v, np.linalg.solve(H, b), rtol=1e-9, atol=1e-12)
    assert len(calls) <= 2 * n  # n in exact arithmetic, a little slack for round-off


def test_conjugate_gradient_with_hessian_vector_products() -> None:
    def f(w):
        return anp.sum(anp.exp(w)) + anp.sum(w * w) * 0.5

    w = np.array([0.1, -0.3, 0.8])
    b = np.array([1.0, 2.0, -1.0])
    H = np.diag(np.exp(w) + 1.0)  # closed form of f's Hessian
    v = conjugate_gradient(lambda u: ad.hvp(f, w, u), b)
    np.testing.assert_allclose(v, np.linalg.solve(H, b), rtol=1e-9)


def test_conjugate_gradient_may_take_more_than_n_steps_in_floating_point() -> None:
    # A Hilbert matrix (condition number 1.5e7 at n = 6) needs more than n steps in
    # floating point; the default max_iter (10 n) leaves room for them.
    n = 6
    H = 1.0 / (np.arange(n)[:, None] + np.arange(n)[None, :] + 1.0)
    b = np.ones(n)
    calls = []

    def matvec(v):
        calls.append(1)
        return H @ v

    v = conjugate_gradient(matvec, b)
    assert len(calls) > n
    np.testing.assert_allclose(v, np.linalg.solve(H, b), rtol=1e-6)


def test_conjugate_gradient_errors() -> None:
    np.testing.assert_array_equal(conjugate_gradient(lambda v: v, np.zeros(3)), 0.0)
    with pytest.raises(ValueError, match="not positive definite"):
        conjugate_gradient(lambda v: -v, np.ones(3))
    with pytest.raises(ValueError, match="not positive definite"):  # pᵀHp = 0: singular
        conjugate_gradient(lambda v: 0.0 * v, np.ones(3))
    with pytest.raises(ValueError, match="matvec returned shape"):
        conjugate_gradient(lambda v: v[:2], np.ones(3))
    H = _spd(10, 0)
    with pytest.raises(FixedPointError, match="did not converge in 1 iterations"):
        conjugate_gradient(lambda v: H @ v, np.ones(10), max_iter=1)
