"""Checks for backprop as a linear solve (ps3): A and b, back-substitution, the IFT."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import lagrangian
from autodiff_lite.implicit import fixed_point as ref_fixed_point

from .. import problems
from ..compare import assert_close, describe
from ..sandbox import call_student, module_dir, trusted
from ..wengert import _wengert_list
from ._common import check, items, num, rng

# Ready-made solvers would skip the point of the exercise.
SOLVERS = ((module_dir(np.linalg), "numpy.linalg"), (module_dir(scipy.linalg), "scipy.linalg"),
           (module_dir(scipy.sparse.linalg), "scipy.sparse.linalg"))


def _net(m: Any, w1: Any, w2: Any, x: Any, y: Any) -> Any:
    r = w2 * m.tanh(w1 * x) - y
    return r * r


# Scalar programs: name, function of (m, *args), number of arguments.
PROGRAMS = (
    ("Liu's f(x1, x2) = ln x1 + x1 x2 - sin x2", problems.seed004_f, 2),
    ("Vieira's f(x) = exp(exp x + exp(x)^2) + sin(exp x + exp(x)^2)", problems.seed000_f, 1),
    ("the loss (w2 tanh(w1 x) - y)^2 of a tiny network", _net, 4),
)


def _programs(seed: int) -> list[tuple[str, Any, list[float], Any]]:
    r = rng(seed)
    out = []
    for name, fn, n in PROGRAMS:
        args = [float(v) for v in r.uniform(0.5, 2.0, size=n)]
        if fn is problems.seed000_f:
            args = [float(r.uniform(-1.5, 0.0))]
        out.append((name, fn, args, ad.trace(lambda *a, fn=fn: fn(anp, *a), *args)))
    return out


@check
def check_assemble(assemble: Any, seed: int) -> str:
    """`assemble(nodes)` must return (A, b) in the convention of *Differentiable
    Computations*: A[i,i] = -1, A[i,k] = ∂f_k/∂z_i."""
    for name, fn, args, tape in _programs(seed):
        nodes = _wengert_list(lambda *a, fn=fn: fn(anp, *a), *args)
        A_ref, b_ref = lagrangian.system(tape, sparse=False)
        shown = f"{name} at {num(np.array(args))}"
        got = call_student(assemble, nodes, name="assemble", task="the Lagrangian system",
                           shown=shown)
        got = items(got, 2, f"assemble on {shown}", "a pair (A, b)")
        assert_close(got[0], A_ref, f"A for {shown} (row i = variable, column k = "
                     "constraint)")
        assert_close(got[1], b_ref, f"b for {shown}")
    return "assemble builds A and b with A[i,i] = -1 and A[i,k] = ∂f_k/∂z_i"


def _upper_triangular(r: np.random.Generator, n: int) -> np.ndarray:
    # Diagonals other than ±1, so that multiplying by A[i, i] instead of dividing
    # (or ignoring it) fails; the tapes' systems have -1 there.
    A = np.triu(r.normal(size=(n, n)) * (r.random((n, n)) < 0.5), 1)
    A[np.diag_indices(n)] = r.uniform(0.5, 2.0, n) * r.choice([-1.0, 1.0], n)
    return A


@check
def check_back_substitute(back_substitute: Any, seed: int) -> str:
    """`back_substitute(A, b)` must solve upper-triangular systems, equal backprop on tapes."""
    r = rng(seed)
    for n in (1, 4, 9):
        A = _upper_triangular(r, n)
        b = r.normal(size=n)
        expected = scipy.linalg.solve_triangular(A, b)
        got = call_student(back_substitute, A.copy(), b.copy(), name="back_substitute",
                           task="back-substitution", forbidden=SOLVERS,
                           shown=f"a random {n}x{n} upper-triangular system")
        assert_close(got, expected, f"the solution of a random {n}x{n} upper-triangular "
                     "system", rtol=1e-8)
    for name, _fn, args, tape in _programs(seed):
        A, b = lagrangian.system(tape, sparse=False)
        shown = f"the system of {name} at {num(np.array(args))}"
        got = call_student(back_substitute, A.copy(), b.copy(), name="back_substitute",
                           task="back-substitution", forbidden=SOLVERS, shown=shown)
        assert_close(got, np.array(tape.backward(1.0), dtype=float),
                     f"λ for {shown}, which must equal the adjoints from backprop")
    return "back_substitute solves triangular systems; on a tape λ equals the adjoints"


@check
def check_lagrange_gradient(lagrange_gradient: Any, seed: int) -> str:
    """`lagrange_gradient(f, *args)` must be ∇f, read off the multipliers of the inputs."""
    for name, fn, args, _tape in _programs(seed):
        f = trusted(lambda *a, fn=fn: fn(anp, *a))
        expected = ad.grad(lambda *a, fn=fn: fn(anp, *a), argnums=tuple(range(len(args))))(*args)
        shown = f"{name} at {num(np.array(args))}"
        got = call_student(lagrange_gradient, f, *args, name="lagrange_gradient",
                           task="the gradient from the Lagrange multipliers",
                           forbidden=SOLVERS, shown=shown)
        assert_close(got, np.array(expected), f"the gradient of {shown}")
    return "the multipliers of the inputs are the gradient"


def _contraction(r: np.random.Generator, n: int, norm: float = 0.6) -> np.ndarray:
    W = r.normal(size=(n, n))
    return norm * W / np.linalg.norm(W, 2)  # |∂F/∂z| < 1: the iteration converges


def _fixed_point_problem(seed: int) -> tuple[np.ndarray, Any, Any, str]:
    """x, and F(z, x) = tanh(W z + V x) in NumPy and traced, with z of 2 entries
    and x of 4 (so that no answer can mix up their sizes), and how to show F."""
    r = rng(seed)
    W, V, x = _contraction(r, 2), r.normal(size=(2, 4)), r.normal(size=4)

    def F_np(z: Any, x: Any) -> Any:
        return np.tanh(W @ z + V @ x)

    def F_ad(z: Any, x: Any) -> Any:
        return anp.tanh(anp.matmul(W, z) + anp.matmul(V, x))

    return x, F_np, F_ad, f"F(z, x) = tanh(W z + V x) (z of 2 entries), x = {num(x)}"


class _Runaway(BaseException):
    """Raised by F when fixed_point has called it far beyond its 10 000 iterations."""


# Calls of F after which fixed_point has gone past its 10 000 iterations, whatever
# it does per iteration (one call, or one for the test and one for the step).
RUNAWAY_CALLS = 40_000
_RUNAWAY_SHOWN = f"{RUNAWAY_CALLS:,}".replace(",", " ")


def _outcome(fixed_point: Any, F: Any, x: Any, z0: Any) -> tuple[str, Any]:
    """What fixed_point does with F: ("returned", z), ("raised", error) or
    ("runaway", None) when it calls F RUNAWAY_CALLS times without giving up."""
    calls = 0

    def counted(z: Any, x: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > RUNAWAY_CALLS:
            raise _Runaway
        return F(z, x)

    try:
        return "returned", fixed_point(counted, x, z0)
    except _Runaway:
        return "runaway", None
    except Exception as err:  # giving up with an error is what is asked
        return "raised", err


def _what_came_back(got: Any) -> str:
    """A returned value for a message: numbers shown, anything else named."""
    if got is None:
        return "None"
    try:
        return num(np.asarray(got, dtype=float))
    except (TypeError, ValueError):
        return describe(got)


@check
def check_fixed_point(fixed_point: Any, seed: int) -> str:
    """`fixed_point(F, x, z0)` must return z* = F(z*, x) to about 1e-10, start from
    z0 (which decides the fixed point when there are several), keep going while F
    contracts slowly, and give up with an error when there is no fixed point."""
    def run(F: Any, x: Any, z0: Any, shown: str) -> tuple[str, Any]:
        return call_student(lambda: _outcome(fixed_point, F, x.copy(), z0.copy()),
                            name="fixed_point", task="the fixed-point iteration",
                            shown=shown)

    def converges(F: Any, x: Any, z0: Any, shown: str, expected: Any) -> None:
        kind, got = run(F, x, z0, shown)
        if kind != "returned":
            raise AssertionError(f"fixed_point on {shown} did not return a fixed point: "
                                 + (f"it called F {_RUNAWAY_SHOWN} times" if kind == "runaway" else
                                    f"it raised {type(got).__name__}: {got}"))
        if isinstance(got, tuple):
            raise AssertionError(f"fixed_point on {shown} returned a tuple of {len(got)}; "
                                 "return z* alone (an array like z0)")
        assert_close(got, expected, f"the fixed point z* of {shown}", rtol=1e-8, atol=1e-10)

    x, F_np, F_ad, shown = _fixed_point_problem(seed)
    z0 = np.full(2, 0.5)
    converges(F_np, x, z0, f"{shown}, z0 = {num(z0)}", ref_fixed_point(F_ad, x, z0))
    # Two stable fixed points per entry, near ±1.9: z0 picks one (from 0, x picks).
    small = 0.1 * rng(seed).choice([-1.0, 1.0], size=3)
    z0 = -np.sign(small)
    converges(lambda z, x: 2.0 * np.tanh(z) + x, small, z0,
              f"F(z, x) = 2 tanh(z) + x, x = {num(small)}, z0 = {num(z0)} (two stable "
              "fixed points per entry: start from z0)",
              ref_fixed_point(lambda z, x: 2.0 * anp.tanh(z) + x, small, z0))
    # A slow contraction: some 2800 iterations, so a loop of a fixed few hundred fails.
    converges(lambda z, x: 0.99 * z + x, x, np.zeros_like(x),
              f"F(z, x) = 0.99 z + x, x = {num(x)}", x / 0.01)
    kind, got = run(lambda z, x: z + 1.0, x, np.zeros_like(x), "F(z, x) = z + 1")
    if kind != "raised":
        raise AssertionError(
            "fixed_point on F(z, x) = z + 1, which has no fixed point, "
            + (f"returned {_what_came_back(got)}" if kind == "returned" else
               f"was still calling F after {_RUNAWAY_SHOWN} calls")
            + ": it must give up with an error (raise) after 10 000 iterations, not "
              "return a value")
    return ("fixed_point finds z* = F(z*, x) from z0, also when F contracts slowly, "
            "and gives up when there is none")


@check
def check_implicit_jacobian(implicit_jacobian: Any, seed: int) -> str:
    """dz*/dx by the implicit function theorem: (I - ∂F/∂z)⁻¹ ∂F/∂x at z*."""
    x, _, F_ad, shown = _fixed_point_problem(seed)
    z0 = np.zeros(2)
    z_star = ref_fixed_point(F_ad, x, z0)
    expected = ad.jacfwd(lambda t: ref_fixed_point(F_ad, t, z0))(x)
    # named as the statement names them: a student may call F_z(z=..., x=...)
    F_z = trusted(lambda z, x: ad.jacfwd(lambda s: F_ad(s, x))(np.asarray(z, float)))
    F_x = trusted(lambda z, x: ad.jacfwd(lambda s: F_ad(z, s))(np.asarray(x, float)))
    # Where tanh saturates, ∂F/∂z is small and a few terms of I + A + A² + ...
    # pass for (I - A)⁻¹; a linear F with |∂F/∂z| = 0.95 needs the real inverse.
    r = rng(seed)
    A = _contraction(r, 2, norm=0.95)
    B = r.normal(size=(2, 4))
    cases = [(F_z, F_x, z_star, expected, shown),
             (trusted(lambda z, x: A.copy()), trusted(lambda z, x: B.copy()),
              np.linalg.solve(np.eye(2) - A, B @ x), np.linalg.solve(np.eye(2) - A, B),
              f"F(z, x) = A z + B x with A = {num(A)}, B = {num(B)} (|∂F/∂z| = 0.95)")]
    for jz, jx, z, want, where in cases:
        got = call_student(implicit_jacobian, jz, jx, z.copy(), x.copy(),
                           name="implicit_jacobian", task="implicit differentiation",
                           shown=where)
        assert_close(got, want, f"dz*/dx for {where} (shape: z × x, 2 × 4)", rtol=1e-7,
                     atol=1e-9)
    return "implicit_jacobian gives dz*/dx without unrolling the iteration"
